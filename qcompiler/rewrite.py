"""Pattern rewriting: ``RewritePattern``, the ``Rewriter`` patterns edit the graph through, and
``apply_patterns``, a greedy worklist driver in the spirit of MLIR's.

The driver visits every op once, then only the ops a rewrite affected (new ops, users of replaced values,
producers of erased ops' operands), so its cost stays near linear in the graph size. Patterns are dispatched
by their root op kind through a dict. Ops without side effects whose results lose their last use are erased.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any, ClassVar, Iterator, Optional, Sequence, Union

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import RETURN, Graph, Op, Value
from qcompiler.types import TensorType


class ConvergenceError(QCompilerError):
    """Rewriting or a fixed-point group did not reach a fixed point within its budget."""


class RewritePattern:
    """A local rewrite rooted at one op.

    ``root`` is the op kind the pattern applies to (a string), a tuple of kinds, or None for every op.
    ``match_and_rewrite`` either leaves the graph untouched and returns False, or rewrites it through the
    ``Rewriter`` and returns True. Among the patterns of a kind, higher ``benefit`` is tried first.
    """

    root: ClassVar[Union[str, tuple[str, ...], None]] = None
    benefit: ClassVar[int] = 1

    def match_and_rewrite(self, op: Op, rw: "Rewriter") -> bool:
        """Rewrite ``op`` through ``rw`` and return True, or return False without touching the graph."""
        raise NotImplementedError(f"{type(self).__name__} does not implement match_and_rewrite()")

    @property
    def pattern_name(self) -> str:
        """The name errors use for this pattern (its class name)."""
        return type(self).__name__

    def root_kinds(self) -> Optional[tuple[str, ...]]:
        """The kinds this pattern is rooted at, or None for every kind."""
        root = self.root
        if root is None:
            return None
        if isinstance(root, str):
            return (root,)
        kinds = tuple(root)
        if not all(isinstance(k, str) for k in kinds):
            raise QCompilerError(f"pattern {self.pattern_name}: root must be an op kind, a tuple of kinds or None")
        return kinds


# -- side effects and dead ops ----------------------------------------------------------------------
_SIDE_EFFECTS: dict[str, bool] = {}


def has_side_effects(op: Op) -> bool:
    """Whether ``op`` may do more than compute its results (so it must stay even when they are unused).

    An op definition declares effects with a ``has_side_effects = True`` class attribute; ops without a
    definition are assumed to have effects, and so are ops without results.
    """
    if not op.results:
        return True
    effects = _SIDE_EFFECTS.get(op.kind)
    if effects is None:
        from qcompiler.ops.registry import lookup_op_def

        definition = lookup_op_def(op.kind)
        if definition is None:
            return True  # not cached: the kind's dialect may register later
        effects = _SIDE_EFFECTS[op.kind] = bool(getattr(definition, "has_side_effects", False))
    return effects


def is_trivially_dead(op: Op) -> bool:
    """Whether ``op`` can be erased: none of its results is used (graph outputs count as uses) and it has
    no side effects."""
    if op.kind == RETURN:
        return False
    for value in op.results:
        if value.uses:
            return False
    return not has_side_effects(op)


# -- the rewriter ----------------------------------------------------------------------------------
class Rewriter:
    """The only way patterns should edit the graph: every edit is reported to the driver's worklist.

    New ops go before the op being rewritten (or where ``inserting_before``/``inserting_after`` say) and take
    its ``loc`` unless told otherwise, so errors still name the user's node.
    """

    def __init__(self, graph: Graph, worklist: Optional["_Worklist"] = None) -> None:
        self.graph = graph
        self._worklist = worklist
        self._insertion_point: Optional[Op] = None
        self._explicit = False  # False: use the graph's own insertion point
        self.current: Optional[Op] = None
        self.changes = 0

    # -- position ---------------------------------------------------------------------------
    def _set_root(self, op: Op) -> None:
        self.current = op
        self._insertion_point = op
        self._explicit = True
        self.changes = 0

    @contextlib.contextmanager
    def inserting_before(self, op: Optional[Op]) -> Iterator["Rewriter"]:
        """New ops go right before ``op`` (at the end of the graph when None) inside the ``with`` block."""
        if op is not None and op.graph is not self.graph:
            raise QCompilerError(f"cannot insert before {op.kind}: it is not in the graph", op.loc)
        saved = self._insertion_point, self._explicit
        self._insertion_point, self._explicit = op, True
        try:
            yield self
        finally:
            self._insertion_point, self._explicit = saved

    @contextlib.contextmanager
    def inserting_after(self, op: Op) -> Iterator["Rewriter"]:
        """New ops go right after ``op``, in creation order, inside the ``with`` block."""
        with self.inserting_before(op.next) as rw:
            yield rw

    def _push(self, op: Optional[Op]) -> None:
        if self._worklist is not None and op is not None:
            self._worklist.push(op)

    def _push_users(self, value: Value) -> None:
        if self._worklist is not None:
            for use in value.uses:
                self._worklist.push(use.op)

    # -- creating ---------------------------------------------------------------------------
    def create(self, kind: str, operands: Sequence[Optional[Value]], attrs: Optional[dict[str, Any]] = None,
               result_types: Optional[Sequence[TensorType]] = None, loc: Optional[str] = None,
               result_names: Optional[Sequence[Optional[str]]] = None) -> Op:
        """Create an op at the insertion point (types inferred when not given); loc defaults to the
        rewritten op's."""
        if loc is None and self.current is not None:
            loc = self.current.loc
        if not self._explicit:
            op = self.graph.create(kind, operands, attrs, result_types, loc, result_names)
        else:
            point = self._insertion_point
            if point is not None and point.graph is not self.graph:
                raise QCompilerError(f"cannot create {kind} before an erased {point.kind}; erase it after creating "
                                     f"its replacement, or set the insertion point", loc)
            with self.graph.inserting_before(point):
                op = self.graph.create(kind, operands, attrs, result_types, loc, result_names)
        self.changes += 1
        self._push(op)
        return op

    def const(self, array: np.ndarray, name: Optional[str] = None, loc: Optional[str] = None) -> Value:
        """A constant holding ``array`` (not copied), created at the insertion point."""
        array = np.asarray(array)
        return self.create("const", [], {"value": array}, [TensorType.of(array)], loc, [name]).result

    # -- replacing and erasing ---------------------------------------------------------------
    def replace_value(self, old: Value, new: Value) -> None:
        """Make every user of ``old`` use ``new``; ``old``'s producer is erased by the driver if now dead."""
        if old is new:
            return
        self._push_users(old)
        old.replace_all_uses_with(new)
        self._push(new.producer)
        self._push(old.producer)
        self.changes += 1

    def replace(self, op: Op, values: Union[Value, Sequence[Value]]) -> None:
        """Replace every result of ``op`` with ``values`` (one per result) and erase ``op``."""
        values = [values] if isinstance(values, Value) else list(values)
        if len(values) != len(op.results):
            raise QCompilerError(f"{op.kind} has {len(op.results)} result(s), got {len(values)} replacement(s)",
                                 op.loc)
        for old, new in zip(op.results, values):
            if old is not new:
                self._push_users(old)
                old.replace_all_uses_with(new)
                self._push(new.producer)
        self.erase(op)

    def replace_with_op(self, op: Op, kind: str, operands: Sequence[Optional[Value]],
                        attrs: Optional[dict[str, Any]] = None,
                        result_types: Optional[Sequence[TensorType]] = None) -> Op:
        """Create ``kind`` before ``op`` (same loc, same result names) and replace ``op`` with its results."""
        with self.inserting_before(op):
            new = self.create(kind, operands, attrs, result_types, op.loc, [v.name for v in op.results])
        self.replace(op, new.results)
        return new

    def erase(self, op: Op) -> None:
        """Erase ``op``, whose results must be unused; its operands' producers are revisited (maybe dead)."""
        operands = [v for v in op.operands if v is not None]
        op.erase()
        if self._worklist is not None:
            self._worklist.discard(op)
            for value in operands:
                if value.producer is not None:
                    self._worklist.push(value.producer)
        self.changes += 1

    def set_operand(self, op: Op, index: int, value: Optional[Value]) -> None:
        """Change one operand of ``op`` in place; the old operand's producer is revisited (maybe dead)."""
        old = op.operand(index)
        op.set_operand(index, value)
        if old is not None:
            self._push(old.producer)
        self.modified(op)

    def modified(self, op: Op) -> None:
        """Report an in-place change of ``op``'s attributes or operands, so that it and its users are revisited."""
        self._push(op)
        for value in op.results:
            self._push_users(value)
        self.changes += 1

    def fresh_name(self, hint: str = "v") -> str:
        """A value name for readable dumps."""
        return self.graph.fresh_name(hint)


