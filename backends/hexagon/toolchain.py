"""The Hexagon toolchain: find clang's Hexagon target and qemu-hexagon, build freestanding programs (HVX or
scalar-only) and host programs from C sources, run them under the emulator, and count the packets they execute.

The recipe is DESIGN.md's: ``clang --target=hexagon -mv67 -mhvx -mhvx-length=128b -O2 -ffreestanding -nostdlib
-static -fuse-ld=lld`` with the project's own ``_start`` and syscall I/O (codegen_templates/hexagon/runtime).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from qcompiler.errors import QCompilerError

#: The runtime sources shipped with the templates.
RUNTIME_DIR = Path(__file__).resolve().parents[2] / "codegen_templates" / "hexagon" / "runtime"
#: The HVX kernels and the MCU scalar kernels they fall back to.
KERNEL_DIRS = (Path(__file__).resolve().parents[2] / "codegen_templates" / "hexagon" / "kernels",
               Path(__file__).resolve().parents[2] / "codegen_templates" / "mcu" / "kernels")
#: The CPU version the builds and the emulator use.
CPU = "v67"
#: Warnings the generated code must compile without.
WARNINGS = ("-Wall", "-Wextra", "-Werror")
#: Seconds a program may run under the emulator.
TIMEOUT = 600


class ToolchainError(QCompilerError):
    """A tool is missing, a build failed or a program failed under the emulator."""


@dataclass(frozen=True)
class Tools:
    """Paths of the tools found (None where missing)."""

    clang: Optional[str]
    qemu: Optional[str]
    host_cc: Optional[str]

    def missing_for_hexagon(self) -> Optional[str]:
        """Why Hexagon programs cannot be built and run here, or None when they can."""
        if self.clang is None:
            return "clang with the Hexagon target (and ld.lld) is not installed"
        if self.qemu is None:
            return "qemu-hexagon is not installed (Debian package qemu-user)"
        return None


def find_tools() -> Tools:
    """Look for clang (with its Hexagon target and lld), qemu-hexagon and a host C compiler on PATH."""
    clang = shutil.which("clang")
    if clang is not None:
        try:
            targets = subprocess.run([clang, "--print-targets"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            targets = ""
        if "hexagon" not in targets.lower() or shutil.which("ld.lld") is None:
            clang = None
    host = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    return Tools(clang, shutil.which("qemu-hexagon"), host)


def hexagon_flags(hvx: bool = True) -> list[str]:
    """Compiler flags of a Hexagon build; ``hvx=False`` gives the scalar-only build (QC_SCALAR_ONLY)."""
    flags = ["--target=hexagon", f"-m{CPU}", "-O2", "-ffreestanding", "-nostdlibinc", "-nostdlib", "-static",
             "-fuse-ld=lld", "-std=c99", *WARNINGS, f"-I{RUNTIME_DIR / 'freestanding'}"]
    if hvx:
        flags += ["-mhvx", "-mhvx-length=128b"]
    else:
        flags += ["-DQC_SCALAR_ONLY"]
    return flags


def _run_compiler(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    if result.returncode != 0:
        raise ToolchainError(f"build failed: {' '.join(command)}\n{result.stderr.strip()}")


def _include_flags(include_dirs: Sequence[os.PathLike]) -> list[str]:
    dirs = [*include_dirs, RUNTIME_DIR, *KERNEL_DIRS]
    return [f"-I{os.fspath(d)}" for d in dirs]


def build_hexagon(sources: Sequence[os.PathLike], output: os.PathLike, *, hvx: bool = True,
                  include_dirs: Sequence[os.PathLike] = (), defines: Sequence[str] = ()) -> Path:
    """Link ``sources`` with the freestanding runtime into a static Hexagon ELF at ``output``."""
    tools = find_tools()
    if tools.clang is None:
        raise ToolchainError(tools.missing_for_hexagon() or "clang missing")
    runtime = [RUNTIME_DIR / name
               for name in ("qc_hexagon_start.S", "qc_io_hexagon.c", "qc_io.c", "qc_hexagon_builtins.c")]
    command = [tools.clang, *hexagon_flags(hvx), *_include_flags(include_dirs), *[f"-D{d}" for d in defines],
               *[os.fspath(s) for s in [*runtime, *sources]], "-o", os.fspath(output)]
    _run_compiler(command)
    return Path(output)


def build_host(sources: Sequence[os.PathLike], output: os.PathLike, *, include_dirs: Sequence[os.PathLike] = (),
               defines: Sequence[str] = (), extra_flags: Sequence[str] = ()) -> Path:
    """Build ``sources`` (scalar path) with the host C compiler and the host I/O into ``output``."""
    tools = find_tools()
    if tools.host_cc is None:
        raise ToolchainError("no host C compiler (cc, gcc or clang) on PATH")
    command = [tools.host_cc, "-std=c99", "-O2", *WARNINGS, *extra_flags, *_include_flags(include_dirs),
               *[f"-D{d}" for d in defines], *[os.fspath(RUNTIME_DIR / name) for name in ("qc_io_host.c", "qc_io.c")],
               *[os.fspath(s) for s in sources], "-o", os.fspath(output)]
    _run_compiler(command)
    return Path(output)


def execute(program: os.PathLike, stdin: bytes = b"", *, emulate: bool = True,
            cwd: Optional[os.PathLike] = None) -> tuple[int, bytes, bytes]:
    """Run ``program`` (under qemu-hexagon when ``emulate``) in ``cwd`` with ``stdin``: its exit code, stdout and
    stderr."""
    command = [os.fspath(program)]
    if emulate:
        qemu = find_tools().qemu
        if qemu is None:
            raise ToolchainError("qemu-hexagon is not installed (Debian package qemu-user)")
        command = [qemu, "-cpu", CPU, *command]
    result = subprocess.run(command, input=stdin, capture_output=True, timeout=TIMEOUT, cwd=cwd)
    return result.returncode, result.stdout, result.stderr


def run_program(program: os.PathLike, stdin: bytes = b"", *, emulate: bool = True,
                cwd: Optional[os.PathLike] = None) -> bytes:
    """The stdout of ``program`` run in ``cwd`` on ``stdin``, or an error naming the exit code when it fails."""
    code, stdout, stderr = execute(program, stdin, emulate=emulate, cwd=cwd)
    if code != 0:
        raise ToolchainError(f"{Path(program).name} exited with code {code}: "
                             f"{stderr.decode(errors='replace').strip()[:500]}")
    return stdout


def count_packets(program: os.PathLike, args: Sequence[str] = (), stdin: bytes = b"",
                  cwd: Optional[os.PathLike] = None) -> int:
    """Packets ``program`` executes under ``qemu-hexagon -singlestep -d exec,nochain`` (one trace line each),
    run with ``args`` in ``cwd`` on ``stdin``."""
    qemu = find_tools().qemu
    if qemu is None:
        raise ToolchainError("qemu-hexagon is not installed (Debian package qemu-user)")
    command = [qemu, "-cpu", CPU, "-singlestep", "-d", "exec,nochain", os.fspath(program), *args]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=cwd)
    assert process.stdin is not None and process.stderr is not None
    feeder = threading.Thread(target=_feed, args=(process.stdin, stdin), daemon=True)
    feeder.start()
    count = 0
    for block in iter(lambda: process.stderr.read(1 << 20), b""):
        count += block.count(b"Trace ")
    if process.wait(timeout=TIMEOUT) != 0:
        raise ToolchainError(f"{Path(program).name} failed under the packet counter (code {process.returncode})")
    feeder.join()
    return count


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except BrokenPipeError:
        pass
