"""Mixed precision: an int8 model with chosen layers kept in float or lifted to int16 activations (int16x8:
int8 weights, int64 bias), by name or automatically until an output SQNR or accuracy target is met.

Layers are named as ``insert-qdq``'s ``exclude`` names them: the user's node name (an op's ``loc``; every op
of a decomposed node shares it) or a result name. Float layers are ``insert-qdq`` exclusions. An int16
layer is rewritten in QDQ form: its inputs are requantized to int16 (or read straight from an int16
producer), its bias re-stored as int64 on the new input scale, and its result quantized to int16 and then
requantized to int8 for readers that stay int8 (graph outputs read the int16 result); ``lower-quantized`` turns that into TFLite's int16x8 kernels
and QUANTIZE (requantize) ops between the precisions.

The automatic mode measures the model with ``qcompiler.quant_report`` and lifts the layer with the lowest
layer SQNR (the one that adds the most error of its own), one at a time, until the target is met.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Optional, Sequence

import numpy as np

from qcompiler import quant_math
from qcompiler.calibration_data import CalibrationSource, calibration_feeds
from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.ir import Graph, Op, Value
from qcompiler.layer_names import is_named
from qcompiler.pass_manager import get_pass
from qcompiler.quant_report import QuantReport, build_report
from qcompiler.quantize import ModelSource, load, prepare, run_passes
from qcompiler.types import QuantParams
from qcompiler.value_ranges import get_range

from qcompiler.passes.bias_correction import restore_biases
from qcompiler.passes.calibrate import calibrate
from qcompiler.passes.lower_quantized import quantized_source, sole_quantize
from qcompiler.passes.qdq_params import activation_params, bias_params, quantized_const
from qcompiler.passes.quant_rules import FIXED_OUTPUT, PARAMS_PRESERVING, data_operands, weight_rule

Lift = Literal["int16", "float"]


@dataclass(frozen=True)
class PrecisionPlan:
    """Which layers leave int8: ``float_layers`` stay float, ``int16_layers`` run int16x8."""

    float_layers: tuple[str, ...] = ()
    int16_layers: tuple[str, ...] = ()

    def lifted(self, lift: Lift, layer: str) -> "PrecisionPlan":
        """This plan with ``layer`` added to the ``lift`` list."""
        if lift == "float":
            return PrecisionPlan(self.float_layers + (layer,), self.int16_layers)
        return PrecisionPlan(self.float_layers, self.int16_layers + (layer,))

    @property
    def layers(self) -> frozenset[str]:
        """Every layer that leaves int8."""
        return frozenset(self.float_layers) | frozenset(self.int16_layers)


# -- int16 layers in QDQ form --------------------------------------------------------------------------------
def activation_operands(op: Op) -> list[int]:
    """The indices of ``op``'s operands that carry activations (data operands other than weight and bias)."""
    rule = weight_rule(op)
    skip = () if rule is None else (rule.weight, rule.bias)
    return [i for i in data_operands(op) if i not in skip and op.operand(i) is not None]


def _int8_layer(op: Op) -> bool:
    """Whether ``op`` is a float core op in int8 QDQ form: int8 data in through dequantize, int8 out."""
    if not op.kind.startswith("core."):
        return False
    rule = weight_rule(op)
    if rule is not None and quantized_source(op.operand(rule.weight)) is None:
        return False  # a float layer between int8 ones
    sources = [quantized_source(op.operand(i)) for i in activation_operands(op)]
    quantizes = [sole_quantize(v) for v in op.results]
    return (bool(sources) and all(s is not None and s.type.element in ("i8", "i16") for s in sources)
            and all(q is not None and q.result.type.element == "i8" for q in quantizes))


def _params_over(params: QuantParams, storage: str) -> QuantParams:
    """Activation parameters in ``storage`` covering the real range ``params`` can represent."""
    low = params.scale * (params.qmin - params.zero_point)
    high = params.scale * (params.qmax - params.zero_point)
    return activation_params((low, high), storage)


