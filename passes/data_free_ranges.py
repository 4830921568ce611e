"""Data-free value ranges for ``propagate-ranges{data-free=true}`` when there is no calibration data.

Two estimates travel from the graph inputs' ranges through every op:
- a sound **interval**: convolutions and matrix products bound each output channel by the sums of their
  positive and negative weights (|w| sums) times the input interval, plus the bias; elementwise ops evaluate
  their own kernel at the interval's ends and where their function turns (monotone and single-dip functions
  come out exact). It holds for every input in the input ranges but grows loose with depth;
- a **statistical** estimate: each tensor's mean and variance (inputs uniform over their range), carried
  through weighted sums (per output channel: bias + sum(w) * mean, sum(w^2) * variance, independent inputs)
  and additions, through fused clamps as clipped normal moments; a weighted sum's range is its channels'
  mean +- ``sigmas`` standard deviations, a batch norm still in the graph gives beta +- ``sigmas`` * |gamma|
  (its statistics are the same moments, measured).
A value's range is the statistical one inside the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Op, Value
from qcompiler.ops.core_common import ACTIVATION_BOUNDS
from qcompiler.ops.core_elementwise import BinaryOp, UnaryOp
from qcompiler.ops.registry import evaluate_op, lookup_op_def
from qcompiler.value_ranges import Range, get_range, intersect, is_float_tensor, union

#: Ops whose results hold (some of) operand 0's values, rearranged.
MOVING_OPS = frozenset({
    "core.reshape", "core.transpose", "core.max_pool2d", "core.pad", "core.slice", "core.gather", "core.split",
    "core.broadcast_to", "core.reduce_max", "core.reduce_min", "core.cast",
    "onnx.Reshape", "onnx.Transpose", "onnx.MaxPool", "onnx.Pad", "onnx.Slice", "onnx.Gather", "onnx.Split",
    "onnx.Flatten", "onnx.Squeeze", "onnx.Unsqueeze", "onnx.Identity", "onnx.Expand", "onnx.ReduceMax",
    "onnx.ReduceMin", "onnx.GlobalMaxPool", "onnx.Cast",
})
#: Ops whose results are means of operand 0's values (within its interval).
AVERAGING_OPS = frozenset({"core.mean", "core.avg_pool2d", "onnx.ReduceMean", "onnx.AveragePool",
                           "onnx.GlobalAveragePool"})
#: Ops that bound their result whatever the input.
BOUNDED_OPS = {"core.softmax": (0.0, 1.0), "onnx.Softmax": (0.0, 1.0), "core.sin": (-1.0, 1.0),
               "core.cos": (-1.0, 1.0), "onnx.Sin": (-1.0, 1.0), "onnx.Cos": (-1.0, 1.0)}
#: Binary ops on two varying operands: interval arithmetic.
BINARY_OPS = {"core.add": "add", "core.sub": "sub", "core.mul": "mul", "core.div": "div", "core.maximum": "max",
              "core.minimum": "min", "onnx.Add": "add", "onnx.Sub": "sub", "onnx.Mul": "mul", "onnx.Div": "div",
              "onnx.Max": "max", "onnx.Min": "min"}
#: Weighted sums: the output-channel axis of the weight (operand 1) and whether operand 2 is a per-channel bias.
WEIGHTED_OPS: dict[str, Callable[[Op], int]] = {
    "core.conv2d": lambda op: 0,
    "core.depthwise_conv2d": lambda op: 3 if op.attr("layout") == "NHWC" else 0,
    "core.fully_connected": lambda op: 0,
    "onnx.Conv": lambda op: 0,
    "onnx.Gemm": lambda op: 0 if int(op.attr("transB", 0)) else 1,
    "onnx.MatMul": lambda op: 1,
}
#: ONNX ops that apply one function to each element (broadcasting any constant operands).
ONNX_ELEMENTWISE = frozenset({
    "onnx.Relu", "onnx.Clip", "onnx.Sigmoid", "onnx.Tanh", "onnx.Exp", "onnx.Log", "onnx.Sqrt", "onnx.Abs",
    "onnx.Neg", "onnx.Erf", "onnx.LeakyRelu", "onnx.HardSwish", "onnx.HardSigmoid", "onnx.Add", "onnx.Sub",
    "onnx.Mul", "onnx.Div", "onnx.Pow", "onnx.PRelu", "onnx.Max", "onnx.Min", "onnx.Elu", "onnx.Selu",
    "onnx.Softplus", "onnx.Gelu", "onnx.Reciprocal", "onnx.Floor", "onnx.Ceil", "onnx.Round", "onnx.Sign",
    "onnx.Cast", "onnx.Identity",
})
#: Where elementwise functions of one varying operand turn (hard_swish, swish, gelu; |x|, x^2 at 0).
TURNING_POINTS = (0.0, -3.0, 3.0, -1.5, -1.2784645, -0.7517916, -1.0, 1.0, 6.0)


@dataclass(frozen=True)
class Estimate:
    """What data-free propagation knows of one tensor: a sound ``interval``, a ``likely`` range inside it,
    and the mean and variance of its values."""

    interval: Range
    likely: Range
    mean: float
    variance: float

    @staticmethod
    def uniform(value_range: Range) -> "Estimate":
        """A tensor spread evenly over ``value_range``."""
        low, high = value_range
        return Estimate(value_range, value_range, (low + high) / 2.0, (high - low) ** 2 / 12.0)

    @property
    def range(self) -> Range:
        """The likely range, kept inside the interval."""
        return intersect(self.likely, self.interval)


# -- interval arithmetic -------------------------------------------------------------------------------
def _binary(how: str, a: Range, b: Range) -> Optional[Range]:
    if how == "add":
        return a[0] + b[0], a[1] + b[1]
    if how == "sub":
        return a[0] - b[1], a[1] - b[0]
    if how == "max":
        return max(a[0], b[0]), max(a[1], b[1])
    if how == "min":
        return min(a[0], b[0]), min(a[1], b[1])
    if how == "div":
        if b[0] <= 0.0 <= b[1]:
            return None
        b = (1.0 / b[1], 1.0 / b[0])
    products = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
    return min(products), max(products)


def activation_bounds(op: Op) -> Optional[Range]:
    """The interval of the op's fused activation, or None when it has none."""
    activation = op.attrs.get("activation")
    if isinstance(activation, str) and activation != "none" and activation in ACTIVATION_BOUNDS:
        return ACTIVATION_BOUNDS[activation]
    return None