# -- the driver ------------------------------------------------------------------------------------
class _Worklist:
    """A LIFO worklist of ops without duplicates; erased ops are skipped when popped."""

    __slots__ = ("_stack", "_members")

    def __init__(self, ops: Sequence[Op]) -> None:
        self._stack: list[Op] = list(reversed(ops))
        self._members: set[int] = {id(op) for op in ops}

    def push(self, op: Op) -> None:
        """Add ``op`` unless it is already waiting (the return op is never visited)."""
        if op.kind == RETURN:
            return
        key = id(op)
        if key not in self._members:
            self._members.add(key)
            self._stack.append(op)

    def discard(self, op: Op) -> None:
        """Forget an erased op."""
        # the op stays in the stack (keeping its id from being reused) and is skipped as erased when popped
        self._members.discard(id(op))

    def pop(self) -> Optional[Op]:
        """The next op to visit, or None when the worklist is empty."""
        stack = self._stack
        while stack:
            op = stack.pop()
            if id(op) in self._members:
                self._members.discard(id(op))
                return op
        return None


class _PatternTable:
    """Patterns by root kind: specific patterns and every-op patterns merged, highest benefit first."""

    def __init__(self, patterns: Sequence[RewritePattern]) -> None:
        self._specific: dict[str, list[tuple[int, int, RewritePattern]]] = {}
        self._generic: list[tuple[int, int, RewritePattern]] = []
        for order, pattern in enumerate(patterns):
            if not isinstance(pattern, RewritePattern):
                raise QCompilerError(f"apply_patterns expects RewritePattern instances, got {pattern!r}")
            entry = (-pattern.benefit, order, pattern)
            kinds = pattern.root_kinds()
            if kinds is None:
                self._generic.append(entry)
            else:
                for kind in kinds:
                    self._specific.setdefault(kind, []).append(entry)
        self._cache: dict[str, tuple[RewritePattern, ...]] = {}

    def for_kind(self, kind: str) -> tuple[RewritePattern, ...]:
        """The patterns to try on an op of ``kind``, in order."""
        found = self._cache.get(kind)
        if found is None:
            entries = sorted(self._specific.get(kind, []) + self._generic, key=lambda e: (e[0], e[1]))
            found = self._cache[kind] = tuple(e[2] for e in entries)
        return found