def _int16_source(graph: Graph, op: Op, index: int) -> Value:
    """An int16 dequantized version of ``op``'s operand ``index``: the int16 value an int16 producer wrote
    (when the int8 value is its requantization), else the int8 value requantized to int16."""
    dequantized = op.operand(index)
    source = quantized_source(dequantized)
    assert source is not None
    if source.type.element == "i16":
        return dequantized
    producer = source.producer
    if producer is not None and producer.kind == "q.quantize":
        inner = quantized_source(producer.operand(0))
        if inner is not None and inner.type.element == "i16":
            return producer.operand(0)
    params = _params_over(source.type.quant, "i16")
    with graph.inserting_before(op):
        if source.is_const:
            real = quant_math.dequantize(source.const_value, source.type.quant)
            stored = quantized_const(graph, real, params, _suffixed(source.name, "i16"), source.producer.loc)
        else:
            stored = graph.create("q.quantize", [dequantized], {}, [source.type.with_quant(params)], op.loc,
                                  [_suffixed(source.name, "i16")]).result
        return _dequantize(graph, stored, op.loc)


def _dequantize(graph: Graph, stored: Value, loc: Optional[str]) -> Value:
    type_ = stored.type.with_quant(None).with_element("f32")
    return graph.create("q.dequantize", [stored], {}, [type_], loc, [_suffixed(stored.name, "dq")]).result


def _suffixed(name: Optional[str], suffix: str) -> Optional[str]:
    return f"{name}.{suffix}" if name else None


def _lift_bias(graph: Graph, op: Op) -> None:
    """Re-store ``op``'s int32 bias as int64 on its (new, int16) input scale times the weight scales."""
    rule = weight_rule(op)
    if rule is None or rule.bias is None or op.operand(rule.bias) is None:
        return
    bias = quantized_source(op.operand(rule.bias))
    weight = quantized_source(op.operand(rule.weight))
    source = quantized_source(op.operand(0))
    if bias is None or weight is None or source is None or not bias.is_const:
        raise QCompilerError("int16 layer: its weight and bias must be quantized constants", op.loc)
    real = quant_math.dequantize(bias.const_value, bias.type.quant)
    params = bias_params(source.type.quant, weight.type.quant, "i64")
    with graph.inserting_before(op):
        stored = quantized_const(graph, real, params, _suffixed(bias.name, "i64"), bias.producer.loc)
        op.set_operand(rule.bias, _dequantize(graph, stored, op.loc))


def _lift_results(graph: Graph, op: Op) -> None:
    """Quantize ``op``'s results to int16, then requantize them to the int8 parameters readers had."""
    for value in op.results:
        quantize8 = sole_quantize(value)
        assert quantize8 is not None
        fixed = FIXED_OUTPUT.get(op.kind, {}).get("i16")
        if fixed is not None:
            params = QuantParams.per_tensor("i16", fixed[0], fixed[1])
        elif op.kind in PARAMS_PRESERVING:
            params = quantized_source(op.operand(0)).type.quant
        else:
            value_range = get_range(graph, value)
            params = activation_params(value_range, "i16") if value_range is not None \
                else _params_over(quantize8.result.type.quant, "i16")
        with graph.inserting_before(quantize8):
            stored = graph.create("q.quantize", [value], {}, [quantize8.result.type.with_quant(params)], op.loc,
                                  [_suffixed(value.name, "i16")]).result
            wide = _dequantize(graph, stored, op.loc)
            quantize8.set_operand(0, wide)
        for reader in list(quantize8.result.users):  # graph outputs read the int16 value, not its int8 copy
            if reader.kind == "q.dequantize" and all(use.op.kind == "return" for use in reader.result.uses):
                reader.result.replace_all_uses_with(wide)
                reader.erase()
        if not quantize8.result.uses:
            quantize8.erase()


def _producer_layer(op: Op) -> Optional[Op]:
    """The float op whose quantized result ``op``'s first operand dequantizes (QDQ form), or None."""
    source = quantized_source(op.operand(0))
    if source is None or source.producer is None or source.producer.kind != "q.quantize":
        return None
    return source.producer.operand(0).producer