def _with_activation(op: Op, value_range: Range) -> Range:
    """The range after the op's fused activation clamp (if it has one)."""
    bounds = activation_bounds(op)
    return value_range if bounds is None else intersect(value_range, bounds)


def channel_weights(op: Op) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """A weighted-sum op's constant weights as ``[channels, inputs]`` and its bias per channel (zeros when
    it has none), or None when they are not constants."""
    weight = op.operand(1)
    if op.kind not in WEIGHTED_OPS or weight is None or weight.const_value is None:
        return None
    w = np.asarray(weight.const_value, dtype=np.float64)
    if op.kind in ("onnx.Gemm", "onnx.MatMul") and w.ndim != 2:
        return None
    axis = WEIGHTED_OPS[op.kind](op) % w.ndim
    w = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    bias = np.zeros(w.shape[0])
    extra = op.operand(2)
    if extra is not None:
        array = extra.const_value
        if array is None or np.size(array) not in (1, w.shape[0]):
            return None
        bias = bias + np.asarray(array, dtype=np.float64).reshape(-1)
    if op.kind == "onnx.Gemm":
        if int(op.attr("transA", 0)):
            return None
        w = w * float(op.attr("alpha", 1.0))
        bias = bias * float(op.attr("beta", 1.0))
    return w, bias


def _weighted_interval(op: Op, source: Range) -> Optional[Range]:
    """Per output channel: bias + (sum of positive weights) * x + (sum of negative weights) * x, x in the
    input interval widened to 0 (padding); the extremes over channels."""
    found = channel_weights(op)
    if found is None:
        return None
    w, bias = found
    positive, negative = np.clip(w, 0, None).sum(axis=1), np.clip(w, None, 0).sum(axis=1)
    low, high = min(source[0], 0.0), max(source[1], 0.0)
    out_low = bias + positive * low + negative * high
    out_high = bias + positive * high + negative * low
    return _with_activation(op, (float(np.min(out_low)), float(np.max(out_high))))


