"""Building and running a generated Hexagon library's three builds on samples: ``hvx`` and ``scalar`` (the
same sources with QC_SCALAR_ONLY) under qemu-hexagon, ``host`` natively; and counting the packets one
inference executes and the bytes of flash a build takes. The samples format is ``qcompiler emulate``'s."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from qcompiler.backends.hexagon.toolchain import TIMEOUT, ToolchainError, count_packets, run_program
from qcompiler.emulate import interface_graph, pack_samples, read_interface, unpack_outputs
from qcompiler.samples import validate_samples

#: Make target, program name and whether it runs under the emulator, per build.
BUILDS = {"hvx": ("hexagon", "{name}_hexagon.elf", True),
          "scalar": ("hexagon-scalar", "{name}_scalar.elf", True),
          "host": ("host", "{name}_host", False)}

Folder = Union[str, os.PathLike]


def build_library(folder: Folder, build: str, build_dir: Folder) -> Path:
    """Build ``build`` (hvx, scalar or host) of the library in ``folder`` with its Makefile; the program."""
    target, program, _ = BUILDS[build]
    name = read_interface(folder)["name"]
    result = subprocess.run(["make", "-s", "-C", os.fspath(Path(folder).resolve()),
                             f"BUILD={Path(build_dir).resolve()}", target], capture_output=True, text=True,
                            timeout=TIMEOUT)
    if result.returncode != 0:
        raise ToolchainError(f"building {name} ({build}) failed: {result.stderr.strip()[-800:]}")
    return Path(build_dir).resolve() / target / program.format(name=name)


def _samples_file(folder: Folder, samples: Mapping[str, np.ndarray], workdir: Path) -> int:
    interface = read_interface(folder)
    data, count = pack_samples(interface, validate_samples(dict(samples), interface_graph(interface)))
    (workdir / "qc_inputs.bin").write_bytes(data)
    return count


def run_library(folder: Folder, build: str, samples: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of ``build`` of the library on ``samples`` (arrays by input name, first axis the samples)."""
    with tempfile.TemporaryDirectory(prefix="qc-hexagon-") as scratch:
        workdir = Path(scratch)
        program = build_library(folder, build, workdir / "build")
        count = _samples_file(folder, samples, workdir)
        run_program(program, emulate=BUILDS[build][2], cwd=workdir)
        return unpack_outputs(read_interface(folder), (workdir / "qc_outputs.bin").read_bytes(), count)


def flash_bytes(folder: Folder, build: str) -> Optional[int]:
    """Text and data bytes (code, constants and weights) of ``build`` of the library's program, as
    ``llvm-size`` reads them; None without llvm-size."""
    tool = shutil.which("llvm-size")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory(prefix="qc-size-") as scratch:
        program = build_library(folder, build, Path(scratch) / "build")
        result = subprocess.run([tool, os.fspath(program)], capture_output=True, text=True, timeout=TIMEOUT)
    if result.returncode != 0:
        raise ToolchainError(f"llvm-size failed on {program.name}: {result.stderr.strip()}")
    text, data = result.stdout.splitlines()[1].split()[:2]
    return int(text) + int(data)


def packets_per_inference(folder: Folder, build: str, samples: Mapping[str, np.ndarray]) -> int:
    """Packets one inference executes in ``build`` (hvx or scalar): the count with the first two samples
    minus the count with the first one (program start and I/O cancel out)."""
    if not BUILDS[build][2]:
        raise ToolchainError("packets are counted under the emulator: choose the hvx or scalar build")
    with tempfile.TemporaryDirectory(prefix="qc-packets-") as scratch:
        workdir = Path(scratch)
        program = build_library(folder, build, workdir / "build")
        counts = []
        for repeat in (1, 2):
            _samples_file(folder, {k: np.asarray(v)[:repeat] for k, v in samples.items()}, workdir)
            counts.append(count_packets(program, cwd=workdir))
        return counts[1] - counts[0]