def apply_patterns(graph: Graph, patterns: Sequence[RewritePattern], *, max_iterations: int = 10,
                   max_rewrites: Optional[int] = None, erase_dead: bool = True) -> bool:
    """Apply ``patterns`` greedily until none matches; return whether the graph changed.

    Every op is visited once in order; after a rewrite only the affected ops are revisited. With
    ``erase_dead`` ops without side effects whose results are unused are erased when visited. The rewrite
    budget is ``max_rewrites`` or, by default, ``max_iterations`` rewrites per op of the input graph (plus
    ``max_iterations * 100``); exceeding it raises ``ConvergenceError`` naming the patterns that kept firing.
    """
    table = _PatternTable(patterns)
    ops = graph.ops
    budget = max_rewrites if max_rewrites is not None else max_iterations * (len(ops) + 100)
    worklist = _Worklist(ops)
    rw = Rewriter(graph, worklist)
    fired: Counter[str] = Counter()
    rewrites = 0
    changed = False
    while True:
        op = worklist.pop()
        if op is None:
            break
        if op.graph is not graph:
            continue
        if erase_dead and is_trivially_dead(op):
            rw.erase(op)
            changed = True
            continue
        candidates = table.for_kind(op.kind)
        if not candidates:
            continue
        operands = op.operands
        for pattern in candidates:
            rw._set_root(op)
            try:
                rewrote = pattern.match_and_rewrite(op, rw)
            except QCompilerError as error:
                if error.location is None:
                    error.location = op.loc  # name the user's node the failing rewrite was about
                raise
            if rewrote:
                rewrites += 1
                fired[pattern.pattern_name] += 1
                changed = True
                if rewrites > budget:
                    _raise_non_convergence(fired, pattern, op, budget)
                # an in-place edit of the root may have orphaned its old operands: revisit their producers
                for value in operands:
                    if value is not None and value.producer is not None and not value.uses:
                        worklist.push(value.producer)
                if op.graph is graph:
                    worklist.push(op)
                break
            if rw.changes:
                raise QCompilerError(f"pattern {pattern.pattern_name} changed the graph but returned False "
                                     f"(a pattern must return True after rewriting)", op.loc)
    rw.current = None
    return changed


def _raise_non_convergence(fired: Counter, last: RewritePattern, op: Op, budget: int) -> None:
    top = ", ".join(f"{name} ({count}x)" for name, count in fired.most_common(3))
    raise ConvergenceError(f"pattern rewriting did not converge after {budget} rewrites; last applied: "
                           f"{last.pattern_name} on {op.kind}; most applied: {top}", op.loc)


def rewriter_for(graph: Graph) -> Rewriter:
    """A ``Rewriter`` outside the driver, for passes that edit the graph directly (no worklist)."""
    return Rewriter(graph)
