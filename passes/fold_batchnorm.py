"""The ``fold-batchnorm`` pass: fold inference BatchNormalization, and per-channel constant Mul/Add, into
the convolution or matmul that produces their input; a BatchNormalization with no such producer becomes
a per-channel Mul and Add."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler.ir import Graph, Op, Value
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.rewrite import RewritePattern, Rewriter, apply_patterns
from qcompiler.passes.const_match import float_const, per_channel_vector, split_const_operand, static_shape

#: Producers an affine map folds into, with the axis of their output channels.
CHANNEL_AXES = {
    "onnx.Conv": 1,
    "onnx.ConvTranspose": 1,
    "onnx.Gemm": -1,
    "onnx.MatMul": -1,
    "core.fully_connected": -1,
}


@register_pass
@dataclass
class FoldBatchNorm(Pass):
    """Fold BatchNormalization and per-channel constant Mul/Add into the convolution or matmul producing
    their input; a BatchNormalization with no such producer becomes a per-channel Mul and Add."""

    name: ClassVar[str] = "fold-batchnorm"

    def run(self, graph: Graph) -> bool:
        return apply_patterns(graph, [BatchNormIntoProducer(), BatchNormToMulAdd(), MulIntoProducer(),
                                      AddIntoProducer()])


def batchnorm_affine(bn: Op) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(scale, shift) per channel of an inference BatchNormalization with constant statistics, else None."""
    if int(bn.attr("training_mode", 0) or 0) != 0 or len(bn.results) != 1:
        return None
    if int(bn.attrs.get("spatial", 1)) != 1:
        return None
    params = [float_const(bn.operand(i)) for i in range(1, 5)]
    if any(p is None or p.ndim != 1 for p in params):
        return None
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)
    epsilon = float(bn.attr("epsilon", 1e-5))
    scale = gamma / np.sqrt(var + epsilon)
    return scale, beta - mean * scale


def foldable_producer(value: Value, channel_axis: Optional[int] = None) -> Optional[Op]:
    """The conv/matmul producing ``value`` when an affine map on ``value`` can fold into it: ``value`` has no
    other use, its weight is constant, its shape is static, and (when given) ``channel_axis`` is its channel
    axis."""
    op = value.producer
    if op is None or op.kind not in CHANNEL_AXES or len(value.uses) != 1 or static_shape(value) is None:
        return None
    weight = float_const(op.operand(1))
    if weight is None or op.attr("activation", "none") != "none":
        return None
    rank = len(value.type.shape)
    if channel_axis is not None and channel_axis % rank != CHANNEL_AXES[op.kind] % rank:
        return None
    if op.kind == "onnx.MatMul" and (weight.ndim != 2 or rank < 2):
        return None
    if op.kind == "onnx.Gemm" and int(op.attr("transA", 0)) != 0:
        return None
    return op


