"""``qcompiler compile --target hexagon``: write the Hexagon library for a compiled int8 graph into a folder,
with the .tflite of the same graph next to it (the MCU target's layout, Hexagon kernels)."""

from __future__ import annotations

import argparse
import os

from qcompiler.backends.hexagon.emit import write_library
from qcompiler.backends.mcu.target import library_name, write_target
from qcompiler.errors import UsageError
from qcompiler.ir import Graph


def compile_target(args: argparse.Namespace, graph: Graph) -> str:
    """Write ``args.output`` (a folder) for ``graph`` and return the summary line."""
    if args.quantize != "int8" and not any(op.kind.startswith("q.") for op in graph):
        raise UsageError("--target hexagon builds an int8 fixed-point library: add --quantize int8 --calibration ...")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"--target hexagon writes a folder, and {args.output} is a file")
    library, data = write_target(graph, args.output, library_name(args.model), args.io_type, write_library)
    report = library.report
    vector = sum(1 for layer in report.layers if layer.kernel.startswith("hvx_"))
    return (f"{args.output}: {library.name} Hexagon library, {vector} of {len(report.layers)} kernel calls on HVX, "
            f"arena {report.arena_bytes} bytes, weights {report.weight_bytes} bytes, {report.total_macs} MACs; "
            f"{library.name}.tflite {len(data)} bytes")
