"""The quantization API: one call from a float (or pre-quantized) model to a quantized graph, running the
whole pipeline (prepare, calibrate, propagate-ranges, insert-qdq, lower-quantized) with TFLite's rules."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional, Sequence, Union

from qcompiler.calibration_data import CalibrationSource
from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.pass_manager import Pass, PassManager, get_pass, parse_pipeline
from qcompiler.types import Dim

#: The quantization modes (``insert-qdq{mode=...}``).
MODES: tuple[str, ...] = ("int8", "int16x8", "dynamic", "float16", "weight-only")
#: Modes that quantize activations and so need calibration data.
FULL_INTEGER_MODES = ("int8", "int16x8")
#: Layouts of a prepared graph's 4-D inputs and outputs: the ONNX one (nchw) or the kernels' own (nhwc).
IO_LAYOUTS = ("nchw", "nhwc")

ModelSource = Union[Graph, str, os.PathLike]


def load(model: ModelSource, input_shapes: Optional[dict[str, tuple[Dim, ...]]] = None) -> Graph:
    """A copy of ``model`` when it is a graph (the caller's graph stays float), else the model file read
    (``.onnx`` imported, anything else parsed as textual IR)."""
    if isinstance(model, Graph):
        return model.clone()
    from qcompiler.cli.model_io import load_model

    return load_model(os.fspath(model), input_shapes)


def is_prequantized(graph: Graph) -> bool:
    """Whether ``graph`` states its own quantization: parameters ``import-qdq`` recorded from QDQ nodes (QAT,
    another quantizer), or q ops already in it."""
    from qcompiler.passes.import_qdq import recorded_params

    return bool(recorded_params(graph)) or any(op.kind.startswith("q.") for op in graph)


def quantize(model: ModelSource, mode: str = "int8", calibration: Optional[CalibrationSource] = None, *,
             per_channel: bool = True, exclude: Sequence[str] = (), exclude_types: Sequence[str] = (),
             method: str = "minmax", lower: bool = True, decompose_layer_norm: bool = True,
             input_shapes: Optional[dict[str, tuple[Dim, ...]]] = None, verify: bool = True, progress: bool = False,
             **calibration_options: Any) -> Graph:
    """Quantize ``model`` (a Graph, an .onnx or a .qir file) and return the quantized graph.

    ``mode``: int8, int16x8 (both need ``calibration``: a samples file or folder, a mapping of arrays by input
    name, or an iterable of feed dicts), dynamic, weight-only or float16. ``method`` and
    ``calibration_options`` (``percentile``, ``bins``, ``bits``, ``averaging_constant``) choose the
    calibration observer. Layers in ``exclude`` (ONNX node names or tensor names) or of a kind in
    ``exclude_types`` stay float. A pre-quantized model (QDQ nodes from QAT or another quantizer) keeps its
    own parameters wherever its tensors survive preparation, and needs calibration data only for the tensors
    it did not quantize; a graph already in QDQ form is only lowered. With ``lower=False`` the graph stays
    in QDQ form. In int8 and int16x8, ``decompose_layer_norm`` splits layer norms into ops with integer kernels
    (as TFLite's converter does; int16x8 squares with MUL, SQUARED_DIFFERENCE having no int16 kernel) so that
    transformers run on integers end to end.
    """
    from qcompiler.passes.calibrate import calibrate

    if mode not in MODES:
        raise QCompilerError(f"unknown quantization mode '{mode}' (choose from {', '.join(MODES)})")
    graph = prepare(load(model, input_shapes), verify)
    prequantized = is_prequantized(graph)
    if mode in FULL_INTEGER_MODES and decompose_layer_norm and not prequantized \
            and "core.layer_norm" not in exclude_types:
        run_passes(graph, [get_pass("decompose-layer-norm")(squared_difference=mode == "int8")], verify)
    steps: list[Pass] = []
    if mode in FULL_INTEGER_MODES and calibration is not None:
        calibrate(graph, calibration, method, progress=progress, **calibration_options)
        steps.append(get_pass("propagate-ranges")())
    elif mode in FULL_INTEGER_MODES and not prequantized:
        raise QCompilerError(f"mode {mode} quantizes activations and needs calibration data")
    if not any(op.kind.startswith("q.") for op in graph):
        steps.append(get_pass("insert-qdq")(mode=mode, per_channel=per_channel, exclude=list(exclude),
                                            exclude_types=list(exclude_types)))
    if lower:
        steps.append(get_pass("lower-quantized")())
    run_passes(graph, steps, verify)
    return graph


def prepare(graph: Graph, verify: bool = True, io_layout: str = "nchw") -> Graph:
    """Bring ``graph`` (in place) to the form quantization works on: QDQ nodes imported, cleaned up, core ops
    in NHWC with fused activations (the ``quantize-prepare`` pipeline; a no-op on a prepared graph).
    ``io_layout="nhwc"`` also turns 4-D inputs and outputs to NHWC (to-nhwc's io-layout), so that no
    transpose remains at the edges; ``"nchw"`` keeps the ONNX interface."""
    if io_layout not in IO_LAYOUTS:
        raise QCompilerError(f"io_layout must be one of {', '.join(IO_LAYOUTS)}, got '{io_layout}'")
    passes = parse_pipeline("quantize-prepare")
    if io_layout != "nchw":
        passes = [dataclasses.replace(p, io_layout=io_layout) if p.name == "to-nhwc" else p for p in passes]
    run_passes(graph, passes, verify)
    return graph


def run_passes(graph: Graph, passes: Sequence[Pass], verify: bool) -> None:
    """Run ``passes`` on ``graph`` through the pass manager (verifying after each when ``verify``)."""
    if passes:
        PassManager(list(passes), verify_each=verify).run(graph)