def _reader_layers(op: Op) -> Optional[list[Op]]:
    """The ops reading ``op``'s quantized results through ``q.dequantize`` (QDQ form); None when a result is
    read otherwise (a graph output, a float op reading the float value)."""
    readers: list[Op] = []
    for value in op.results:
        quantize = sole_quantize(value)
        if quantize is None:
            return None
        for use in quantize.result.uses:
            if use.op.kind != "q.dequantize":
                return None
            readers += [u.op for u in use.op.result.uses]
    return readers


def _with_data_movement(graph: Graph, chosen: list[Op]) -> list[Op]:
    """``chosen`` plus the int8 data-movement ops (reshape, pooling, ...) whose producer and readers are all
    chosen: int16 flows through them instead of being requantized to int8 and back."""
    members = {id(op) for op in chosen}
    grown = True
    while grown:
        grown = False
        for op in graph.ops:
            if id(op) in members or op.kind not in PARAMS_PRESERVING or not _int8_layer(op):
                continue
            producer, readers = _producer_layer(op), _reader_layers(op)
            if producer is not None and id(producer) in members and readers and all(
                    id(r) in members for r in readers):
                members.add(id(op))
                grown = True
    return [op for op in graph.ops if id(op) in members]


def lift_to_int16(graph: Graph, layers: Sequence[str]) -> list[Op]:
    """Rewrite the int8 QDQ layers named in ``layers`` to int16x8 (see the module docstring), and the
    data-movement ops between two of them; return the ops lifted. Raises when a name matches no op, or only
    ops that are not int8 layers."""
    names = frozenset(layers)
    found: set[str] = set()
    chosen: list[Op] = []
    for op in graph.ops:
        if is_named(op, names):
            found |= {n for n in names if n == op.loc or any(v.name == n for v in op.results)}
            if _int8_layer(op):
                chosen.append(op)
    lifted: list[Op] = []
    for op in _with_data_movement(graph, chosen):
        for index in activation_operands(op):
            op.set_operand(index, _int16_source(graph, op, index))
        _lift_bias(graph, op)
        _lift_results(graph, op)
        lifted.append(op)
    missing = sorted(names - found)
    if missing:
        raise QCompilerError(f"int16 layers name no op or tensor: {', '.join(missing)}")
    unlifted = sorted(n for n in names if not any(is_named(op, frozenset([n])) for op in lifted))
    if unlifted:
        raise QCompilerError(f"cannot run in int16: {', '.join(unlifted)} (not an int8 layer: it stays float "
                             f"or has no integer kernel)")
    graph.erase_unused([op for op in graph.ops if op.kind == "const"])
    return lifted


def output_layers(graph: Graph) -> list[str]:
    """The layers (locs) that compute the graph's outputs, looking back through data movement: lifting them
    to int16 keeps the outputs (logits, probabilities) off the coarse int8 grid, where near ties flip."""
    layers: list[str] = []
    for value in graph.outputs:
        producer = value.producer
        while producer is not None and (producer.kind in PARAMS_PRESERVING or producer.kind.startswith("q.")):
            producer = producer.operand(0).producer if producer.operand(0) is not None else None
        if producer is not None and producer.loc is not None and producer.loc not in layers:
            layers.append(producer.loc)
    return layers


# -- quantizing with a plan ----------------------------------------------------------------------------------
def calibrated_graph(model: ModelSource, calibration: CalibrationSource, *, method: str = "minmax",
                     verify: bool = True, **calibration_options) -> Graph:
    """A prepared copy of ``model`` with calibrated ranges recorded, ready for ``quantize_mixed`` (calibrate
    once, then try as many plans as needed)."""
    graph = prepare(load(model), verify)
    calibrate(graph, calibration, method, **calibration_options)
    return graph


def check_plan(plan: PrecisionPlan) -> None:
    """Raise when a layer is named both float and int16."""
    both = sorted(set(plan.float_layers) & set(plan.int16_layers))
    if both:
        raise QCompilerError(f"layers cannot be both float and int16: {', '.join(both)}")