def is_elementwise(op: Op) -> bool:
    """Whether ``op`` applies one function to each element (core unary/binary ops, the ONNX list above)."""
    return op.kind in ONNX_ELEMENTWISE or isinstance(lookup_op_def(op.kind), (UnaryOp, BinaryOp))


def _elementwise(op: Op, ranges: list[Optional[Range]]) -> Optional[Range]:
    """An elementwise op of one varying operand (the others constant): its own kernel at the interval's
    ends and turning points, broadcast against the constants."""
    source, first = ranges[0], op.operand(0)
    if source is None or first is None or first.type.rank is None or not is_elementwise(op):
        return None
    if any(v is not None and v.const_value is None for v in op.operands[1:]):
        return None
    points = [source[0], source[1]] + [t for t in TURNING_POINTS if source[0] < t < source[1]]
    probe = np.asarray(points, dtype=first.type.dtype).reshape((-1,) + (1,) * max(first.type.rank - 1, 0))
    try:
        out = evaluate_op(op, [probe] + [v.const_value if v is not None else None for v in op.operands[1:]])
    except (QCompilerError, ValueError, IndexError):  # a kernel that insists on the real shape: no rule for it
        return None
    array = np.asarray(out[0], dtype=np.float64)
    if array.size == 0 or not np.isfinite(array).all():
        return None
    return float(array.min()), float(array.max())


def _batch_norm(op: Op, source: Range, sigmas: float) -> Optional[Range]:
    """onnx.BatchNormalization: the exact affine image of the input interval, narrowed to the statistics'
    beta +- sigmas * |gamma| (the normalized input is about standard normal)."""
    arrays = [v.const_value if v is not None else None for v in op.operands[1:5]]
    if len(arrays) < 4 or any(a is None for a in arrays):
        return None
    gamma, beta, mean, var = (np.asarray(a, dtype=np.float64) for a in arrays)
    scale = gamma / np.sqrt(var + float(op.attr("epsilon", 1e-5)))
    ends = np.stack([(source[0] - mean) * scale + beta, (source[1] - mean) * scale + beta])
    exact = (float(ends.min()), float(ends.max()))
    statistics = (float(np.min(beta - sigmas * np.abs(gamma))), float(np.max(beta + sigmas * np.abs(gamma))))
    return intersect(exact, statistics)


def _onnx_pad_value(op: Op) -> float:
    """The constant an onnx.Pad fills with (0 unless its constant_value operand says otherwise)."""
    fill = op.operand(2)
    array = None if fill is None else fill.const_value
    return float(np.asarray(array).reshape(-1)[0]) if array is not None and np.size(array) else 0.0


