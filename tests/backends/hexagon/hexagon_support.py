"""Shared pieces of the Hexagon backend tests: the C test drivers, built for HVX, scalar Hexagon and the host,
and the binary streams they read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from qcompiler.backends.hexagon.toolchain import KERNEL_DIRS, build_hexagon, build_host, run_program

#: The C test drivers (one per kernel, plus the runtime's hello program).
DRIVERS = Path(__file__).parent / "drivers"


@dataclass(frozen=True)
class Build:
    """One build of a test driver: ``hvx`` and ``scalar`` run under qemu-hexagon, ``host`` natively."""

    name: str
    program: Path
    emulate: bool

    def run(self, stdin: bytes) -> bytes:
        """The driver's output on ``stdin``."""
        return run_program(self.program, stdin, emulate=self.emulate)


def driver_builds(driver: str, folder: Path, sources: Sequence[str] = ()) -> list[Build]:
    """``drivers/<driver>.c`` (with kernel ``sources`` from the template folders) built three ways: HVX and
    scalar-only for Hexagon, and scalar for the host."""
    files = [DRIVERS / f"{driver}.c", *[_kernel_source(name) for name in sources]]
    include = [DRIVERS]
    return [
        Build("hvx", build_hexagon(files, folder / f"{driver}_hvx.elf", include_dirs=include), True),
        Build("scalar", build_hexagon(files, folder / f"{driver}_scalar.elf", hvx=False, include_dirs=include), True),
        Build("host", build_host(files, folder / f"{driver}_host", include_dirs=include), False),
    ]


def _kernel_source(name: str) -> Path:
    for folder in KERNEL_DIRS:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(name)


def i32(*values: int) -> bytes:
    """Little-endian int32 scalars."""
    return np.asarray(values, dtype="<i4").tobytes()


def blob(array: np.ndarray, dtype: str) -> bytes:
    """``array`` as raw little-endian bytes of ``dtype``."""
    return np.ascontiguousarray(array, dtype=dtype).tobytes()
