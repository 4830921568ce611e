"""Running a generated MCU library before flashing it: build it for a board with its Makefile (the host, or a
Cortex-M4 image for qemu's mps2-an386), run the harness on every sample and collect the outputs in the samples
format of ``qcompiler run``. Also counts the instructions one inference executes under qemu."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.samples import iter_samples, read_arrays, validate_samples
from qcompiler.types import QuantParams, TensorType

#: Boards ``emulate`` runs on.
BOARDS = ("host", "mps2-an386", "hexagon-v67")
#: Tools each board needs, with the Debian package that has them.
TOOLS = {"host": (("make", "make"), ("cc", "gcc")),
         "mps2-an386": (("make", "make"), ("arm-none-eabi-gcc", "gcc-arm-none-eabi"),
                        ("qemu-system-arm", "qemu-system-arm")),
         "hexagon-v67": (("make", "make"), ("clang", "clang"), ("ld.lld", "lld"), ("qemu-hexagon", "qemu-user"))}
#: Make target and program of each board's build (a Hexagon library builds with its own Makefile).
BOARD_BUILDS = {"host": ("host", "{name}_host"), "mps2-an386": ("cm4", "{name}_cm4.elf"),
                "hexagon-v67": ("hexagon", "{name}_hexagon.elf")}
#: How each board runs a program (the Hexagon image runs under qemu-hexagon user mode).
HEXAGON_COMMAND = ("qemu-hexagon", "-cpu", "v67")
#: Compiler flags of the sanitized host build.
SANITIZE_FLAGS = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
QEMU_COMMAND = ("qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting", "-monitor", "none",
                "-serial", "none", "-kernel")

SamplesSource = Union[str, os.PathLike, Mapping[str, np.ndarray]]


class EmulationError(QCompilerError):
    """A library that does not build or run, or a missing tool."""


def missing_tools(board: str) -> list[str]:
    """The tools ``board`` needs that are not on PATH, each with its Debian package."""
    return [f"{tool} (apt-get install {package})" for tool, package in TOOLS[board] if shutil.which(tool) is None]


def read_interface(folder: Union[str, os.PathLike]) -> dict:
    """The library's interface (name, inputs, outputs) from its interface.json."""
    path = Path(folder) / "interface.json"
    if not path.is_file():
        raise EmulationError(f"{folder} is not a generated MCU library (no interface.json); "
                             "run qcompiler compile --target mcu first")
    return json.loads(path.read_text())


def interface_graph(interface: dict) -> Graph:
    """A graph with the library's inputs (names, shapes, element types), for validating samples."""
    graph = Graph(interface["name"])
    for entry in interface["inputs"]:
        quant = None if entry["scale"] is None else QuantParams.per_tensor(entry["element"], entry["scale"],
                                                                           entry["zero_point"])
        graph.add_input(entry["name"], TensorType(tuple(entry["shape"]), entry["element"], quant))
    return graph


def _run(command: list[str], cwd: Union[str, Path], what: str, timeout: float) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EmulationError(f"{what} did not finish within {timeout:.0f} s") from None
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())[-400:]
        raise EmulationError(f"{what} failed (exit {result.returncode}): {detail}")
    return result


def build(folder: Union[str, os.PathLike], board: str, build_dir: Union[str, os.PathLike], *,
          sanitize: bool = False, timeout: float = 300.0) -> Path:
    """Build the harness of the library in ``folder`` for ``board`` into ``build_dir``; return the program."""
    if board not in BOARDS:
        raise EmulationError(f"unknown board '{board}' (choose from {', '.join(BOARDS)})")
    missing = missing_tools(board)
    if missing:
        raise EmulationError(f"board {board} needs {', '.join(missing)}")
    name = read_interface(folder)["name"]
    build_dir = Path(build_dir).resolve()
    target, program = BOARD_BUILDS[board]
    command = ["make", "-s", "-C", str(Path(folder).resolve()), f"BUILD={build_dir}", target]
    if sanitize:
        if board != "host":
            raise EmulationError("sanitizers run on the host board only")
        command.append(f"EXTRA_CFLAGS={SANITIZE_FLAGS}")
    _run(command, folder, f"building {name} for {board}", timeout)
    return build_dir / target / program.format(name=name)