def _reduced_count(op: Op) -> Optional[int]:
    source, out = op.operand(0).type, op.result.type
    if not (source.is_static and out.is_static):
        return None
    return max(1, source.num_elements // max(1, out.num_elements))


def _layer_norm(op: Op, ranges: list[Optional[Range]]) -> Optional[Range]:
    """A normalized row of N values lies within +-sqrt(N - 1); then scale and bias."""
    source = op.operand(0).type
    if source.shape is None or not isinstance(source.shape[int(op.attr("axis")) % source.rank], int):
        return None
    bound = float(np.sqrt(max(source.shape[int(op.attr("axis")) % source.rank] - 1, 1)))
    result: Optional[Range] = (-bound, bound)
    for index, how in ((1, "mul"), (2, "add")):
        if op.operand(index) is not None:
            if ranges[index] is None or result is None:
                return None
            result = _binary(how, result, ranges[index])
    return result


def _matmul(op: Op, ranges: list[Optional[Range]]) -> Optional[Range]:
    """Products of the two intervals, times the contraction length."""
    a = op.operand(0).type
    if ranges[0] is None or ranges[1] is None or a.shape is None:
        return None
    k = a.shape[-2] if op.attr("adj_x", False) else a.shape[-1]
    if not isinstance(k, int):
        return None
    product = _binary("mul", ranges[0], ranges[1])
    return None if product is None else (min(product[0] * k, 0.0), max(product[1] * k, 0.0))


def interval_of(op: Op, ranges: list[Optional[Range]], sigmas: float) -> Optional[Range]:
    """The range of ``op``'s results from its operands' ranges (None where no rule applies); sound for
    every rule but a batch norm's (statistics)."""
    kind = op.kind
    source = ranges[0] if ranges else None
    if kind in MOVING_OPS:
        if source is None:
            return None
        if kind in ("core.pad", "onnx.Pad"):
            fill = float(op.attr("value", 0.0)) if kind == "core.pad" else _onnx_pad_value(op)
            source = union([source, (fill, fill)])
        return _with_activation(op, source)
    if kind in AVERAGING_OPS:
        return None if source is None else _with_activation(op, source)
    if kind in ("core.concat", "onnx.Concat"):
        present = [r for r, v in zip(ranges, op.operands) if v is not None]
        return union(present) if present and all(r is not None for r in present) else None
    if kind in ("core.sum", "onnx.ReduceSum"):
        count = _reduced_count(op)  # a sum of n values in [lo, hi] lies in [n * lo, n * hi]
        return None if count is None or source is None else (source[0] * count, source[1] * count)
    if kind in BOUNDED_OPS:
        return BOUNDED_OPS[kind]
    if kind in WEIGHTED_OPS and channel_weights(op) is not None:
        return None if source is None else _weighted_interval(op, source)
    if kind == "onnx.BatchNormalization":
        return None if source is None else _batch_norm(op, source, sigmas)
    if kind == "core.layer_norm":
        return _layer_norm(op, ranges)
    if kind in ("core.batch_matmul", "onnx.MatMul"):
        return _matmul(op, ranges)
    if kind in BINARY_OPS and all(v is not None and v.const_value is None for v in op.operands[:2]):
        if ranges[0] is None or ranges[1] is None:
            return None
        result = _binary(BINARY_OPS[kind], ranges[0], ranges[1])
        return None if result is None else _with_activation(op, result)
    return _elementwise(op, ranges)


# -- statistics ----------------------------------------------------------------------------------------
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


def _normal_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * np.square(x)) / math.sqrt(2.0 * math.pi)


