"""Op definitions and their registry: one class per op kind holds its operands, attributes, type
inference, verifier and reference semantics, so adding an op touches one place."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Optional, Sequence, TYPE_CHECKING, Union

import numpy as np

from qcompiler.errors import QCompilerError, UnsupportedOpError, VerificationError
from qcompiler.types import TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op

REQUIRED = object()
"""Marks an attribute that has no default and must be given."""

_REGISTRY: dict[str, "OpDef"] = {}
_FALLBACKS: list[Callable[[str], Optional["OpDef"]]] = []


class OpDef:
    """The definition of one op kind.

    ``operands`` names the operands in order; a trailing ``?`` marks an optional one and ``*`` a variadic
    tail. ``attrs`` maps attribute names to defaults (``REQUIRED`` when there is none). ``num_results`` is
    the result count, or None when it varies (then ``infer`` decides).
    """

    kind: ClassVar[str] = ""
    operands: ClassVar[tuple[str, ...]] = ()
    attrs: ClassVar[dict[str, Any]] = {}
    num_results: ClassVar[Optional[int]] = 1

    def infer(self, op: Op) -> Union[TensorType, Sequence[TensorType]]:
        """The result type(s) of ``op`` from its operand types and attributes."""
        raise UnsupportedOpError(f"{self.kind} cannot infer its result types", op.loc)

    def evaluate(self, op: Op, *inputs: Optional[np.ndarray]) -> Union[np.ndarray, Sequence[np.ndarray]]:
        """The result array(s) of ``op`` for the given operand arrays (None for omitted operands)."""
        raise UnsupportedOpError(f"the interpreter has no kernel for {self.kind}", op.loc)

    def verify(self, op: Op) -> None:
        """Check op-specific rules; the default checks operand count, required attributes and result count."""
        required = [n for n in self.operands if not n.endswith(("?", "*"))]
        variadic = any(n.endswith("*") for n in self.operands)
        present = [v for v in op.operands]
        if len(present) < len(required) or (not variadic and len(present) > len(self.operands)):
            raise VerificationError(
                f"{self.kind} takes operands ({', '.join(self.operands)}), got {len(present)}", op.loc)
        for index, name in enumerate(self.operands):
            if not name.endswith(("?", "*")) and index < len(present) and present[index] is None:
                raise VerificationError(f"{self.kind} needs its operand '{name}'", op.loc)
        for name, default in self.attrs.items():
            if default is REQUIRED and name not in op.attrs:
                raise VerificationError(f"{self.kind} needs the attribute '{name}'", op.loc)
        if self.num_results is not None and len(op.results) != self.num_results:
            raise VerificationError(f"{self.kind} has {self.num_results} result(s), got {len(op.results)}", op.loc)


def op(kind: str) -> Callable[[type[OpDef]], type[OpDef]]:
    """Class decorator registering an ``OpDef`` subclass for ``kind``."""

    def register(cls: type[OpDef]) -> type[OpDef]:
        cls.kind = kind
        _REGISTRY[kind] = cls()
        return cls

    return register


def register_fallback(lookup: Callable[[str], Optional[OpDef]]) -> None:
    """Add a function that provides definitions for kinds not registered one by one (e.g. generic onnx ops)."""
    _FALLBACKS.append(lookup)


def _load_builtin_dialects() -> None:
    import qcompiler.ops  # noqa: F401  (registers every built-in dialect)


def lookup_op_def(kind: str) -> Optional[OpDef]:
    """The definition of ``kind``, or None when there is none."""
    _load_builtin_dialects()
    definition = _REGISTRY.get(kind)
    if definition is not None:
        return definition
    for fallback in _FALLBACKS:
        definition = fallback(kind)
        if definition is not None:
            return definition
    return None


def get_op_def(kind: str) -> OpDef:
    """The definition of ``kind``; raises a clear error for unknown kinds."""
    definition = lookup_op_def(kind)
    if definition is None:
        raise UnsupportedOpError(f"unknown op '{kind}'")
    return definition


def registered_kinds() -> list[str]:
    """Every kind registered one by one, sorted."""
    _load_builtin_dialects()
    return sorted(_REGISTRY)


def infer_result_types(op: Op) -> list[TensorType]:
    """The inferred result types of ``op`` as a list."""
    definition = lookup_op_def(op.kind)
    if definition is None:
        raise UnsupportedOpError(f"unknown op '{op.kind}'", op.loc)
    inferred = definition.infer(op)
    if isinstance(inferred, TensorType):
        return [inferred]
    return list(inferred)


def evaluate_op(op: Op, inputs: Sequence[Optional[np.ndarray]]) -> list[np.ndarray]:
    """Run ``op`` on arrays and return its results as a list, checked against the result count."""
    definition = get_op_def(op.kind)
    try:
        out = definition.evaluate(op, *inputs)
    except QCompilerError as error:
        if error.location is None:
            error.location = op.loc
        raise
    results = [out] if isinstance(out, np.ndarray) or np.isscalar(out) else list(out)
    if len(results) != len(op.results):
        raise QCompilerError(f"{op.kind} produced {len(results)} result(s), expected {len(op.results)}", op.loc)
    return [np.asarray(r) for r in results]