def quantize_mixed(calibrated: Graph, plan: PrecisionPlan, *, per_channel: bool = True, lower: bool = True,
                   verify: bool = True, exclude_types: Sequence[str] = (), original: Optional[Graph] = None) -> Graph:
    """A copy of a calibrated graph quantized to int8 except the plan's float and int16 layers (and the ops
    of a kind in ``exclude_types``, which stay float too). When ``calibrated`` went through bias correction,
    ``original`` (the graph before it) gives the float layers their uncorrected biases back."""
    check_plan(plan)
    graph = calibrated.clone()
    if original is not None and plan.float_layers:
        restore_biases(graph, original, plan.float_layers)
    run_passes(graph, [get_pass("propagate-ranges")(),
                       get_pass("insert-qdq")(mode="int8", per_channel=per_channel, exclude=list(plan.float_layers),
                                              exclude_types=list(exclude_types))],
               verify)
    if plan.int16_layers:
        lift_to_int16(graph, plan.int16_layers)
    if lower:
        run_passes(graph, [get_pass("lower-quantized")()], verify)
    return graph


# -- automatic mode ------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One model the automatic search measured: the layers lifted so far, output SQNR, accuracy."""

    plan: PrecisionPlan
    sqnr_db: float
    accuracy: Optional[float]
    worst_layer: Optional[str]


@dataclass
class MixedPrecisionResult:
    """The automatic search's outcome: the final graph and plan, whether the target was met, every step."""

    graph: Graph
    plan: PrecisionPlan
    met: bool
    steps: list[Step] = field(default_factory=list)
    report: Optional[QuantReport] = None


