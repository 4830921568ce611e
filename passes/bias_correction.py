"""``bias-correction``: compensate the mean shift that int8 weight quantization adds to each conv / fully
connected output channel, by folding it into the layer's float bias before ``insert-qdq`` quantizes it.

Rounding a layer's weights to int8 changes them by ``E = dequantize(quantize(W)) - W``. Since the layer is
linear, the mean output over the calibration samples moves by ``layer(mean input, E)`` (no bias, no fused
activation), exactly. The pass measures the mean input of every weighted layer on the float graph, computes
that shift with the layer's own kernel, averages it over every axis but the output channel and subtracts it
from the bias (Finkelstein et al. 2019, "Fighting Quantization Bias With Bias"; empirical variant of
Nagel et al. 2019). The weights are quantized exactly as ``insert-qdq`` will quantize them (same
``weight_params``), so run it on the prepared float graph, before ``calibrate``/``insert-qdq``, with the
same ``per-channel`` choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Collection, Optional

import numpy as np

from qcompiler import quant_math
from qcompiler.calibration_data import CalibrationSource, calibration_feeds
from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.ir import Graph, Op, Value
from qcompiler.layer_names import is_named
from qcompiler.ops.registry import evaluate_op
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.value_ranges import is_float_tensor

from qcompiler.passes.qdq_params import weight_params
from qcompiler.passes.quant_rules import WeightRule, weight_rule

#: The layers whose output channels get a corrected bias.
CORRECTED_KINDS = frozenset({"core.conv2d", "core.depthwise_conv2d", "core.fully_connected"})


def correctable(op: Op) -> Optional[WeightRule]:
    """``op``'s weight rule when bias correction applies to it: a conv / depthwise / fully connected layer
    with a float constant weight and a float constant bias (or none), reading a float input."""
    if op.kind not in CORRECTED_KINDS:
        return None
    rule = weight_rule(op)
    if rule is None:
        return None
    weight, source = op.operand(rule.weight), op.operand(0)
    bias = op.operand(rule.bias) if rule.bias is not None else None
    if weight is None or not weight.is_const or not is_float_tensor(weight) or source is None:
        return None
    if not is_float_tensor(source) or (bias is not None and (not bias.is_const or not is_float_tensor(bias))):
        return None
    return rule


def output_channel_axis(op: Op) -> int:
    """The axis of ``op``'s result that indexes output channels (and the bias)."""
    if op.kind == "core.fully_connected":
        return -1
    return 1 if op.attr("layout") == "NCHW" else -1


def weight_error(weight: np.ndarray, axis: Optional[int]) -> np.ndarray:
    """``dequantize(quantize(weight)) - weight`` with the int8 symmetric parameters ``insert-qdq`` uses
    (per index of ``axis``, or per tensor when ``axis`` is None)."""
    params = weight_params(weight, axis)
    restored = quant_math.dequantize(quant_math.quantize(np.asarray(weight, np.float32), params), params)
    return restored.astype(np.float64) - np.asarray(weight, np.float64)


def mean_inputs(graph: Graph, layers: list[Op], samples: CalibrationSource,
                max_samples: Optional[int] = None) -> dict[int, np.ndarray]:
    """The mean over samples of each layer's input (per position), by ``id`` of the layer."""
    sums: dict[int, np.ndarray] = {}
    readers: dict[int, list[Op]] = {}
    for layer in layers:
        readers.setdefault(id(layer.operand(0)), []).append(layer)

    def observe(value: Value, array: np.ndarray) -> None:
        if id(value) in readers:
            total = sums.get(id(value))
            sums[id(value)] = array.astype(np.float64) if total is None else total + array

    count = 0
    for feed in calibration_feeds(samples, graph):
        if max_samples is not None and count >= max_samples:
            break
        run(graph, feed, observe=observe)
        count += 1
    return {id(layer): sums[id(layer.operand(0))] / count for layer in layers if id(layer.operand(0)) in sums}


def channel_shift(op: Op, rule: WeightRule, mean_input: np.ndarray, error: np.ndarray) -> np.ndarray:
    """The mean output shift per output channel that the weight error ``error`` causes on ``mean_input``:
    the layer's own kernel run on them without bias and activation, averaged over all but the channel axis."""
    operands = [op.operand(i) for i in range(op.num_operands)]
    probe = Op(op.kind, operands, [v.type for v in op.results], {**op.attrs, "activation": "none"}, op.loc)
    try:
        arrays: list[Optional[np.ndarray]] = [None] * len(operands)
        arrays[0] = np.asarray(mean_input, np.float64)  # the kernels keep their input's dtype: float64 here
        arrays[rule.weight] = np.asarray(error, np.float64)
        (shifted,) = evaluate_op(probe, arrays)
    finally:
        probe.drop_operands()
    shifted = np.moveaxis(np.asarray(shifted, np.float64), output_channel_axis(op), -1)
    return shifted.reshape(-1, shifted.shape[-1]).mean(axis=0)


