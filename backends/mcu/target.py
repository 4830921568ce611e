"""``qcompiler compile --target mcu``: write the MCU library for a compiled int8 graph into a folder, with the
.tflite of the same graph next to it (so LiteRT and TFLite Micro can be checked against the C on the same
model)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Callable

from qcompiler.backends.mcu.emit import Library, write_library
from qcompiler.errors import UsageError
from qcompiler.fileio import atomic_write_bytes
from qcompiler.ir import Graph


def library_name(model_path: str) -> str:
    """The library's name: the model file's stem (made a C identifier by the emitter)."""
    return Path(model_path).stem or "model"


def write_target(graph: Graph, folder: str, name: str, io_type: str = "float",
                 writer: Callable[[Graph, str, str], Library] = write_library) -> tuple[Library, bytes]:
    """Write the library for a quantized ``graph`` into ``folder`` and ``<name>.tflite`` of the same graph next
    to it; ``io_type="int8"`` makes the model's inputs and outputs its int8 tensors (as the TFLite backend does).
    ``writer`` is the backend's library writer (the MCU's, or another C backend's such as Hexagon's).
    Returns the library and the .tflite bytes."""
    from qcompiler.backends.tflite import export_tflite
    from qcompiler.backends.tflite.interface import make_quantized_interface

    if io_type == "int8":
        graph = graph.clone()
        make_quantized_interface(graph)
    library = writer(graph, folder, name)
    data = export_tflite(graph)
    atomic_write_bytes(os.path.join(folder, f"{library.name}.tflite"), data)
    return library, data


def compile_target(args: argparse.Namespace, graph: Graph) -> str:
    """Write ``args.output`` (a folder) for ``graph`` and return the summary line."""
    if args.quantize != "int8" and not any(op.kind.startswith("q.") for op in graph):
        raise UsageError("--target mcu builds an int8 fixed-point library: add --quantize int8 --calibration ...")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"--target mcu writes a folder, and {args.output} is a file")
    library, data = write_target(graph, args.output, library_name(args.model), args.io_type)
    report = library.report
    return (f"{args.output}: {library.name} library, arena {report.arena_bytes} bytes (lower bound "
            f"{report.lower_bound_bytes}), weights {report.weight_bytes} bytes, {report.total_macs} MACs, "
            f"{len(report.layers)} kernel calls; {library.name}.tflite {len(data)} bytes")
