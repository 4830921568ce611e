"""Core ops for dense layers and normalizations: fully_connected, batch_matmul, softmax, layer_norm and the
reductions (mean, sum, reduce_max, reduce_min). Each mirrors a TFLite builtin operator."""

from __future__ import annotations

from typing import Optional, TYPE_CHECKING

import numpy as np

from qcompiler.ops.core_common import (
    CoreOp, activation_attr, apply_activation, axes_attr, axis_attr, bool_attr, broadcast_shapes, computed,
    fail, float_attr, operand_type)
from qcompiler.ops.registry import op as register_op
from qcompiler.types import TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op


@register_op("core.fully_connected")
class FullyConnected(CoreOp):
    """out[..., n] = sum_k input[..., k] * weight[n, k] + bias[n], then the fused activation
    (TFLite FULLY_CONNECTED with keep_num_dims: leading dims are kept)."""

    operands = ("input", "weight", "bias?")
    attrs = {"activation": "none"}

    def infer(self, op: Op) -> TensorType:
        source, weight = operand_type(op, 0), operand_type(op, 1)
        activation_attr(op)
        if weight.rank != 2:
            raise fail(op, f"weight must be [N, K], got rank {weight.rank}")
        if source.rank < 1 or source.shape[-1] != weight.shape[1]:
            raise fail(op, f"input's last dim {source.shape[-1] if source.rank else '-'} "
                           f"does not match the weight's K={weight.shape[1]}")
        if op.operand(2) is not None:
            bias = operand_type(op, 2)
            if bias.shape != (weight.shape[0],):
                raise fail(op, f"bias must be [{weight.shape[0]}], got {bias.shape}")
        return computed(source, source.shape[:-1] + (weight.shape[0],))

    def evaluate(self, op: Op, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None) -> np.ndarray:
        out = np.matmul(x, weight.T)
        if bias is not None:
            out = out + bias
        return apply_activation(out.astype(x.dtype, copy=False), op.attr("activation"))


@register_op("core.batch_matmul")
class BatchMatmul(CoreOp):
    """Batched matrix product of the last two dims, batch dims broadcast; ``adj_x``/``adj_y`` transpose the
    last two dims of a/b first (TFLite BATCH_MATMUL)."""

    operands = ("a", "b")
    attrs = {"adj_x": False, "adj_y": False}

    def infer(self, op: Op) -> TensorType:
        a, b = operand_type(op, 0), operand_type(op, 1)
        if a.rank < 2 or b.rank < 2:
            raise fail(op, "operands need rank 2 or more")
        a_rows, a_cols = a.shape[-2:][::-1] if bool_attr(op, "adj_x") else a.shape[-2:]
        b_rows, b_cols = b.shape[-2:][::-1] if bool_attr(op, "adj_y") else b.shape[-2:]
        if a_cols != b_rows:
            raise fail(op, f"inner dims differ: {a_cols} and {b_rows}")
        batch = broadcast_shapes(op, a.shape[:-2], b.shape[:-2])
        return computed(a, batch + (a_rows, b_cols))

    def evaluate(self, op: Op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if op.attr("adj_x"):
            a = np.swapaxes(a, -1, -2)
        if op.attr("adj_y"):
            b = np.swapaxes(b, -1, -2)
        return np.matmul(a, b).astype(op.result.type.dtype, copy=False)


@register_op("core.softmax")
class Softmax(CoreOp):
    """exp(beta * x) normalized along ``axis`` (TFLite SOFTMAX works on the last axis; backends transpose)."""

    operands = ("input",)
    attrs = {"axis": -1, "beta": 1.0}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        axis_attr(op, "axis", source.rank)
        float_attr(op, "beta")
        return computed(source, source.shape)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        axis = int(op.attr("axis"))
        scaled = x * np.asarray(op.attr("beta"), dtype=x.dtype)
        shifted = np.exp(scaled - np.max(scaled, axis=axis, keepdims=True))
        return (shifted / np.sum(shifted, axis=axis, keepdims=True)).astype(x.dtype, copy=False)


@register_op("core.layer_norm")
class LayerNorm(CoreOp):
    """(x - mean) / sqrt(var + epsilon) * scale + bias, statistics over the dims from ``axis`` to the last
    (ONNX LayerNormalization's meaning); scale and bias broadcast against those dims."""

    operands = ("input", "scale?", "bias?")
    attrs = {"axis": -1, "epsilon": 1e-5}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        axis = axis_attr(op, "axis", source.rank)
        float_attr(op, "epsilon")
        normalized = source.shape[axis:]
        for index in (1, 2):
            if op.operand(index) is not None:
                shape = operand_type(op, index).shape
                if len(shape) > len(normalized) or broadcast_shapes(op, normalized, shape) != tuple(normalized):
                    raise fail(op, f"operand {index} of shape {shape} does not broadcast to the normalized "
                                   f"dims {normalized}")
        return computed(source, source.shape)

    def evaluate(self, op: Op, x: np.ndarray, scale: Optional[np.ndarray] = None,
                 bias: Optional[np.ndarray] = None) -> np.ndarray:
        axes = tuple(range(int(op.attr("axis")) % x.ndim, x.ndim))
        mean = np.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        variance = np.mean(centered * centered, axis=axes, keepdims=True)
        out = centered / np.sqrt(variance + np.asarray(op.attr("epsilon"), dtype=x.dtype))
        if scale is not None:
            out = out * scale
        if bias is not None:
            out = out + bias
        return out.astype(x.dtype, copy=False)


class ReduceOp(CoreOp):
    """A reduction over ``axes`` (kept as size-1 dims when ``keepdims``); ``reduce`` holds the numpy function."""

    operands = ("input",)
    attrs = {"axes": [-1], "keepdims": False}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        axes = axes_attr(op, "axes", source.rank)
        keep = bool_attr(op, "keepdims")
        shape = [1 if i in axes else d for i, d in enumerate(source.shape) if keep or i not in axes]
        return computed(source, shape)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        axes = tuple(sorted({a % x.ndim for a in op.attr("axes")}))
        out = type(self).reduce(x, axis=axes, keepdims=bool(op.attr("keepdims")))
        return np.asarray(out).astype(op.result.type.dtype, copy=False)


def _reduction(kind: str, reduce, doc: str) -> type[ReduceOp]:
    cls = type(kind.split(".")[1].title().replace("_", "") + "Op", (ReduceOp,),
               {"__doc__": doc, "reduce": staticmethod(reduce)})
    return register_op(kind)(cls)


Mean = _reduction("core.mean", np.mean, "Mean over axes (TFLite MEAN).")
Sum = _reduction("core.sum", np.sum, "Sum over axes (TFLite SUM).")
ReduceMax = _reduction("core.reduce_max", np.max, "Maximum over axes (TFLite REDUCE_MAX).")
ReduceMin = _reduction("core.reduce_min", np.min, "Minimum over axes (TFLite REDUCE_MIN).")
ReduceProd = _reduction("core.reduce_prod", np.prod, "Product over axes (TFLite REDUCE_PROD).")
