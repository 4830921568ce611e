"""The quantization API: one call from a float (or pre-quantized) model to a quantized graph, running the
whole pipeline (prepare, calibrate, propagate-ranges, insert-qdq, lower-quantized) with TFLite's rules."""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, Optional, Sequence, Union

from qcompiler.calibration_data import CalibrationSource
from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.layer_names import check_layer_names
from qcompiler.pass_manager import Pass, PassManager, get_pass, parse_pipeline
from qcompiler.types import Dim

#: The quantization modes (``insert-qdq{mode=...}``).
MODES: tuple[str, ...] = ("int8", "int16x8", "dynamic", "float16", "weight-only")
#: Modes that quantize activations and so need calibration data.
FULL_INTEGER_MODES = ("int8", "int16x8")
#: Layouts of a prepared graph's 4-D inputs and outputs: the ONNX one (nchw) or the kernels' own (nhwc).
IO_LAYOUTS = ("nchw", "nhwc")

ModelSource = Union[Graph, str, os.PathLike]


@dataclasses.dataclass(frozen=True, eq=False)
class AutoPrecision:
    """Automatic mixed precision for ``quantize(mode="int8")``: starting from int8 (plus the user's own
    ``keep_float`` and ``int16_layers``), lift the int8 layer that adds the most error of its own (lowest
    layer SQNR) to ``lift`` ("int16" or "float"), one at a time, until the output SQNR against the float
    model reaches ``target_sqnr_db`` and the top-1 accuracy on ``evaluation`` against ``labels`` (one integer
    class per sample) reaches ``target_accuracy``, each when given, or ``max_lifts`` layers are lifted (then
    ``PrecisionTargetWarning`` says the target was missed). ``evaluation`` defaults to the calibration
    samples; ``max_samples`` limits the samples each measurement uses."""

    target_sqnr_db: Optional[float] = None
    target_accuracy: Optional[float] = None
    evaluation: Optional[CalibrationSource] = None
    labels: Optional[Any] = None
    lift: str = "int16"
    max_lifts: int = 8
    max_samples: Optional[int] = None


