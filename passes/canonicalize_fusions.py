"""Canonicalization patterns that recognize layers: MatMul/Gemm with a constant weight -> core.fully_connected
(absorbing a following bias Add), Clip(0, 6) -> core.relu6, x * sigmoid(x) -> core.swish, the exporters' erf
GELU -> core.gelu, decomposed LayerNorm and onnx.LayerNormalization -> core.layer_norm (absorbing a following
scale Mul and bias Add). Every constant is checked so the rewrite keeps the meaning."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from qcompiler.ir import Op, Value
from qcompiler.rewrite import RewritePattern, Rewriter
from qcompiler.passes.const_match import (
    float_const, is_scalar_close, per_channel_vector, producer_of, reduce_axes, scalar_const,
    split_const_operand, static_shape)

SQRT2 = math.sqrt(2.0)
#: Relative tolerance for constants that exporters write rounded to float32 (sqrt(2), 0.5, 1.0, 2.0).
CONSTANT_RTOL = 1e-6


# -- fully connected -----------------------------------------------------------------------------------
class MatMulToFullyConnected(RewritePattern):
    """MatMul(x, W) with W a constant [K, N] -> core.fully_connected(x, W^T) (weight [N, K])."""

    root = "onnx.MatMul"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        weight = float_const(op.operand(1))
        if weight is None or weight.ndim != 2 or op.operand(0).type.rank is None or op.operand(0).type.rank < 1:
            return False
        if op.operand(0).type.element != op.result.type.element:
            return False
        rw.replace_with_op(op, "core.fully_connected", [op.operand(0), rw.const(weight.T)], {},
                           [op.result.type])
        return True


class GemmToFullyConnected(RewritePattern):
    """Gemm(A, B, C) with constant B (and C one value per output column, or none), A not transposed ->
    core.fully_connected(A, alpha * B as [N, K], beta * C)."""

    root = "onnx.Gemm"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        weight = float_const(op.operand(1))
        shape = static_shape(op.result)
        if weight is None or shape is None or int(op.attr("transA", 0)) != 0:
            return False
        alpha, beta = float(op.attr("alpha", 1.0)), float(op.attr("beta", 1.0))
        bias = None
        if op.operand(2) is not None and beta != 0.0:
            constant = float_const(op.operand(2))
            vector = None if constant is None else per_channel_vector(constant, shape, -1)
            if vector is None:
                return False
            bias = vector if beta == 1.0 else vector * np.asarray(beta, dtype=vector.dtype)
        operands = [op.operand(0)]
        if int(op.attr("transB", 0)) and alpha == 1.0:
            operands.append(op.operand(1))  # already [N, K]: share the constant
        else:
            weight = weight if int(op.attr("transB", 0)) else weight.T
            operands.append(rw.const(weight if alpha == 1.0 else weight * np.asarray(alpha, dtype=weight.dtype)))
        if bias is not None:
            unchanged = beta == 1.0 and op.operand(2).type.shape == (shape[-1],)
            operands.append(op.operand(2) if unchanged else rw.const(np.ascontiguousarray(bias, dtype=weight.dtype)))
        rw.replace_with_op(op, "core.fully_connected", operands, {}, [op.result.type])
        return True


class BiasIntoFullyConnected(RewritePattern):
    """Add(core.fully_connected(x, W, b), c) with c one value per output -> core.fully_connected(x, W, b + c)."""

    root = "onnx.Add"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        split = split_const_operand(op)
        if split is None:
            return False
        source, constant = split
        fc = producer_of(source, "core.fully_connected")
        shape = static_shape(source)
        if fc is None or shape is None or fc.attr("activation", "none") != "none" or op.result.type != source.type:
            return False
        vector = per_channel_vector(constant, shape, -1) if constant.dtype.kind == "f" else None
        old = float_const(fc.operand(2)) if fc.operand(2) is not None else np.zeros(shape[-1], constant.dtype)
        if vector is None or old is None:
            return False
        bias = (old + vector).astype(source.type.dtype)
        rw.replace_with_op(op, "core.fully_connected", [fc.operand(0), fc.operand(1), rw.const(bias)],
                           dict(fc.attrs), [op.result.type])
        return True


# -- activations ---------------------------------------------------------------------------------------
def clip_bounds(op: Op) -> Optional[tuple[float, float]]:
    """The constant (min, max) of an onnx.Clip (operands since opset 11, attributes before), else None."""
    if op.graph is not None and op.graph.opset < 11:
        return float(op.attr("min", -np.inf)), float(op.attr("max", np.inf))
    bounds = []
    for index, default in ((1, -np.inf), (2, np.inf)):
        value = op.operand(index)
        number = default if value is None else scalar_const(value)
        if number is None:
            return None
        bounds.append(number)
    return bounds[0], bounds[1]


class ClipToRelu6(RewritePattern):
    """Clip(x, 0, 6) -> core.relu6(x)."""

    root = "onnx.Clip"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        if clip_bounds(op) != (0.0, 6.0) or op.operand(0).type.element not in ("f32", "f16", "f64", "bf16"):
            return False
        rw.replace_with_op(op, "core.relu6", [op.operand(0)], {}, [op.result.type])
        return True


class SwishFromSigmoid(RewritePattern):
    """Mul(x, Sigmoid(x)) (either order) -> core.swish(x)."""

    root = "onnx.Mul"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        for x, gate in ((op.operand(0), op.operand(1)), (op.operand(1), op.operand(0))):
            sigmoid = producer_of(gate, "onnx.Sigmoid")
            if sigmoid is not None and sigmoid.operand(0) is x and x.type == op.result.type:
                rw.replace_with_op(op, "core.swish", [x], {}, [op.result.type])
                return True
        return False


def _close_scalar_array(array: np.ndarray, target: float) -> bool:
    """Whether a constant array is one number equal to ``target`` within ``CONSTANT_RTOL``."""
    return array.size == 1 and bool(np.isclose(float(array.reshape(-1)[0]), target, rtol=CONSTANT_RTOL, atol=0.0))


def erf_gate_input(gate: Optional[Value]) -> Optional[Value]:
    """x when ``gate`` is 1 + erf(x / sqrt(2)) (or erf(x * 1/sqrt(2)), operands in any order) used once."""
    add = producer_of(gate, "onnx.Add")
    split = None if add is None else split_const_operand(add)
    if split is None or not _close_scalar_array(split[1], 1.0):
        return None
    erf = producer_of(split[0], "onnx.Erf")
    scaled = None if erf is None else erf.operand(0)
    divide = producer_of(scaled, "onnx.Div")
    if divide is not None and is_scalar_close(divide.operand(1), SQRT2, CONSTANT_RTOL):
        return divide.operand(0)
    multiply = producer_of(scaled, "onnx.Mul")
    split = None if multiply is None else split_const_operand(multiply)
    if split is not None and _close_scalar_array(split[1], 1.0 / SQRT2):
        return split[0]
    return None


def _half_times(value: Optional[Value], other: Value) -> bool:
    """Whether ``value`` is Mul(other, 0.5) (either order), used once."""
    mul = producer_of(value, "onnx.Mul")
    if mul is None:
        return False
    a, b = mul.operand(0), mul.operand(1)
    return (a is other and is_scalar_close(b, 0.5, CONSTANT_RTOL)) or \
        (b is other and is_scalar_close(a, 0.5, CONSTANT_RTOL))


def gelu_input(op: Op) -> Optional[Value]:
    """x when the Mul ``op`` computes x * 0.5 * (1 + erf(x / sqrt(2))) in one of the orders exporters emit."""
    for p, q in ((op.operand(0), op.operand(1)), (op.operand(1), op.operand(0))):
        # (x * gate) * 0.5
        if is_scalar_close(q, 0.5, CONSTANT_RTOL):
            inner = producer_of(p, "onnx.Mul")
            if inner is not None:
                for x, gate in ((inner.operand(0), inner.operand(1)), (inner.operand(1), inner.operand(0))):
                    if erf_gate_input(gate) is x:
                        return x
        # x * (gate * 0.5)
        inner = producer_of(q, "onnx.Mul")
        if inner is not None:
            for gate in (inner.operand(0), inner.operand(1)):
                if erf_gate_input(gate) is p and _half_times(q, gate):
                    return p
        # gate * (x * 0.5)
        x = erf_gate_input(p)
        if x is not None and _half_times(q, x):
            return x
    return None


class GeluFromErf(RewritePattern):
    """x * 0.5 * (1 + erf(x / sqrt(2))), in the association orders exporters emit -> core.gelu(x)."""

    root = "onnx.Mul"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        x = gelu_input(op)
        if x is None or x.type != op.result.type:
            return False
        rw.replace_with_op(op, "core.gelu", [x], {"approximate": False}, [op.result.type])
        return True


# -- layer norm ----------------------------------------------------------------------------------------
def shortest_float(number: np.generic) -> float:
    """A numpy scalar as the shortest Python float that converts back to the same value in its own precision
    (float32 1e-5 reads 1e-05, not 9.999999747378752e-06)."""
    return float(str(number)) if isinstance(number, np.floating) else float(number)


def trailing_axis(axes: Optional[list[int]], rank: int) -> Optional[int]:
    """k when ``axes`` are exactly the trailing axes k..rank-1, else None."""
    if not axes:
        return None
    normalized = sorted(a % rank for a in axes)
    return normalized[0] if normalized == list(range(normalized[0], rank)) else None


def _mean_axis(value: Optional[Value], of: Value, single_use: bool) -> Optional[int]:
    """The normalized axis when ``value`` is ReduceMean(of) over trailing axes with keepdims."""
    mean = producer_of(value, "onnx.ReduceMean", single_use=single_use)
    if mean is None or mean.operand(0) is not of or int(mean.attr("keepdims", 1)) != 1 or of.type.rank is None:
        return None
    return trailing_axis(reduce_axes(mean), of.type.rank)


class LayerNormFromDecomposition(RewritePattern):
    """(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps), over trailing axes -> core.layer_norm(x)."""

    root = "onnx.Div"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        centered, denominator = op.operand(0), op.operand(1)
        sub = producer_of(centered, "onnx.Sub", single_use=False)
        if sub is None:
            return False
        x = sub.operand(0)
        axis = _mean_axis(sub.operand(1), x, single_use=True)
        sqrt = producer_of(denominator, "onnx.Sqrt")
        add = None if sqrt is None else producer_of(sqrt.operand(0), "onnx.Add")
        split = None if add is None else split_const_operand(add)
        if axis is None or split is None or split[1].size != 1 or float(split[1].reshape(-1)[0]) < 0:
            return False
        variance, epsilon = split[0], shortest_float(split[1].reshape(-1)[0])
        mean = producer_of(variance, "onnx.ReduceMean")
        square = None if mean is None else producer_of(mean.operand(0), "onnx.Pow", "onnx.Mul")
        if square is None or _mean_axis(variance, square.result, single_use=True) != axis:
            return False
        if square.kind == "onnx.Pow":
            squares = square.operand(0) is centered and is_scalar_close(square.operand(1), 2.0, CONSTANT_RTOL)
        else:
            squares = square.operand(0) is centered and square.operand(1) is centered
        if not squares or any(use.op not in (square, op) for use in centered.uses) or x.type != op.result.type:
            return False
        rw.replace_with_op(op, "core.layer_norm", [x], {"axis": axis - x.type.rank, "epsilon": epsilon},
                           [op.result.type])
        return True


class LayerNormalizationToCore(RewritePattern):
    """onnx.LayerNormalization(x, scale, bias) (mean/inv-std outputs unused) -> core.layer_norm."""

    root = "onnx.LayerNormalization"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        if any(r.uses for r in op.results[1:]) or op.operand(0).type.rank is None:
            return False
        if op.operand(0).type.element != "f32" and int(op.attr("stash_type", 1)) == 1:
            return False  # ONNX computes the statistics in f32; core.layer_norm in the input's type
        rank = op.operand(0).type.rank
        axis = int(op.attr("axis", -1))
        attrs = {"axis": axis - rank if axis >= 0 else axis, "epsilon": float(op.attr("epsilon", 1e-5))}
        with rw.inserting_before(op):
            new = rw.create("core.layer_norm", list(op.operands), attrs, [op.results[0].type], op.loc,
                            [op.results[0].name])
        rw.replace_value(op.results[0], new.result)
        rw.erase(op)
        return True


def _layer_norm_operand(op: Op) -> Optional[tuple[Op, Value, np.ndarray]]:
    """(the layer_norm, the constant operand, its array) when ``op`` combines the single-use result of a
    core.layer_norm without bias with a constant that broadcasts within the normalized dims, keeping the
    result type."""
    split = split_const_operand(op)
    if split is None:
        return None
    source, array = split
    norm = producer_of(source, "core.layer_norm")
    if norm is None or norm.operand(2) is not None or array.dtype.kind != "f" or op.result.type != source.type:
        return None
    normalized = tuple(source.type.shape[int(norm.attr("axis", -1)):])
    if array.ndim > len(normalized) or not all(isinstance(d, int) for d in normalized):
        return None
    try:
        if tuple(np.broadcast_shapes(normalized, array.shape)) != normalized:
            return None
    except ValueError:
        return None
    constant = op.operand(1) if op.operand(0) is source else op.operand(0)
    return norm, constant, array


class ScaleIntoLayerNorm(RewritePattern):
    """Mul(core.layer_norm(x, scale?) with no bias, gamma) -> core.layer_norm(x, scale * gamma)."""

    root = "onnx.Mul"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        found = _layer_norm_operand(op)
        if found is None:
            return False
        norm, gamma, array = found
        if norm.operand(1) is not None:
            old = float_const(norm.operand(1))
            if old is None:
                return False
            gamma = rw.const((old * array).astype(array.dtype))
        rw.replace_with_op(op, "core.layer_norm", [norm.operand(0), gamma], dict(norm.attrs), [op.result.type])
        return True


class BiasIntoLayerNorm(RewritePattern):
    """Add(core.layer_norm(x, scale?) with no bias, beta) -> core.layer_norm(x, scale, beta)."""

    root = "onnx.Add"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        found = _layer_norm_operand(op)
        if found is None:
            return False
        norm, beta, _ = found
        rw.replace_with_op(op, "core.layer_norm", [norm.operand(0), norm.operand(1), beta], dict(norm.attrs),
                           [op.result.type])
        return True


FUSION_PATTERNS = (MatMulToFullyConnected, GemmToFullyConnected, BiasIntoFullyConnected, ClipToRelu6,
                   SwishFromSigmoid, GeluFromErf, LayerNormFromDecomposition, LayerNormalizationToCore,
                   ScaleIntoLayerNorm, BiasIntoLayerNorm)
"""The pattern classes of this module, in the order canonicalize tries them."""