def fold_affine(producer: Op, scale: np.ndarray, shift: np.ndarray, rw: Rewriter,
                name: Optional[str] = None) -> Optional[Value]:
    """A value equal to ``producer``'s result times ``scale`` plus ``shift`` (per output channel), computed
    by a copy of ``producer`` with rescaled weight and bias; None when the bias cannot be expressed."""
    weight = float_const(producer.operand(1))
    dtype = weight.dtype
    out_type = producer.result.type
    channels = out_type.shape[CHANNEL_AXES[producer.kind]]
    kind = producer.kind
    if kind == "onnx.Conv":
        new_weight = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    elif kind == "onnx.ConvTranspose":
        groups = int(producer.attr("group", 1))
        grouped = weight.reshape((groups, weight.shape[0] // groups) + weight.shape[1:])
        factor = scale.reshape((groups, 1, weight.shape[1]) + (1,) * (weight.ndim - 2))
        new_weight = (grouped * factor).reshape(weight.shape)
    elif kind == "onnx.Gemm":
        transposed = int(producer.attr("transB", 0)) != 0
        new_weight = weight * (scale[:, None] if transposed else scale[None, :])
    elif kind == "onnx.MatMul":
        new_weight = weight * scale[None, :]
    else:  # core.fully_connected: weight [N, K]
        new_weight = weight * scale[:, None]
    bias = _bias_vector(producer, channels)
    if bias is None:
        return None
    new_bias = (bias * scale + shift).astype(dtype)
    operands = [producer.operand(0), rw.const(new_weight.astype(dtype))]
    attrs = dict(producer.attrs)
    if kind == "onnx.MatMul":
        product = rw.create(kind, operands, attrs, result_types=[out_type], loc=producer.loc).result
        if np.any(new_bias):
            product = rw.create("onnx.Add", [product, rw.const(new_bias)], {}, result_types=[out_type],
                                loc=producer.loc).result
        return _named(product, name)
    if kind == "onnx.Gemm":
        attrs["beta"] = 1.0
    operands.append(rw.const(new_bias))
    operands += list(producer.operands[3:])
    return _named(rw.create(kind, operands, attrs, result_types=[out_type], loc=producer.loc).result, name)


def _named(value: Value, name: Optional[str]) -> Value:
    """``value`` renamed to ``name`` (the name of the value it replaces) when there is one."""
    if name is not None:
        value.name = name
    return value


def _bias_vector(producer: Op, channels: int) -> Optional[np.ndarray]:
    """The producer's per-channel bias as float64 (zeros when it has none), or None when it is not constant
    or (for Gemm) not one value per output column."""
    bias_value = producer.operand(2) if producer.kind != "onnx.MatMul" else None
    if bias_value is None:
        return np.zeros(channels)
    bias = float_const(bias_value)
    if bias is None:
        return None
    if producer.kind == "onnx.Gemm":
        vector = per_channel_vector(bias, producer.result.type.shape, -1)
        return None if vector is None else vector.astype(np.float64) * float(producer.attr("beta", 1.0))
    return bias.reshape(-1).astype(np.float64) if bias.size == channels else None


class BatchNormIntoProducer(RewritePattern):
    """BatchNormalization(conv(x, W, b)) -> conv(x, W * s, b * s + t) with s, t the normalization's affine map."""

    root = "onnx.BatchNormalization"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        affine = batchnorm_affine(op)
        producer = foldable_producer(op.operand(0), channel_axis=1)
        if affine is None or producer is None:
            return False
        folded = fold_affine(producer, *affine, rw, name=op.results[0].name)
        if folded is None:
            return False
        rw.replace(op, [folded])
        return True


class BatchNormToMulAdd(RewritePattern):
    """BatchNormalization(x) with no foldable producer -> Add(Mul(x, s), t), per channel (axis 1)."""

    root = "onnx.BatchNormalization"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        affine = batchnorm_affine(op)
        source = op.operand(0)
        if affine is None or source.type.rank is None or source.type.rank < 2:
            return False
        dtype = source.type.dtype
        shape = (-1,) + (1,) * (source.type.rank - 2)
        scale, shift = (a.astype(dtype).reshape(shape) for a in affine)
        scaled = rw.create("onnx.Mul", [source, rw.const(scale)], {}, result_types=[source.type]).result
        out = rw.create("onnx.Add", [scaled, rw.const(shift)], {}, result_types=[op.result.type]).result
        _named(out, op.result.name)
        rw.replace(op, [out])
        return True


class MulIntoProducer(RewritePattern):
    """Mul(conv(x, W, b), c) with c constant per output channel -> conv(x, W * c, b * c)."""

    root = "onnx.Mul"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        return _fold_binary(op, rw, multiply=True)


class AddIntoProducer(RewritePattern):
    """Add(conv(x, W, b), c) with c constant per output channel -> conv(x, W, b + c)."""

    root = "onnx.Add"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        return _fold_binary(op, rw, multiply=False)


def _fold_binary(op: Op, rw: Rewriter, multiply: bool) -> bool:
    split = split_const_operand(op)
    if split is None:
        return False
    source, constant = split
    producer = foldable_producer(source)
    if producer is None or constant.dtype.kind != "f" or op.result.type != source.type:
        return False
    if not multiply and producer.kind == "onnx.MatMul":
        return False  # MatMul has no bias: the Add stays (canonicalize makes the pair a fully_connected)
    vector = per_channel_vector(constant, source.type.shape, CHANNEL_AXES[producer.kind])
    if vector is None:
        return False
    vector = vector.astype(np.float64)
    ones, zeros = np.ones_like(vector), np.zeros_like(vector)
    folded = fold_affine(producer, vector if multiply else ones, zeros if multiply else vector, rw,
                         name=op.result.name)
    if folded is None:
        return False
    rw.replace(op, [folded])
    return True