class PrecisionTargetWarning(UserWarning):
    """The automatic mixed-precision search lifted every layer it could (or ``max_lifts``) and still missed
    its target: the model returned is the closest it got."""


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
             bias_correction: bool = False, round_weights: bool = False, keep_float: Sequence[str] = (),
             int16_layers: Sequence[str] = (), auto_precision: Optional[AutoPrecision] = None,
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

    Accuracy tools (float models in int8 / int16x8, with ``calibration``): ``bias_correction`` folds into
    each conv / fully-connected bias the mean output shift its int8 weights cause on the calibration samples
    (the ``bias-correction`` pass; the samples are read twice, so pass a file, a mapping or a list, not a
    one-shot iterator). ``round_weights`` rounds each conv / fully-connected weight onto its int8 grid one at a
    time, compensating every rounding with the layer's other weights and bias on the calibration samples (the
    ``round-weights`` pass), instead of rounding each to nearest. ``keep_float`` names layers that stay float
    (the same as ``exclude``).
    ``int16_layers`` (int8 mode) names layers lifted to int16x8: int16 activations, int8 weights, int64 bias,
    requantized to int8 at their edges. ``auto_precision`` (int8 mode) lifts layers automatically until a
    target is met (see ``AutoPrecision``). A name that matches no op or tensor raises ``UnknownLayerError``
    listing close matches.
    """
    from qcompiler.passes.calibrate import calibrate

    if mode not in MODES:
        raise QCompilerError(f"unknown quantization mode '{mode}' (choose from {', '.join(MODES)})")
    check_accuracy_options(mode, calibration, bias_correction, int16_layers, auto_precision, round_weights)
    float_layers = list(dict.fromkeys([*exclude, *keep_float]))
    if int16_layers:
        from qcompiler.mixed_precision import PrecisionPlan, check_plan

        check_plan(PrecisionPlan(tuple(float_layers), tuple(int16_layers)))
    graph = prepare(load(model, input_shapes), verify)
    prequantized = is_prequantized(graph)
    if prequantized and (bias_correction or round_weights or int16_layers or auto_precision is not None):
        raise QCompilerError("bias correction, weight rounding and mixed precision apply to float models; this "
                             "model is pre-quantized and keeps its own parameters")
    if mode in FULL_INTEGER_MODES and decompose_layer_norm and not prequantized \
            and "core.layer_norm" not in exclude_types:
        run_passes(graph, [get_pass("decompose-layer-norm")(squared_difference=mode == "int8")], verify)
    check_layer_names(graph, exclude, "exclude")
    check_layer_names(graph, keep_float, "keep-float")
    check_layer_names(graph, int16_layers, "int16")
    reference = graph.clone() if auto_precision is not None else None
    if round_weights:
        run_passes(graph, [get_pass("round-weights")(calibration=calibration, per_channel=per_channel,
                                                    exclude=float_layers, exclude_types=list(exclude_types))],
                   verify)
    if bias_correction:
        from qcompiler.passes.bias_correction import bias_correction as correct_biases

        correct_biases(graph, calibration, per_channel=per_channel, exclude=float_layers, exclude_types=exclude_types)
    steps: list[Pass] = []
    if mode in FULL_INTEGER_MODES and calibration is not None:
        calibrate(graph, calibration, method, progress=progress, **calibration_options)
        if reference is not None:
            return search_precision(reference, graph, calibration, auto_precision, float_layers, int16_layers,
                                    per_channel=per_channel, exclude_types=exclude_types, lower=lower, verify=verify)
        steps.append(get_pass("propagate-ranges")())
    elif mode in FULL_INTEGER_MODES and not prequantized:
        raise QCompilerError(f"mode {mode} quantizes activations and needs calibration data")
    if not any(op.kind.startswith("q.") for op in graph):
        steps.append(get_pass("insert-qdq")(mode=mode, per_channel=per_channel, exclude=float_layers,
                                            exclude_types=list(exclude_types)))
    run_passes(graph, steps, verify)
    if int16_layers:
        from qcompiler.mixed_precision import lift_to_int16

        lift_to_int16(graph, int16_layers)
    if lower:
        run_passes(graph, [get_pass("lower-quantized")()], verify)
    return graph


def check_accuracy_options(mode: str, calibration: Optional[CalibrationSource], bias_correction: bool,
                           int16_layers: Sequence[str], auto_precision: Optional[AutoPrecision],
                           round_weights: bool = False) -> None:
    """Raise when an accuracy tool is asked of a mode it does not apply to, or without the data it needs."""
    if bias_correction and (mode not in FULL_INTEGER_MODES or calibration is None):
        raise QCompilerError("bias correction needs mode int8 or int16x8 and calibration data")
    if round_weights and (mode not in FULL_INTEGER_MODES or calibration is None):
        raise QCompilerError("weight rounding needs mode int8 or int16x8 and calibration data")
    if int16_layers and mode != "int8":
        raise QCompilerError(f"int16 layers lift int8 layers; mode {mode} has none (use mode int8)")
    if auto_precision is not None:
        if mode != "int8" or calibration is None:
            raise QCompilerError("automatic mixed precision needs mode int8 and calibration data")
        from qcompiler.mixed_precision import check_targets

        check_targets(auto_precision.target_sqnr_db, auto_precision.target_accuracy, auto_precision.labels,
                      auto_precision.lift)


def search_precision(reference: Graph, calibrated: Graph, calibration: CalibrationSource, auto: AutoPrecision,
                     float_layers: Sequence[str], int16_layers: Sequence[str], *, per_channel: bool,
                     exclude_types: Sequence[str], lower: bool, verify: bool) -> Graph:
    """Run the automatic mixed-precision search on a calibrated graph from the user's own plan, warn when it
    misses its target, and return the chosen graph (in QDQ form when not ``lower``)."""
    from qcompiler import mixed_precision

    initial = mixed_precision.PrecisionPlan(tuple(float_layers), tuple(int16_layers))
    evaluation = calibration if auto.evaluation is None else auto.evaluation
    result = mixed_precision.search_precision(
        reference, calibrated, evaluation, labels=auto.labels, target_sqnr_db=auto.target_sqnr_db,
        target_accuracy=auto.target_accuracy, lift=auto.lift, max_lifts=auto.max_lifts, per_channel=per_channel,
        max_samples=auto.max_samples, verify=verify, initial=initial, exclude_types=exclude_types)
    if not result.met:
        last = result.steps[-1]
        reached = f"output SQNR {last.sqnr_db:.2f} dB" + (
            f", accuracy {last.accuracy * 100:.2f}%" if last.accuracy is not None else "")
        warnings.warn(f"automatic mixed precision missed its target after lifting "
                      f"{len(result.plan.layers) - len(initial.layers)} layer(s): {reached}",
                      PrecisionTargetWarning, stacklevel=3)
    if lower:
        return result.graph
    return mixed_precision.quantize_mixed(calibrated, result.plan, per_channel=per_channel, lower=False,
                                          verify=verify, exclude_types=exclude_types, original=reference)


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
