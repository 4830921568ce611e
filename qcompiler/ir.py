"""The graph IR: SSA values with use lists, ops in an ordered graph, and a builder to edit them.

A ``Graph`` is one function: graph inputs, ops in execution order (an intrusive linked list, so
insertion and erasure are O(1)), and a terminating ``return`` op whose operands are the outputs.
Constants are ``const`` ops whose ``value`` attribute holds a numpy array that is never copied.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.types import TensorType

if TYPE_CHECKING:
    from qcompiler.ops.registry import OpDef

CONST = "const"
RETURN = "return"


@dataclass(frozen=True)
class Use:
    """One use of a value: operand ``index`` of ``op``."""

    op: "Op"
    index: int


class Value:
    """An SSA value: produced once (by an op, or as a graph input), used by any number of operands."""

    __slots__ = ("type", "name", "producer", "result_index", "uses", "__weakref__")

    def __init__(self, type: TensorType, name: Optional[str] = None,
                 producer: Optional["Op"] = None, result_index: int = 0) -> None:
        self.type = type
        self.name = name
        self.producer = producer
        self.result_index = result_index
        self.uses: list[Use] = []

    def __repr__(self) -> str:
        return f"<Value %{self.name} : {self.type}>"

    @property
    def is_graph_input(self) -> bool:
        """Whether the value is an argument of its graph."""
        return self.producer is None

    @property
    def const_value(self) -> Optional[np.ndarray]:
        """The array if this value is a constant, else None."""
        if self.producer is not None and self.producer.kind == CONST:
            return self.producer.attrs["value"]
        return None

    @property
    def is_const(self) -> bool:
        """Whether a ``const`` op produces this value."""
        return self.producer is not None and self.producer.kind == CONST

    @property
    def users(self) -> list["Op"]:
        """The distinct ops that use this value, in use order (the return op included)."""
        seen: dict[int, Op] = {}
        for use in self.uses:
            seen.setdefault(id(use.op), use.op)
        return list(seen.values())

    @property
    def is_graph_output(self) -> bool:
        """Whether the graph returns this value."""
        return any(use.op.kind == RETURN for use in self.uses)

    def has_one_use(self) -> bool:
        """Whether exactly one operand uses this value."""
        return len(self.uses) == 1

    def has_other_users(self, op: "Op") -> bool:
        """Whether an op other than ``op`` (or the graph's return) uses this value."""
        return any(use.op is not op for use in self.uses)

    def replace_all_uses_with(self, other: "Value") -> None:
        """Make every user of this value use ``other`` instead."""
        if other is self:
            return
        for use in list(self.uses):
            use.op.set_operand(use.index, other)


def _remove_use(value: Value, op: "Op", index: int) -> None:
    """Remove the one use ``(op, index)`` from ``value``'s use list, searching from both ends at once so that
    erasing the users of a widely shared value (a constant) in order or in reverse order stays cheap."""
    uses = value.uses
    low, high = 0, len(uses) - 1
    while low <= high:
        use = uses[low]
        if use.op is op and use.index == index:
            del uses[low]
            return
        use = uses[high]
        if use.op is op and use.index == index:
            del uses[high]
            return
        low += 1
        high -= 1


class Op:
    """An operation: a dialect-qualified kind, operands, results, attributes and a source location.

    ``loc`` is the name of the user's node the op came from; rewrites keep it so that errors and reports
    can point at it.
    """

    __slots__ = ("kind", "_operands", "results", "attrs", "loc", "graph", "prev", "next", "__weakref__")

    def __init__(self, kind: str, operands: Sequence[Optional[Value]], result_types: Sequence[TensorType],
                 attrs: Optional[dict[str, Any]] = None, loc: Optional[str] = None,
                 result_names: Optional[Sequence[Optional[str]]] = None) -> None:
        self.kind = kind
        self._operands: list[Optional[Value]] = []
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.loc = loc
        self.graph: Optional[Graph] = None
        self.prev: Optional[Op] = None
        self.next: Optional[Op] = None
        names = list(result_names) if result_names is not None else [None] * len(result_types)
        self.results = [Value(t, n, self, i) for i, (t, n) in enumerate(zip(result_types, names))]
        for value in operands:
            self._append_operand(value)

    def __repr__(self) -> str:
        return f"<Op {self.kind} loc={self.loc!r}>"

    # -- operands and results ---------------------------------------------------------------
    @property
    def operands(self) -> tuple[Optional[Value], ...]:
        """The operands (None stands for an omitted optional operand)."""
        return tuple(self._operands)

    def operand(self, index: int) -> Optional[Value]:
        """Operand ``index``, or None when it is omitted or beyond the operand list."""
        return self._operands[index] if index < len(self._operands) else None

    @property
    def num_operands(self) -> int:
        """Number of operand slots (omitted optional operands included)."""
        return len(self._operands)

    @property
    def result(self) -> Value:
        """The single result of a one-result op."""
        if len(self.results) != 1:
            raise QCompilerError(f"{self.kind} has {len(self.results)} results, not one", self.loc)
        return self.results[0]

    def _append_operand(self, value: Optional[Value]) -> None:
        self._operands.append(value)
        if value is not None:
            value.uses.append(Use(self, len(self._operands) - 1))

    def set_operand(self, index: int, value: Optional[Value]) -> None:
        """Replace operand ``index``, keeping use lists right."""
        old = self._operands[index]
        if old is value:
            return
        if old is not None:
            _remove_use(old, self, index)
        self._operands[index] = value
        if value is not None:
            value.uses.append(Use(self, index))

    def set_operands(self, values: Sequence[Optional[Value]]) -> None:
        """Replace the whole operand list."""
        self.drop_operands()
        for value in values:
            self._append_operand(value)

    def drop_operands(self) -> None:
        """Remove every operand (and this op's uses of them)."""
        for index, old in enumerate(self._operands):
            if old is not None:
                _remove_use(old, self, index)
        self._operands = []

    # -- attributes -------------------------------------------------------------------------
    def attr(self, name: str, default: Any = None) -> Any:
        """An attribute, or its default from the op definition, or ``default``."""
        if name in self.attrs:
            return self.attrs[name]
        from qcompiler.ops.registry import lookup_op_def

        definition = lookup_op_def(self.kind)
        if definition is not None and name in definition.attrs:
            return definition.attrs[name]
        return default

    @property
    def definition(self) -> OpDef:
        """The registered ``OpDef`` for this op's kind (raises for unknown kinds)."""
        from qcompiler.ops.registry import get_op_def

        return get_op_def(self.kind)

    @property
    def dialect(self) -> str:
        """The dialect prefix of the kind (``onnx`` for ``onnx.Conv``; empty for builtins)."""
        return self.kind.split(".", 1)[0] if "." in self.kind else ""

    @property
    def is_erased(self) -> bool:
        """Whether the op is no longer in a graph."""
        return self.graph is None

    # -- editing ----------------------------------------------------------------------------
    def erase(self) -> None:
        """Remove the op from its graph; its results must have no uses left."""
        for value in self.results:
            if value.uses:
                users = ", ".join(sorted({u.op.kind for u in value.uses}))
                raise QCompilerError(f"cannot erase {self.kind}: its result is still used by {users}", self.loc)
        self.drop_operands()
        if self.graph is not None:
            self.graph._unlink(self)

    def replace_with(self, values: Union[Value, Sequence[Value]]) -> None:
        """Replace all uses of the results with ``values`` and erase the op."""
        values = [values] if isinstance(values, Value) else list(values)
        if len(values) != len(self.results):
            raise QCompilerError(f"{self.kind} has {len(self.results)} results, got {len(values)} replacements",
                                 self.loc)
        for old, new in zip(self.results, values):
            old.replace_all_uses_with(new)
        self.erase()

    def move_before(self, other: "Op") -> None:
        """Move this op right before ``other`` in the same graph."""
        graph = self.graph
        assert graph is not None and other.graph is graph
        graph._unlink(self)
        graph._link_before(self, other)


class Graph:
    """One function: inputs, ops in execution order, and outputs (the operands of its return op).

    ``attrs`` holds graph-level facts such as the ONNX opset (``onnx.opset``) the onnx ops follow.
    """

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.attrs: dict[str, Any] = {}
        self.first: Optional[Op] = None
        self.last: Optional[Op] = None
        self._count = 0
        self.return_op = Op(RETURN, [], [])
        self.output_names: list[str] = []
        self._insertion_point: Optional[Op] = None  # insert before this op; None = at the end
        self._names = itertools.count()

    # -- inputs and outputs ----------------------------------------------------------------
    def add_input(self, name: str, type: TensorType) -> Value:
        """Append a graph input."""
        value = Value(type, name)
        self.inputs.append(value)
        return value

    @property
    def outputs(self) -> tuple[Value, ...]:
        """The returned values, in order."""
        return tuple(v for v in self.return_op.operands if v is not None)

    def set_outputs(self, values: Sequence[Value], names: Optional[Sequence[str]] = None) -> None:
        """Set the returned values and their names (default: the values' names)."""
        values = list(values)
        if names is None:
            names = [v.name or f"output_{i}" for i, v in enumerate(values)]
        if len(names) != len(values):
            raise QCompilerError("need one name per graph output")
        self.return_op.set_operands(values)
        self.output_names = list(names)

    def input(self, name: str) -> Value:
        """The graph input called ``name``."""
        for value in self.inputs:
            if value.name == name:
                return value
        known = ", ".join(v.name or "?" for v in self.inputs)
        raise QCompilerError(f"the graph has no input '{name}' (its inputs: {known})")

    @property
    def opset(self) -> int:
        """The ONNX opset version that ``onnx.*`` ops follow."""
        return int(self.attrs.get("onnx.opset", 17))

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Op]:
        """Ops in order. Safe while the current op is erased or ops are inserted after it (those are visited)."""
        op = self.first
        while op is not None:
            following = op.next
            yield op
            if op.graph is self:
                following = op.next
            while following is not None and following.graph is not self:
                following = following.next
            op = following

    @property
    def ops(self) -> list[Op]:
        """A snapshot of the ops in order."""
        result = []
        op = self.first
        while op is not None:
            result.append(op)
            op = op.next
        return result

    def __len__(self) -> int:
        return self._count

    def ops_of_kind(self, *kinds: str) -> list[Op]:
        """The ops whose kind is one of ``kinds``, in order."""
        return [op for op in self if op.kind in kinds]

    def values(self) -> Iterator[Value]:
        """Every value: inputs, then results in op order."""
        yield from self.inputs
        for op in self:
            yield from op.results

    # -- linking ----------------------------------------------------------------------------
    def _link_before(self, op: Op, before: Optional[Op]) -> None:
        """Link ``op`` into the op list before ``before`` (at the end when None); the mirror of ``_unlink``."""
        if op.graph is not None:
            raise QCompilerError(f"{op.kind} is already in a graph", op.loc)
        op.graph = self
        op.prev, op.next = (self.last, None) if before is None else (before.prev, before)
        if op.prev is not None:
            op.prev.next = op
        else:
            self.first = op
        if op.next is not None:
            op.next.prev = op
        else:
            self.last = op
        self._count += 1

    def _unlink(self, op: Op) -> None:
        if op.prev is not None:
            op.prev.next = op.next
        else:
            self.first = op.next
        if op.next is not None:
            op.next.prev = op.prev
        else:
            self.last = op.prev
        op.graph = None
        # keep op.next so an iterator standing on an erased op can move on
        op.prev = None
        self._count -= 1

    # -- building ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def inserting_before(self, op: Optional[Op]) -> Iterator[Graph]:
        """New ops go right before ``op`` (at the end when None) inside the ``with`` block."""
        saved = self._insertion_point
        self._insertion_point = op
        try:
            yield self
        finally:
            self._insertion_point = saved

    @contextlib.contextmanager
    def inserting_after(self, op: Op) -> Iterator[Graph]:
        """New ops go right after ``op`` (in creation order) inside the ``with`` block."""
        with self.inserting_before(op.next) as graph:
            yield graph

    def insert(self, op: Op) -> Op:
        """Insert a detached op at the insertion point."""
        self._link_before(op, self._insertion_point)
        return op

    def create(self, kind: str, operands: Sequence[Optional[Value]], attrs: Optional[dict[str, Any]] = None,
               result_types: Optional[Sequence[TensorType]] = None, loc: Optional[str] = None,
               result_names: Optional[Sequence[Optional[str]]] = None) -> Op:
        """Create an op at the insertion point; result types are inferred by its definition if not given."""
        if result_types is None:
            from qcompiler.ops.registry import infer_result_types

            probe = Op(kind, operands, [], attrs, loc)
            probe.graph = self  # never linked: only lets inference read graph facts such as the onnx opset
            try:
                result_types = infer_result_types(probe)
            finally:
                probe.drop_operands()
        op = Op(kind, operands, result_types, attrs, loc, result_names)
        return self.insert(op)

    def const(self, array: np.ndarray, name: Optional[str] = None, loc: Optional[str] = None) -> Value:
        """A constant value holding ``array`` (not copied)."""
        array = np.asarray(array)
        return self.create(CONST, [], {"value": array}, [TensorType.of(array)], loc, [name]).result

    def fresh_name(self, hint: str = "v") -> str:
        """A value name not yet produced by this method, for readable dumps."""
        return f"{hint}.{next(self._names)}"

    # -- whole-graph helpers ---------------------------------------------------------------
    def erase_unused(self, ops: Iterable[Op]) -> int:
        """Erase those of ``ops`` whose results are unused; returns how many were erased."""
        erased = 0
        for op in ops:
            if op.graph is self and all(not v.uses for v in op.results):
                op.erase()
                erased += 1
        return erased

    def clone(self) -> "Graph":
        """A deep copy of the structure; constant arrays are shared, not copied."""
        copy = Graph(self.name)
        copy.attrs = dict(self.attrs)
        mapping: dict[int, Value] = {}
        for value in self.inputs:
            mapping[id(value)] = copy.add_input(value.name, value.type)
        for op in self:
            operands = [None if v is None else mapping[id(v)] for v in op.operands]
            new = copy.insert(Op(op.kind, operands, [v.type for v in op.results], dict(op.attrs), op.loc,
                                 [v.name for v in op.results]))
            for old_value, new_value in zip(op.results, new.results):
                mapping[id(old_value)] = new_value
        copy.set_outputs([mapping[id(v)] for v in self.outputs], self.output_names)
        return copy