def top1_accuracy(graph: Graph, samples: CalibrationSource, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``graph``'s first output on ``samples`` against ``labels`` (one per sample)."""
    labels = np.asarray(labels).reshape(-1)
    hits = count = 0
    for feed in calibration_feeds(samples, graph):
        if count >= len(labels):
            break
        output = next(iter(run(graph, feed).values()))
        hits += int(np.argmax(np.asarray(output).reshape(-1)) == labels[count])
        count += 1
    if count != len(labels):
        raise QCompilerError(f"{len(labels)} labels but {count} evaluation samples")
    return hits / count


def check_targets(target_sqnr_db: Optional[float], target_accuracy: Optional[float],
                  labels: Optional[np.ndarray], lift: str) -> None:
    """Raise unless the automatic search has a target it can measure and a precision to lift layers to."""
    if target_sqnr_db is None and target_accuracy is None:
        raise QCompilerError("automatic mixed precision needs a target: an output SQNR or an accuracy")
    if target_accuracy is not None and labels is None:
        raise QCompilerError("an accuracy target needs the labels of the evaluation samples")
    if lift not in ("int16", "float"):
        raise QCompilerError(f"layers lift to int16 or float, not '{lift}'")


def auto_mixed_precision(model: ModelSource, calibration: CalibrationSource, *,
                         evaluation: Optional[CalibrationSource] = None, labels: Optional[np.ndarray] = None,
                         target_sqnr_db: Optional[float] = None, target_accuracy: Optional[float] = None,
                         lift: Lift = "int16", max_lifts: int = 8, per_channel: bool = True, method: str = "minmax",
                         max_samples: Optional[int] = None, verify: bool = True,
                         **calibration_options) -> MixedPrecisionResult:
    """Quantize ``model`` to int8, then lift the layer with the lowest layer SQNR to ``lift`` (int16 or
    float), one at a time, until the output SQNR against the float model reaches ``target_sqnr_db`` and the
    top-1 accuracy on ``evaluation`` against ``labels`` reaches ``target_accuracy`` (each when given), or
    ``max_lifts`` layers are lifted. ``evaluation`` defaults to the calibration samples; ``max_samples``
    limits the samples the report measures on."""
    check_targets(target_sqnr_db, target_accuracy, labels, lift)
    calibrated = calibrated_graph(model, calibration, method=method, verify=verify, **calibration_options)
    reference = prepare(load(model), verify)
    return search_precision(reference, calibrated, calibration if evaluation is None else evaluation,
                            labels=labels, target_sqnr_db=target_sqnr_db, target_accuracy=target_accuracy,
                            lift=lift, max_lifts=max_lifts, per_channel=per_channel, max_samples=max_samples,
                            verify=verify)


def search_precision(reference: Graph, calibrated: Graph, evaluation: CalibrationSource, *,
                     labels: Optional[np.ndarray] = None, target_sqnr_db: Optional[float] = None,
                     target_accuracy: Optional[float] = None, lift: Lift = "int16", max_lifts: int = 8,
                     per_channel: bool = True, max_samples: Optional[int] = None, verify: bool = True,
                     initial: PrecisionPlan = PrecisionPlan(), exclude_types: Sequence[str] = ()
                     ) -> MixedPrecisionResult:
    """The automatic search on graphs already at hand: ``reference`` is the prepared float graph the output
    SQNR is measured against, ``calibrated`` the graph with ranges recorded (when bias-corrected, layers
    lifted to float get ``reference``'s biases back).
    Starting from the ``initial`` plan (the user's own float and int16 layers), lift the worst int8 layer
    to ``lift`` until the targets are met on ``evaluation`` (see ``auto_mixed_precision``)."""
    check_targets(target_sqnr_db, target_accuracy, labels, lift)
    plan = initial
    steps: list[Step] = []
    while True:
        graph = quantize_mixed(calibrated, plan, per_channel=per_channel, verify=verify, exclude_types=exclude_types,
                               original=reference)
        report = build_report(reference, graph, evaluation, max_samples=max_samples)
        sqnr = min(row.sqnr_db for row in report.outputs)
        accuracy = top1_accuracy(graph, evaluation, labels) if target_accuracy is not None else None
        met = (target_sqnr_db is None or sqnr >= target_sqnr_db) and (
            target_accuracy is None or (accuracy is not None and accuracy >= target_accuracy))
        candidate = None if met or len(steps) >= max_lifts else _worst_liftable(report, graph, plan, lift)
        steps.append(Step(plan, sqnr, accuracy, candidate))
        if candidate is None:
            return MixedPrecisionResult(graph, plan, met, steps, report)
        plan = plan.lifted(lift, candidate)


def _worst_liftable(report: QuantReport, graph: Graph, plan: PrecisionPlan, lift: Lift) -> Optional[str]:
    """The layer (loc) with the lowest finite layer SQNR that is not lifted yet and can be: a compute layer
    (data movement adds no error) still running int8."""
    for row in report.worst_layers(len(report.tensors)):
        if row.layer is None or row.layer in plan.layers or not math.isfinite(row.layer_sqnr_db or math.inf):
            continue
        if row.storage != "i8" or row.op.replace("q.", "core.") in PARAMS_PRESERVING:
            continue
        return row.layer
    return None


# -- what a quantized graph ended up with --------------------------------------------------------------------
def precision_summary(graph: Graph) -> str:
    """One line naming the layers (locs) of a lowered graph that do not run int8: compute ops left float and
    integer ops with int16 results, so that a user sees what ``keep_float``, ``int16_layers`` or the automatic
    search produced."""
    float_layers: list[str] = []
    int16_layers: list[str] = []
    for op in graph:
        if op.loc is None or op.kind.startswith("q.") and op.kind in ("q.quantize", "q.dequantize", "q.requantize"):
            continue
        if op.kind.startswith("core.") and op.kind not in PARAMS_PRESERVING:
            if op.loc not in float_layers:
                float_layers.append(op.loc)
        elif op.kind.startswith("q.") and any(v.type.element == "i16" for v in op.results):
            if op.loc not in int16_layers:
                int16_layers.append(op.loc)
    return (f"float layers: {', '.join(float_layers) or 'none'}; "
            f"int16 layers: {', '.join(int16_layers) or 'none'}")
