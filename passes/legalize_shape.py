"""legalize patterns for ONNX's data-movement ops: Reshape/Flatten/Squeeze/Unsqueeze (to a static
core.reshape), Transpose, Concat, Pad, Slice, Gather, Split and Expand."""

from __future__ import annotations

from qcompiler.ir import Op
from qcompiler.rewrite import RewritePattern, Rewriter
from qcompiler.passes.legalize_common import (const_of, ints_input, normalize_axis, replace_checked,
                                              scalar_input, static_shape)


class ReshapeToCore(RewritePattern):
    """Reshape / Flatten / Squeeze / Unsqueeze whose result shape is static -> core.reshape {shape}."""

    root = ("onnx.Reshape", "onnx.Flatten", "onnx.Squeeze", "onnx.Unsqueeze")

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        shape = static_shape(op.result)
        if shape is None or static_shape(op.operand(0)) is None:
            return False
        return replace_checked(rw, op, [rw.create("core.reshape", [op.operand(0)], {"shape": list(shape)}).result])


class TransposeToCore(RewritePattern):
    """Transpose -> core.transpose {perm} (ONNX's default perm reverses the dims)."""

    root = "onnx.Transpose"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        rank = op.operand(0).type.rank
        if rank is None:
            return False
        perm = [int(p) for p in op.attr("perm", list(range(rank))[::-1])]
        return replace_checked(rw, op, [rw.create("core.transpose", [op.operand(0)], {"perm": perm}).result])


class ConcatToCore(RewritePattern):
    """Concat -> core.concat with a non-negative axis."""

    root = "onnx.Concat"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        rank = op.result.type.rank
        if rank is None or any(v is None for v in op.operands):
            return False
        axis = normalize_axis(int(op.attr("axis")), rank)
        return replace_checked(rw, op, [rw.create("core.concat", list(op.operands), {"axis": axis}).result])


class PadToCore(RewritePattern):
    """Pad (constant mode, constant non-negative pads over every axis) -> core.pad {pads, value}."""

    root = "onnx.Pad"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        mode = op.attr("mode", "constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant" or op.operand(3) is not None or op.operand(0).type.dtype.kind != "f":
            return False
        pads = ints_input(op, "pads", 1, 11)
        value = scalar_input(op, "value", 2, 11, 0.0)
        if pads is None or value is None or min(pads, default=0) < 0:
            return False
        pad = rw.create("core.pad", [op.operand(0)], {"pads": pads, "value": value})
        return replace_checked(rw, op, [pad.result])


class SliceToCore(RewritePattern):
    """Slice with constant starts/ends/axes/steps on a static input -> core.slice over every axis, with the
    bounds clamped as ONNX clamps them (an end before index 0 of a reversed axis becomes -(dim + 1))."""

    root = "onnx.Slice"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        shape = static_shape(op.operand(0))
        starts, ends = ints_input(op, "starts", 1, 10), ints_input(op, "ends", 2, 10)
        axes, steps = ints_input(op, "axes", 3, 10), ints_input(op, "steps", 4, 10)
        if shape is None or None in (starts, ends, axes, steps):
            return False
        axes = axes or list(range(len(starts)))
        steps = steps or [1] * len(starts)
        begin, end, strides = [0] * len(shape), list(shape), [1] * len(shape)
        for axis, start, stop, step in zip(axes, starts, ends, steps):
            axis = normalize_axis(axis, len(shape))
            dim = shape[axis]
            start, stop = (start + dim if start < 0 else start), (stop + dim if stop < 0 else stop)
            if step > 0:
                start, stop = min(max(start, 0), dim), min(max(stop, 0), dim)
            else:
                start, stop = min(max(start, 0), dim - 1), min(max(stop, -1), dim - 1)
                stop = -(dim + 1) if stop == -1 else stop
            begin[axis], end[axis], strides[axis] = start, stop, step
        sliced = rw.create("core.slice", [op.operand(0)], {"begin": begin, "end": end, "strides": strides})
        return replace_checked(rw, op, [sliced.result])


class GatherToCore(RewritePattern):
    """Gather -> core.gather with a non-negative axis."""

    root = "onnx.Gather"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        rank = op.operand(0).type.rank
        if rank is None:
            return False
        axis = normalize_axis(int(op.attr("axis", 0)), rank)
        gathered = rw.create("core.gather", [op.operand(0), op.operand(1)], {"axis": axis})
        return replace_checked(rw, op, [gathered.result])


class SplitToCore(RewritePattern):
    """Split with static result sizes -> core.split {axis, sizes}."""

    root = "onnx.Split"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        rank = op.operand(0).type.rank
        if rank is None or any(not v.type.is_static for v in op.results):
            return False
        axis = normalize_axis(int(op.attr("axis", 0)), rank)
        sizes = [int(v.type.shape[axis]) for v in op.results]
        split = rw.create("core.split", [op.operand(0)], {"axis": axis, "sizes": sizes})
        return replace_checked(rw, op, split.results)


class ExpandToCore(RewritePattern):
    """Expand whose result shape is static -> core.broadcast_to {shape}."""

    root = "onnx.Expand"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        shape = static_shape(op.result)
        if shape is None or const_of(op.operand(1)) is None:
            return False
        expanded = rw.create("core.broadcast_to", [op.operand(0)], {"shape": list(shape)})
        return replace_checked(rw, op, [expanded.result])


PATTERNS = [ReshapeToCore(), TransposeToCore(), ConcatToCore(), PadToCore(), SliceToCore(), GatherToCore(),
            SplitToCore(), ExpandToCore()]
