"""Flash size of a generated MCU library: build its Cortex-M4 static library (``make cm4-lib``) and sum the
sections of its objects with ``arm-none-eabi-size``, so a user sees what the model costs in flash (code and
constant weights) before linking it into firmware."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from qcompiler.emulate import EmulationError, read_interface
from qcompiler.emulate import _run as run_tool  # the same one-line error on a failed build or run

#: Tools the measurement needs, with the Debian package that has them.
SIZE_TOOLS = (("make", "make"), ("arm-none-eabi-gcc", "gcc-arm-none-eabi"), ("arm-none-eabi-size", "binutils-arm-none-eabi"))


@dataclass(frozen=True)
class SectionSizes:
    """Bytes of the library's sections on the Cortex-M4: flash holds ``text`` and ``rodata`` (code and const
    weights); ``data`` and ``bss`` would take RAM (a generated library has none of either)."""

    text: int
    rodata: int
    data: int
    bss: int

    @property
    def flash(self) -> int:
        """text + rodata: what the library adds to the firmware's flash image."""
        return self.text + self.rodata


def missing_size_tools() -> list[str]:
    """The tools ``cm4_sections`` needs that are not on PATH, each with its Debian package."""
    return [f"{tool} (apt-get install {package})" for tool, package in SIZE_TOOLS if shutil.which(tool) is None]


def parse_size_listing(listing: str) -> SectionSizes:
    """Sum a ``size -A`` listing (one archive member after another) by section kind: ``.text`` and
    ``.text.*`` count as text, and likewise for rodata, data and bss."""
    totals = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            continue
        for key in totals:
            if parts[0] == f".{key}" or parts[0].startswith(f".{key}."):
                totals[key] += int(parts[1])
    return SectionSizes(**totals)


def cm4_sections(folder: Union[str, os.PathLike], build_dir: Union[str, os.PathLike], *,
                 timeout: float = 300.0) -> SectionSizes:
    """Build the Cortex-M4 static library of the MCU library in ``folder`` into ``build_dir`` and return its
    section sizes. Raises ``EmulationError`` when a tool is missing or the build fails."""
    missing = missing_size_tools()
    if missing:
        raise EmulationError(f"measuring flash needs {', '.join(missing)}")
    name = read_interface(folder)["name"]
    build_dir = Path(build_dir).resolve()
    make = ["make", "-s", "-C", str(Path(folder).resolve()), f"BUILD={build_dir}", "cm4-lib"]
    run_tool(make, folder, f"building the Cortex-M4 library of {name}", timeout)
    archive = build_dir / "cm4" / f"lib{name}.a"
    listing = run_tool(["arm-none-eabi-size", "-A", str(archive)], folder, f"measuring {archive.name}", timeout)
    return parse_size_listing(listing.stdout)
