"""Patterns that push core.transpose ops towards the outputs and cancel them: through layout-agnostic ops
(elementwise ops with constants re-laid, concat, split, pad, slice, reductions, softmax), into a following
fully_connected's weight, and into reshapes when they only move size-1 dims. Used by ``to-nhwc``."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from qcompiler.ir import Op, Value
from qcompiler.ops.core_elementwise import BinaryOp, Cast, UnaryOp
from qcompiler.ops.registry import registered_kinds, lookup_op_def
from qcompiler.rewrite import RewritePattern, Rewriter


def inverse_permutation(perm: Sequence[int]) -> list[int]:
    """The permutation that undoes ``perm``."""
    return [int(i) for i in np.argsort(perm)]


def compose_permutations(first: Sequence[int], second: Sequence[int]) -> list[int]:
    """The single perm of transposing by ``first`` and then by ``second``."""
    return [int(first[i]) for i in second]


def is_identity(perm: Sequence[int]) -> bool:
    """Whether ``perm`` leaves every dim in place."""
    return list(perm) == list(range(len(perm)))


def transpose_of(value: Optional[Value]) -> Optional[Op]:
    """The core.transpose producing ``value``, else None."""
    if value is None or value.producer is None or value.producer.kind != "core.transpose":
        return None
    return value.producer


def replace_keeping_names(rw: Rewriter, op: Op, values: Sequence[Value]) -> None:
    """``rw.replace`` that hands the replaced results' names to unnamed replacements (readable dumps); a
    replacement transpose passes the name on to its unnamed operand, which carries on once transposes cancel."""
    for old, new in zip(op.results, values):
        if new.producer is not None and new.producer.kind == "core.transpose" and new.name is None:
            new = new.producer.operand(0)
        if new.name is None:
            new.name = old.name
    rw.replace(op, list(values))


def _kinds_of(base: type) -> tuple[str, ...]:
    return tuple(kind for kind in registered_kinds() if isinstance(lookup_op_def(kind), base))


class CancelTransposes(RewritePattern):
    """transpose(transpose(x, p1), p2) -> transpose(x, p1 then p2), or x when that is the identity; an
    identity transpose -> its input."""

    root = "core.transpose"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        perm = list(op.attr("perm"))
        inner = transpose_of(op.operand(0))
        if inner is not None:
            perm = compose_permutations(inner.attr("perm"), perm)
            source = inner.operand(0)
        elif is_identity(perm):
            source = op.operand(0)
        else:
            return False
        if is_identity(perm):
            replace_keeping_names(rw, op, [source])
        else:
            replace_keeping_names(rw, op, [rw.create("core.transpose", [source], {"perm": perm}).result])
        return True


class TransposeAsReshape(RewritePattern):
    """A transpose that keeps the order of every dim larger than 1 moves no element: a core.reshape."""

    root = "core.transpose"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = op.operand(0)
        if not source.type.is_static:
            return False
        moved = [p for p in op.attr("perm") if source.type.shape[p] != 1]
        if moved != sorted(moved):
            return False
        reshape = rw.create("core.reshape", [source], {"shape": list(op.result.type.shape)})
        replace_keeping_names(rw, op, [reshape.result])
        return True


class MergeReshapes(RewritePattern):
    """reshape(reshape(x)) -> reshape(x); a reshape to the shape it already has -> its input."""

    root = "core.reshape"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = op.operand(0)
        if source.type.is_static and op.result.type.shape == source.type.shape:
            replace_keeping_names(rw, op, [source])
            return True
        inner = source.producer
        if inner is None or inner.kind != "core.reshape":
            return False
        shape = list(op.result.type.shape)
        replace_keeping_names(rw, op, [rw.create("core.reshape", [inner.operand(0)], {"shape": shape}).result])
        return True


def relaid_constant(array: np.ndarray, rank: int, perm: Sequence[int]) -> Optional[np.ndarray]:
    """The constant c' with transpose(c', perm) == c for a c broadcast against a rank-``rank`` operand
    (a one-element constant needs no change: returned as is), or None if it has a higher rank."""
    if array.size == 1 or array.ndim > rank:
        return array if array.size == 1 else None
    full = array.reshape((1,) * (rank - array.ndim) + array.shape)
    return np.ascontiguousarray(full.transpose(inverse_permutation(perm)))


class SinkThroughElementwise(RewritePattern):
    """unary(transpose(x)) -> transpose(unary(x)); binary(transpose(a), transpose(b)) with equal perms, or
    with a constant (re-laid) or one-element operand -> transpose(binary(a, b'))."""

    def __init__(self) -> None:
        self.unary = _kinds_of(UnaryOp) + _kinds_of(Cast)
        self.binary = _kinds_of(BinaryOp)
        self.root = self.unary + self.binary

    def root_kinds(self) -> tuple[str, ...]:
        """Every unary and binary elementwise kind: the pattern roots on all of them."""
        return self.root

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        if op.kind in self.unary:
            transpose = transpose_of(op.operand(0))
            if transpose is None:
                return False
            perm = transpose.attr("perm")
            new = rw.create(op.kind, [transpose.operand(0)], dict(op.attrs))
        else:
            perm, operands = self.binary_operands(op, rw)
            if perm is None:
                return False
            new = rw.create(op.kind, operands, dict(op.attrs))
        replace_keeping_names(rw, op, [rw.create("core.transpose", [new.result], {"perm": list(perm)}).result])
        return True

    def binary_operands(self, op: Op, rw: Rewriter) -> tuple[Optional[tuple[int, ...]], Optional[list[Value]]]:
        """(perm, new operands) when the binary op can run before the transpose, else (None, None)."""
        transposes = [transpose_of(v) for v in op.operands]
        perms = {tuple(t.attr("perm")) for t in transposes if t is not None}
        if len(perms) != 1:
            return None, None
        perm = perms.pop()
        rank = len(perm)
        if op.result.type.rank != rank:
            return None, None
        operands = []
        for value, transpose in zip(op.operands, transposes):
            if transpose is not None:
                operands.append(transpose.operand(0))
                continue
            array = value.const_value
            relaid = None if array is None or value.type.quant is not None else relaid_constant(array, rank, perm)
            if relaid is None:
                return None, None
            operands.append(value if relaid is array else rw.const(relaid, name=value.name))
        return perm, operands


class SinkThroughConcat(RewritePattern):
    """concat(transpose(x_i, p)...) -> transpose(concat(x_i, axis=p[axis]), p)."""

    root = "core.concat"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        transposes = [transpose_of(v) for v in op.operands]
        if not transposes or any(t is None for t in transposes):
            return False
        perms = {tuple(t.attr("perm")) for t in transposes}
        if len(perms) != 1:
            return False
        perm = list(perms.pop())
        axis = perm[int(op.attr("axis")) % len(perm)]
        concat = rw.create("core.concat", [t.operand(0) for t in transposes], {"axis": axis})
        replace_keeping_names(rw, op, [rw.create("core.transpose", [concat.result], {"perm": perm}).result])
        return True


def _permuted(values: Sequence[int], perm: Sequence[int]) -> list[int]:
    """Per-axis values of a transposed tensor re-indexed for its source: result[perm[i]] = values[i]."""
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = int(values[i])
    return out


def _axis_attrs(op: Op, perm: list[int]) -> dict:
    """Attributes of a single-axis op (split, softmax) with the axis moved to the source's numbering."""
    return {**op.attrs, "axis": perm[int(op.attr("axis")) % len(perm)]}


def _pad_attrs(op: Op, perm: list[int]) -> dict:
    """Pad attributes with begins and ends re-indexed for the source."""
    pads, rank = list(op.attr("pads")), len(perm)
    return {"pads": _permuted(pads[:rank], perm) + _permuted(pads[rank:], perm), "value": op.attr("value")}


def _slice_attrs(op: Op, perm: list[int]) -> dict:
    """Slice bounds re-indexed for the source."""
    return {name: _permuted(op.attr(name), perm) for name in ("begin", "end", "strides")}


class SinkThroughAxisOps(RewritePattern):
    """op(transpose(x, p)) -> transpose(op'(x), p) for every result, for one-input ops whose attributes name
    axes (split, softmax, pad, slice): op' has those attributes re-indexed for x."""

    REMAP = {"core.split": _axis_attrs, "core.softmax": _axis_attrs, "core.pad": _pad_attrs,
             "core.slice": _slice_attrs}
    root = tuple(REMAP)

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        transpose = transpose_of(op.operand(0))
        if transpose is None:
            return False
        perm = list(transpose.attr("perm"))
        new = rw.create(op.kind, [transpose.operand(0)], self.REMAP[op.kind](op, perm))
        replace_keeping_names(rw, op, [rw.create("core.transpose", [r], {"perm": perm}).result for r in new.results])
        return True


class SinkThroughReduction(RewritePattern):
    """reduce(transpose(x, p), axes) -> reduce(x, p[axes]), followed by the transpose that orders the kept
    dims as before (none when it is the identity, e.g. a spatial mean without keepdims)."""

    root = ("core.mean", "core.sum", "core.reduce_max", "core.reduce_min", "core.reduce_prod")

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        transpose = transpose_of(op.operand(0))
        if transpose is None:
            return False
        perm = list(transpose.attr("perm"))
        rank = len(perm)
        axes = sorted({int(a) % rank for a in op.attr("axes")})
        keep = bool(op.attr("keepdims"))
        reduced = rw.create(op.kind, [transpose.operand(0)], {"axes": sorted(perm[a] for a in axes),
                                                             "keepdims": keep})
        if keep:
            after = perm
        else:
            kept = [perm[i] for i in range(rank) if i not in axes]  # source dims, in result order
            after = [sorted(kept).index(d) for d in kept]
        result = reduced.result
        if not is_identity(after):
            result = rw.create("core.transpose", [result], {"perm": after}).result
        replace_keeping_names(rw, op, [result])
        return True


class TransposeIntoFullyConnected(RewritePattern):
    """fully_connected(reshape(transpose(x, p), [B, K]), W) with a constant W -> fully_connected(reshape(x,
    [B, K]), W') where W' has its K columns permuted to x's order (p keeps dim 0, the batch): the flatten
    before a classifier stops needing the NCHW order."""

    root = "core.fully_connected"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        reshape = op.operand(0).producer
        weight = op.operand(1).const_value
        if reshape is None or reshape.kind != "core.reshape" or weight is None or op.operand(1).type.quant:
            return False
        transpose = transpose_of(reshape.operand(0))
        if transpose is None or not reshape.result.has_one_use():
            return False
        perm = list(transpose.attr("perm"))
        shape = transpose.result.type.shape
        if perm[0] != 0 or reshape.result.type.shape != (shape[0], int(np.prod(shape[1:], dtype=np.int64))):
            return False
        inverse = inverse_permutation(perm)
        relaid = weight.reshape((weight.shape[0],) + tuple(shape[1:])).transpose([0] + inverse[1:])
        new_weight = rw.const(np.ascontiguousarray(relaid.reshape(weight.shape)), name=op.operand(1).name)
        flat = rw.create("core.reshape", [transpose.operand(0)], {"shape": list(reshape.result.type.shape)})
        fc = rw.create("core.fully_connected", [flat.result, new_weight, op.operand(2)], dict(op.attrs))
        replace_keeping_names(rw, op, [fc.result])
        return True


def sinking_patterns() -> list[RewritePattern]:
    """Every transpose-sinking and cancelling pattern."""
    return [CancelTransposes(), TransposeAsReshape(), MergeReshapes(), SinkThroughElementwise(),
            SinkThroughConcat(), SinkThroughAxisOps(), SinkThroughReduction(), TransposeIntoFullyConnected()]