def bias_correction(graph: Graph, samples: CalibrationSource, *, per_channel: bool = True,
                    max_samples: Optional[int] = None, exclude: Collection[str] = (),
                    exclude_types: Collection[str] = ()) -> dict[str, np.ndarray]:
    """Subtract from every correctable layer's bias the mean output shift its int8 weights will cause;
    return the shifts by layer (its loc, or its result's name). Layers without a bias get one. Layers that
    will stay float (named in ``exclude`` by loc or result name, or of a kind in ``exclude_types``, as
    ``insert-qdq`` takes them) keep their bias."""
    skipped = frozenset(exclude)
    layers = [op for op in graph if correctable(op) is not None and op.kind not in exclude_types
              and not is_named(op, skipped)]
    if not layers:
        return {}
    means = mean_inputs(graph, layers, samples, max_samples)
    shifts: dict[str, np.ndarray] = {}
    for op in layers:
        if id(op) not in means:
            continue
        rule = correctable(op)
        assert rule is not None
        weight = op.operand(rule.weight).const_value
        shift = channel_shift(op, rule, means[id(op)], weight_error(weight, rule.axis if per_channel else None))
        bias_value = op.operand(rule.bias) if rule.bias is not None else None
        bias = np.zeros(shift.shape, np.float64) if bias_value is None else bias_value.const_value.astype(np.float64)
        if bias.shape != shift.shape:
            raise QCompilerError(f"bias-correction: bias of shape {bias.shape} does not match the "
                                 f"{shift.shape[0]} output channels", op.loc)
        with graph.inserting_before(op):
            if bias_value is None:
                name = f"{op.result.name or 'layer'}.bias"
            else:  # keep the bias's name unless another layer still reads the old one
                name = bias_value.name if not bias_value.has_other_users(op) else f"{bias_value.name}.corrected"
            corrected = graph.const((bias - shift).astype(np.float32), name, op.loc)
        operands = list(op.operands) + [None] * max(0, rule.bias + 1 - op.num_operands)
        operands[rule.bias] = corrected
        op.set_operands(operands)
        shifts[op.loc or op.result.name or op.kind] = shift
    graph.erase_unused([v.producer for v in graph.values() if v.is_const and not v.uses])
    return shifts


def restore_biases(graph: Graph, original: Graph, layers: Collection[str]) -> int:
    """Give the layers named in ``layers`` (loc or result name) of a bias-corrected ``graph`` back the bias
    they have in ``original``, the same prepared graph before ``bias_correction``: a layer that ends up float
    has no weight error to correct. Layers pair up in graph order; return how many biases changed."""
    names = frozenset(layers)
    pairs = zip((op for op in graph if correctable(op) is not None),
                (op for op in original if correctable(op) is not None))
    restored = 0
    for op, before in pairs:
        rule = correctable(op)
        assert rule is not None
        if not is_named(op, names) or op.kind != before.kind or op.loc != before.loc or rule.bias is None:
            continue
        old = before.operand(rule.bias) if rule.bias < before.num_operands else None
        new = op.operand(rule.bias) if rule.bias < op.num_operands else None
        if old is None or new is None:
            if old is None and new is not None:  # correction added a bias the layer did not have
                op.set_operand(rule.bias, None)
                restored += 1
            continue
        if np.array_equal(old.const_value, new.const_value):
            continue
        with graph.inserting_before(op):
            op.set_operand(rule.bias, graph.const(np.array(old.const_value), old.name, op.loc))
        restored += 1
    graph.erase_unused([v.producer for v in graph.values() if v.is_const and not v.uses])
    return restored


@register_pass
@dataclass
class BiasCorrection(Pass):
    """Fold into each conv / fully-connected bias the mean output shift that int8 weight rounding causes
    (measured on calibration samples); run on the prepared float graph before calibrate and insert-qdq.

    ``data`` is an .npz with one array per input or a folder of <input>.npy; ``per-channel`` must match
    insert-qdq's; ``max-samples`` limits how many samples are read (0: all).
    """

    name: ClassVar[str] = "bias-correction"
    data: str = ""
    per_channel: bool = True
    max_samples: int = 0

    def run(self, graph: Graph) -> bool:
        """Correct the biases using the samples named by ``data``."""
        if not self.data:
            raise QCompilerError("pass 'bias-correction' needs calibration data: bias-correction{data=<file.npz>}")
        shifts = bias_correction(graph, self.data, per_channel=self.per_channel,
                                 max_samples=self.max_samples or None)
        return bool(shifts)
