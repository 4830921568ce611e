"""Canonicalization patterns that forward or merge: drop Identity, inference Dropout, no-op Reshape and Cast;
merge Reshape chains, Transpose chains (cancelling inverse pairs) and constant Mul/Add chains; Sum of one or
two operands."""

from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir import Op, Value
from qcompiler.rewrite import RewritePattern, Rewriter
from qcompiler.passes.const_match import const_array, producer_of, split_const_operand, static_shape

#: ONNX ops that only reshape their first operand (the data); a chain of them is one Reshape.
RESHAPES = ("onnx.Reshape", "onnx.Flatten", "onnx.Squeeze", "onnx.Unsqueeze")


def forward(op: Op, value: Value, rw: Rewriter) -> bool:
    """Replace ``op``'s first result by ``value`` when their types agree and no other result is used."""
    if op.results[0].type != value.type or any(r.uses for r in op.results[1:]):
        return False
    rw.replace_value(op.results[0], value)
    rw.erase(op)
    return True


class RemoveIdentity(RewritePattern):
    """Identity(x) -> x."""

    root = "onnx.Identity"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        return forward(op, op.operand(0), rw)


class RemoveDropout(RewritePattern):
    """Dropout(x) -> x in inference (no training mode, mask unused)."""

    root = "onnx.Dropout"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        training = op.operand(2)
        if training is not None:
            flag = const_array(training)
            if flag is None or bool(flag.reshape(-1)[0]):
                return False
        return forward(op, op.operand(0), rw)


class RemoveNoOpReshape(RewritePattern):
    """Reshape (or Flatten/Squeeze/Unsqueeze) whose result has its operand's static shape -> its operand."""

    root = RESHAPES

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = op.operand(0)
        return static_shape(source) is not None and forward(op, source, rw)


class RemoveNoOpCast(RewritePattern):
    """Cast to the element type its operand already has -> the operand."""

    root = ("onnx.Cast", "onnx.CastLike")

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        return forward(op, op.operand(0), rw)


class MergeReshapes(RewritePattern):
    """Reshape(Reshape(x)) (any of Reshape/Flatten/Squeeze/Unsqueeze) -> one Reshape of x to the static result shape."""

    root = RESHAPES

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        inner = producer_of(op.operand(0), *RESHAPES, single_use=False)
        shape = static_shape(op.result)
        if inner is None or shape is None or 0 in shape:
            return False
        target = rw.const(np.array(shape, dtype=np.int64))
        rw.replace_with_op(op, "onnx.Reshape", [inner.operand(0), target], {}, [op.result.type])
        return True


def transpose_perm(op: Op) -> Optional[list[int]]:
    """The permutation of an onnx.Transpose (reversed axes by default), or None when the rank is unknown."""
    perm = op.attrs.get("perm")
    if perm is not None:
        return [int(p) for p in perm]
    rank = op.operand(0).type.rank
    return None if rank is None else list(reversed(range(rank)))


class MergeTransposes(RewritePattern):
    """Transpose(Transpose(x, p), q) -> Transpose(x, p[q]), or x itself when they cancel."""

    root = "onnx.Transpose"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        perm = transpose_perm(op)
        if perm is not None and perm == list(range(len(perm))):
            return forward(op, op.operand(0), rw)
        inner = producer_of(op.operand(0), "onnx.Transpose", single_use=False)
        if inner is None or perm is None:
            return False
        inner_perm = transpose_perm(inner)
        if inner_perm is None:
            return False
        combined = [inner_perm[axis] for axis in perm]
        if combined == list(range(len(combined))):
            return forward(op, inner.operand(0), rw)
        rw.replace_with_op(op, "onnx.Transpose", [inner.operand(0)], {"perm": combined}, [op.result.type])
        return True


class SimplifySum(RewritePattern):
    """Sum(x) -> x; Sum(x, y) -> Add(x, y)."""

    root = "onnx.Sum"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        if op.num_operands == 1:
            return forward(op, op.operand(0), rw)
        if op.num_operands == 2:
            rw.replace_with_op(op, "onnx.Add", list(op.operands), {}, [op.result.type])
            return True
        return False


def _const_chain(op: Op, inner_kind: str) -> Optional[tuple[Value, np.ndarray, np.ndarray, tuple[int, ...]]]:
    """For op(inner(x, c1), c2) with floating constants and static shapes: (x, c1, c2, result shape)."""
    outer = split_const_operand(op)
    if outer is None:
        return None
    middle, c2 = outer
    inner = producer_of(middle, inner_kind)
    split = None if inner is None else split_const_operand(inner)
    shape = static_shape(op.result)
    if split is None or shape is None:
        return None
    x, c1 = split
    if c1.dtype.kind != "f" or c2.dtype != c1.dtype or static_shape(x) is None:
        return None
    return x, c1, c2, shape


def _broadcast_keeps(shape: tuple[int, ...], *shapes: tuple[int, ...]) -> bool:
    try:
        return tuple(np.broadcast_shapes(*shapes)) == shape
    except ValueError:
        return False


class MergeConstantMuls(RewritePattern):
    """Mul(Mul(x, a), b) -> Mul(x, a * b) with a, b constant."""

    root = "onnx.Mul"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        return _merge_same(op, "onnx.Mul", np.multiply, rw)


class MergeConstantAdds(RewritePattern):
    """Add(Add(x, a), b) -> Add(x, a + b) with a, b constant."""

    root = "onnx.Add"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        return _merge_same(op, "onnx.Add", np.add, rw)


def _merge_same(op: Op, kind: str, combine, rw: Rewriter) -> bool:
    chain = _const_chain(op, kind)
    if chain is None:
        return False
    x, c1, c2, shape = chain
    merged = combine(c1, c2).astype(c1.dtype)
    if not _broadcast_keeps(shape, x.type.shape, merged.shape):
        return False
    rw.replace_with_op(op, kind, [x, rw.const(merged)], {}, [op.result.type])
    return True


class MulBeforeAdd(RewritePattern):
    """Mul(Add(Mul(y, c), a), b) -> Add(Mul(Mul(y, c), b), a * b) with a, b, c constant, so that affine chains
    gather as one Mul and one Add (only when the moved Mul meets another constant Mul to merge with)."""

    root = "onnx.Mul"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        chain = _const_chain(op, "onnx.Add")
        if chain is None:
            return False
        x, a, b, shape = chain
        scale = producer_of(x, "onnx.Mul")
        if scale is None or split_const_operand(scale) is None:
            return False
        shift = (a * b).astype(a.dtype)
        scaled_shape = tuple(np.broadcast_shapes(x.type.shape, b.shape))
        if not _broadcast_keeps(shape, scaled_shape, shift.shape):
            return False
        scaled = rw.create("onnx.Mul", [x, rw.const(b)], {}, [x.type.with_shape(scaled_shape)]).result
        rw.replace_with_op(op, "onnx.Add", [scaled, rw.const(shift)], {}, [op.result.type])
        return True


FORWARDING_PATTERNS = (RemoveIdentity, RemoveDropout, RemoveNoOpReshape, RemoveNoOpCast, MergeReshapes,
                       MergeTransposes, SimplifySum, MergeConstantMuls, MergeConstantAdds, MulBeforeAdd)
"""The pattern classes of this module, in the order canonicalize tries them."""