def run_program(program: Path, board: str, workdir: Path, timeout: float, extra: tuple[str, ...] = ()) -> str:
    """Run a built harness in ``workdir`` (where qc_inputs.bin is); return its standard output."""
    if board == "hexagon-v67":
        command = list(HEXAGON_COMMAND) + [str(program)] + list(extra)
    else:
        command = [str(program)] if board == "host" else list(QEMU_COMMAND) + [str(program)] + list(extra)
    return _run(command, workdir, f"running {program.name} on {board}", timeout).stdout


def pack_samples(interface: dict, samples: Mapping[str, np.ndarray]) -> tuple[bytes, int]:
    """The harness's input file for validated samples: every input's bytes, sample after sample."""
    graph = interface_graph(interface)
    chunks = []
    count = 0
    for feed in iter_samples(samples, graph):
        for entry in interface["inputs"]:
            chunks.append(np.ascontiguousarray(feed[entry["name"]]).tobytes())
        count += 1
    return b"".join(chunks), count


def unpack_outputs(interface: dict, data: bytes, count: int) -> dict[str, np.ndarray]:
    """The outputs by name, stacked along a first sample axis (as ``qcompiler run`` writes them)."""
    entries = interface["outputs"]
    dtypes = [TensorType((), e["element"]).dtype for e in entries]
    sample_bytes = sum(e["bytes"] for e in entries)
    if len(data) != sample_bytes * count:
        raise EmulationError(f"the harness wrote {len(data)} bytes, expected {sample_bytes * count} "
                             f"for {count} sample(s)")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(count, sample_bytes)
    outputs, start = {}, 0
    for entry, dtype in zip(entries, dtypes):
        chunk = np.ascontiguousarray(rows[:, start:start + entry["bytes"]])
        outputs[entry["name"]] = chunk.view(dtype).reshape((count, *entry["shape"]))
        start += entry["bytes"]
    return outputs


def emulate(folder: Union[str, os.PathLike], samples: SamplesSource, board: str = "host", *,
            sanitize: bool = False, build_dir: Optional[Union[str, os.PathLike]] = None,
            timeout: float = 600.0) -> dict[str, np.ndarray]:
    """Build the library in ``folder`` for ``board``, run it on every sample (an .npz, a folder of .npy, or
    arrays by input name) and return its outputs by name with a first sample axis."""
    interface = read_interface(folder)
    arrays = read_arrays(samples) if isinstance(samples, (str, os.PathLike)) else dict(samples)
    validated = validate_samples(arrays, interface_graph(interface), source=str(samples)
                                 if isinstance(samples, (str, os.PathLike)) else "samples")
    data, count = pack_samples(interface, validated)
    with tempfile.TemporaryDirectory(prefix="qc-emulate-") as scratch:
        program = build(folder, board, build_dir or Path(scratch) / "build", sanitize=sanitize)
        (Path(scratch) / "qc_inputs.bin").write_bytes(data)
        run_program(program, board, Path(scratch), timeout)
        produced = (Path(scratch) / "qc_outputs.bin").read_bytes()
    return unpack_outputs(interface, produced, count)


def count_instructions(folder: Union[str, os.PathLike], samples: Mapping[str, np.ndarray], *,
                       timeout: float = 1800.0) -> int:
    """Instructions the Cortex-M4 executes for one inference under qemu (``-singlestep -d exec,nochain`` logs
    every executed instruction): the count with two samples minus the count with one."""
    interface = read_interface(folder)
    validated = validate_samples(dict(samples), interface_graph(interface))
    first = {name: array[:1] for name, array in validated.items()}
    data, _ = pack_samples(interface, first)
    counts = []
    with tempfile.TemporaryDirectory(prefix="qc-count-") as scratch:
        program = build(folder, "mps2-an386", Path(scratch) / "build")
        for repeat in (1, 2):
            (Path(scratch) / "qc_inputs.bin").write_bytes(data * repeat)
            counts.append(_count_logged(program, Path(scratch), timeout))
    return counts[1] - counts[0]


def _count_logged(program: Path, workdir: Path, timeout: float) -> int:
    """Executed instructions of one qemu run: lines of the ``exec`` log, streamed (the log is large)."""
    command = list(QEMU_COMMAND) + [str(program), "-singlestep", "-d", "exec,nochain", "-D", "/dev/stderr"]
    process = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    assert process.stderr is not None
    lines = 0
    try:
        for block in iter(lambda: process.stderr.read(1 << 20), b""):
            lines += block.count(b"Trace ")
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    if process.returncode != 0:
        raise EmulationError(f"counting instructions of {program.name} failed (exit {process.returncode})")
    return lines
