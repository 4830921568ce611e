"""Core data-movement ops with static attributes: reshape, transpose, concat, pad, slice, gather, split,
broadcast_to. They keep per-tensor quantization parameters (values move, they are not recomputed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qcompiler.ops.core_common import (
    CoreOp, axis_attr, fail, float_attr, ints_attr, moved, operand_type)
from qcompiler.ops.registry import op as register_op
from qcompiler.types import TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op


@register_op("core.reshape")
class Reshape(CoreOp):
    """Same elements, new static shape (TFLite RESHAPE); one entry may be -1 and is then inferred.
    Squeeze and unsqueeze are reshapes."""

    operands = ("input",)
    attrs = {"shape": []}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        shape = ints_attr(op, "shape")
        if shape.count(-1) > 1 or any(d < -1 for d in shape):
            raise fail(op, f"shape {shape} may hold one -1 and no other negative size")
        if source.is_static:
            known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
            total = source.num_elements
            if -1 in shape:
                if known == 0 or total % known:
                    raise fail(op, f"cannot reshape {source.shape} to {shape}")
                shape = [total // known if d == -1 else d for d in shape]
            elif known != total:
                raise fail(op, f"cannot reshape {source.shape} ({total} elements) to {shape} ({known})")
        return moved(source, shape)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        return x.reshape(op.result.type.shape if op.result.type.is_static else op.attr("shape"))


@register_op("core.transpose")
class Transpose(CoreOp):
    """Permute the dims: result dim i is input dim perm[i] (TFLite TRANSPOSE)."""

    operands = ("input",)
    attrs = {"perm": []}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        perm = ints_attr(op, "perm")
        if sorted(perm) != list(range(source.rank)):
            raise fail(op, f"perm {perm} is not a permutation of the {source.rank} dims")
        return moved(source, [source.shape[p] for p in perm])

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.transpose(op.attr("perm")))


@register_op("core.concat")
class Concat(CoreOp):
    """Join the inputs along ``axis`` (TFLite CONCATENATION)."""

    operands = ("inputs*",)
    attrs = {"axis": 0}

    def infer(self, op: Op) -> TensorType:
        if not op.operands:
            raise fail(op, "needs at least one input")
        types = [operand_type(op, i) for i in range(len(op.operands))]
        rank = types[0].rank
        axis = axis_attr(op, "axis", rank)
        total = 0
        for t in types:
            if t.rank != rank or any(a != b for i, (a, b) in enumerate(zip(t.shape, types[0].shape)) if i != axis):
                raise fail(op, "inputs differ in shape away from the concatenation axis: "
                               + ", ".join(str(x.shape) for x in types))
            total = total + t.shape[axis] if isinstance(total, int) and isinstance(t.shape[axis], int) else "?"
        shape = list(types[0].shape)
        shape[axis] = total
        return moved(types[0], shape)

    def evaluate(self, op: Op, *inputs: np.ndarray) -> np.ndarray:
        return np.concatenate(inputs, axis=int(op.attr("axis")))


@register_op("core.pad")
class Pad(CoreOp):
    """Constant padding (TFLite PAD / PADV2). ``pads`` uses ONNX's order: all begins, then all ends
    ([b0, b1, ..., e0, e1, ...]); every entry is non-negative (negative pads are slices)."""

    operands = ("input",)
    attrs = {"pads": [], "value": 0.0}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        pads = ints_attr(op, "pads", 2 * source.rank)
        float_attr(op, "value")
        if min(pads, default=0) < 0:
            raise fail(op, f"pads must not be negative, got {pads}")
        rank = source.rank
        shape = [d + pads[i] + pads[i + rank] if isinstance(d, int) else d for i, d in enumerate(source.shape)]
        return moved(source, shape)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        pads, rank = op.attr("pads"), x.ndim
        return np.pad(x, [(pads[i], pads[i + rank]) for i in range(rank)], constant_values=op.attr("value"))


@register_op("core.slice")
class Slice(CoreOp):
    """Strided slice (TFLite STRIDED_SLICE): per dim, numpy's ``x[begin:end:stride]`` with these integers
    (negative indices count from the end, out-of-range ones clamp, as in Python)."""

    operands = ("input",)
    attrs = {"begin": [], "end": [], "strides": []}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        begin, end = ints_attr(op, "begin", source.rank), ints_attr(op, "end", source.rank)
        strides = ints_attr(op, "strides", source.rank)
        if 0 in strides:
            raise fail(op, "strides must not be zero")
        shape = [len(range(*slice(b, e, s).indices(d))) if isinstance(d, int) else "?"
                 for d, b, e, s in zip(source.shape, begin, end, strides)]
        return moved(source, shape)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        index = tuple(slice(b, e, s) for b, e, s in zip(op.attr("begin"), op.attr("end"), op.attr("strides")))
        return np.ascontiguousarray(x[index])


@register_op("core.gather")
class Gather(CoreOp):
    """Take entries of ``input`` along ``axis`` at integer ``indices`` (TFLite GATHER; negative indices count
    from the end). Result shape: input.shape[:axis] + indices.shape + input.shape[axis+1:]."""

    operands = ("input", "indices")
    attrs = {"axis": 0}

    def infer(self, op: Op) -> TensorType:
        source, indices = operand_type(op, 0), operand_type(op, 1)
        axis = axis_attr(op, "axis", source.rank)
        if indices.dtype.kind not in "iu":
            raise fail(op, f"indices must be integers, got {indices.element}")
        return moved(source, source.shape[:axis] + indices.shape + source.shape[axis + 1:])

    def evaluate(self, op: Op, x: np.ndarray, indices: np.ndarray) -> np.ndarray:
        axis = int(op.attr("axis")) % x.ndim
        if indices.size and (indices.max() >= x.shape[axis] or indices.min() < -x.shape[axis]):
            raise fail(op, f"an index is out of range for dim {axis} of size {x.shape[axis]}")
        return np.take(x, indices.astype(np.int64), axis=axis)


@register_op("core.split")
class Split(CoreOp):
    """Cut ``input`` along ``axis`` into pieces of the given ``sizes`` (TFLite SPLIT_V); one result per size."""

    operands = ("input",)
    attrs = {"axis": 0, "sizes": []}
    num_results = None

    def infer(self, op: Op) -> list[TensorType]:
        source = operand_type(op, 0)
        axis = axis_attr(op, "axis", source.rank)
        sizes = ints_attr(op, "sizes")
        if not sizes or min(sizes) < 0:
            raise fail(op, f"sizes must be non-negative and not empty, got {sizes}")
        if isinstance(source.shape[axis], int) and sum(sizes) != source.shape[axis]:
            raise fail(op, f"sizes {sizes} do not add up to dim {axis} of size {source.shape[axis]}")
        return [moved(source, source.shape[:axis] + (s,) + source.shape[axis + 1:]) for s in sizes]

    def evaluate(self, op: Op, x: np.ndarray) -> list[np.ndarray]:
        axis = int(op.attr("axis")) % x.ndim
        return np.split(x, np.cumsum(op.attr("sizes"))[:-1], axis=axis)


@register_op("core.broadcast_to")
class BroadcastTo(CoreOp):
    """Broadcast ``input`` to a static ``shape`` with numpy's rules (TFLite BROADCAST_TO)."""

    operands = ("input",)
    attrs = {"shape": []}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        shape = ints_attr(op, "shape")
        if len(shape) < source.rank or any(
                d != 1 and d != t for d, t in zip(source.shape[::-1], shape[::-1])):
            raise fail(op, f"cannot broadcast {source.shape} to {shape}")
        return moved(source, shape)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.broadcast_to(x, op.attr("shape")))