def clipped_normal_moments(mean: np.ndarray, std: np.ndarray, bounds: Range) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of clip(X, low, high) for X ~ N(mean, std^2), elementwise (infinite bounds allowed)."""
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    low, high = bounds
    safe = np.where(std > 0, std, 1.0)
    alpha, beta = (low - mean) / safe, (high - mean) / safe
    cdf_a, cdf_b = _normal_cdf(alpha), _normal_cdf(beta)
    pdf_a, pdf_b = _normal_pdf(alpha), _normal_pdf(beta)
    below = low * cdf_a if math.isfinite(low) else 0.0
    above = high * (1.0 - cdf_b) if math.isfinite(high) else 0.0
    below2 = low * low * cdf_a if math.isfinite(low) else 0.0
    above2 = high * high * (1.0 - cdf_b) if math.isfinite(high) else 0.0
    a_pdf = alpha * pdf_a if math.isfinite(low) else 0.0
    b_pdf = beta * pdf_b if math.isfinite(high) else 0.0
    inside = cdf_b - cdf_a
    first = below + above + mean * inside + std * (pdf_a - pdf_b)
    second = (below2 + above2 + (mean ** 2 + std ** 2) * inside + 2 * mean * std * (pdf_a - pdf_b)
              + std ** 2 * (a_pdf - b_pdf))
    point = np.clip(mean, low, high)
    first = np.where(std > 0, first, point)
    second = np.where(std > 0, second, point * point)
    return first, np.maximum(second - first * first, 0.0)


def _pooled(means: np.ndarray, variances: np.ndarray) -> tuple[float, float]:
    """Mean and variance of the mixture of channels (one tensor-wide figure)."""
    mean = float(np.mean(means))
    return mean, max(float(np.mean(variances + means * means)) - mean * mean, 0.0)


def _gaussian(op: Op, means: np.ndarray, variances: np.ndarray, sigmas: float) -> tuple[Range, float, float]:
    """The likely range (channels' mean +- sigmas std, then the fused activation) and the moments after it."""
    std = np.sqrt(variances)
    likely = _with_activation(op, (float(np.min(means - sigmas * std)), float(np.max(means + sigmas * std))))
    bounds = activation_bounds(op)
    if bounds is not None:
        means, variances = clipped_normal_moments(means, std, bounds)
    mean, variance = _pooled(np.atleast_1d(means), np.atleast_1d(variances))
    return likely, mean, variance


def _statistics(op: Op, operands: list[Optional[Estimate]], sigmas: float) -> Optional[tuple[Range, float, float]]:
    """The likely range and moments of a weighted sum or of a sum/difference/product of two tensors."""
    source = operands[0] if operands else None
    if source is None:
        return None
    if op.kind in WEIGHTED_OPS:
        found = channel_weights(op)
        if found is None:
            return None
        w, bias = found
        return _gaussian(op, bias + w.sum(axis=1) * source.mean, np.square(w).sum(axis=1) * source.variance,
                         sigmas)
    how = BINARY_OPS.get(op.kind)
    other = operands[1] if len(operands) > 1 else None
    if how not in ("add", "sub", "mul") or other is None:
        return None
    if how == "mul":
        mean = source.mean * other.mean
        second = (source.variance + source.mean ** 2) * (other.variance + other.mean ** 2)
        variance = second - mean * mean
    else:
        mean = source.mean + other.mean if how == "add" else source.mean - other.mean
        variance = source.variance + other.variance
    return _gaussian(op, np.array([mean]), np.array([max(variance, 0.0)]), sigmas)


def estimate_of(op: Op, operands: list[Optional[Estimate]], sigmas: float) -> Optional[Estimate]:
    """What data-free propagation knows of ``op``'s results, from what it knows of its operands."""
    interval = interval_of(op, [e.interval if e else None for e in operands], sigmas)
    if interval is None:
        return None
    statistics = _statistics(op, operands, sigmas)
    if statistics is not None:
        likely, mean, variance = statistics
        return Estimate(interval, likely, mean, variance)
    likely = interval_of(op, [e.likely if e else None for e in operands], sigmas) or interval
    source = operands[0] if operands else None
    if source is not None and (op.kind in MOVING_OPS or op.kind in AVERAGING_OPS):
        bounds = activation_bounds(op)
        mean, variance = source.mean, source.variance
        if bounds is not None:
            clipped = clipped_normal_moments(np.array([mean]), np.array([math.sqrt(variance)]), bounds)
            mean, variance = float(clipped[0][0]), float(clipped[1][0])
        return Estimate(interval, likely, mean, variance)
    uniform = Estimate.uniform(intersect(likely, interval))
    return Estimate(interval, likely, uniform.mean, uniform.variance)


def data_free_ranges(graph: Graph, input_range: Range, sigmas: float = 6.0) -> dict[Value, Range]:
    """Ranges for every float value of ``graph`` that has none, propagated from the inputs' recorded ranges
    (``input_range`` for inputs without one); values no rule covers are left out. Recorded ranges are kept
    and propagate as tensors spread evenly over them."""
    known: dict[int, Estimate] = {}
    found: dict[Value, Range] = {}
    for value in graph.inputs:
        if is_float_tensor(value):
            recorded = get_range(graph, value)
            known[id(value)] = Estimate.uniform(recorded or input_range)
            if recorded is None:
                found[value] = input_range
    for op in graph:
        targets = [v for v in op.results if is_float_tensor(v) and not v.is_const]
        if not targets:
            continue
        recorded = [get_range(graph, v) for v in targets]
        operands: list[Optional[Estimate]] = []
        for value in op.operands:
            if value is not None and id(value) in known:
                operands.append(known[id(value)])
            elif value is not None and value.is_const and get_range(graph, value) is not None:
                operands.append(Estimate.uniform(get_range(graph, value)))
            else:
                operands.append(None)
        estimate = estimate_of(op, operands, sigmas) if None in recorded else None
        for value, old in zip(targets, recorded):
            if old is not None:
                known[id(value)] = Estimate.uniform(old)
            elif estimate is not None:
                known[id(value)] = estimate
                found[value] = estimate.range
    return found
