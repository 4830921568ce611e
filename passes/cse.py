"""The ``cse`` pass: common-subexpression elimination. Ops with the same kind, operands, attributes and
result types compute the same values; constants with equal content are the same constant."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar, Hashable

import numpy as np

from qcompiler.ir import RETURN, Graph, Op
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.passes.const_match import is_splat

#: Arrays up to this many elements are hashed whole; larger ones by a fixed sample (then compared in full).
FULL_HASH_ELEMENTS = 4096
SAMPLE_ELEMENTS = 256


@register_pass
@dataclass
class CommonSubexpressionElimination(Pass):
    """Merge ops that compute the same values: same kind, operands, attributes (arrays by content) and
    result types; constants with equal content too. One forward sweep, near linear in the graph's size."""

    name: ClassVar[str] = "cse"

    def run(self, graph: Graph) -> bool:
        seen: dict[Hashable, list[Op]] = {}
        changed = False
        for op in graph:
            if op.kind == RETURN or not op.results:
                continue
            key = op_key(op)
            bucket = seen.setdefault(key, [])
            twin = next((other for other in bucket if same_attrs(op, other)), None)
            if twin is None:
                bucket.append(op)
                continue
            for old, new in zip(op.results, twin.results):
                if new.name is None:
                    new.name = old.name
            op.replace_with(twin.results)
            changed = True
        return changed


def op_key(op: Op) -> Hashable:
    """A hash key of everything that decides an op's results; equal ops have equal keys (arrays hashed)."""
    operands = tuple(None if v is None else id(v) for v in op.operands)
    attrs = tuple(sorted((name, attr_key(value)) for name, value in op.attrs.items()))
    types = tuple(r.type for r in op.results)
    return op.kind, operands, attrs, types


def attr_key(value: Any) -> Hashable:
    """A hashable stand-in for an attribute value; arrays become (dtype, shape, digest of their content)."""
    if isinstance(value, np.ndarray):
        return "array", value.dtype.str, value.shape, array_digest(value)
    if isinstance(value, (list, tuple)):
        return type(value).__name__, tuple(attr_key(v) for v in value)
    if isinstance(value, dict):
        return "dict", tuple(sorted((k, attr_key(v)) for k, v in value.items()))
    if isinstance(value, float) and value != value:
        return "nan"
    try:
        hash(value)
    except TypeError:
        return "repr", repr(value)
    return type(value).__name__, value


def array_digest(array: np.ndarray) -> str:
    """A digest of an array's bytes; big arrays are digested from a fixed sample of elements (no copy of the
    whole array, which may be a zero-stride broadcast view)."""
    if array.dtype == object:
        return hashlib.blake2b(repr(array.tolist()).encode(), digest_size=16).hexdigest()
    if array.size > FULL_HASH_ELEMENTS:
        index = np.linspace(0, array.size - 1, SAMPLE_ELEMENTS).astype(np.int64)
        array = array.flat[index]
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).hexdigest()


def same_attrs(op: Op, other: Op) -> bool:
    """Whether two ops with equal keys really have equal attributes (arrays compared bit for bit)."""
    if op.attrs.keys() != other.attrs.keys():
        return False
    return all(same_value(op.attrs[name], other.attrs[name]) for name in op.attrs)


def same_value(a: Any, b: Any) -> bool:
    """Equality of attribute values, arrays compared by dtype, shape and bits (so -0.0 differs from 0.0)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == object:
            return a.tolist() == b.tolist()
        if is_splat(a) and is_splat(b):  # broadcast views of one element: compare that element
            a, b = a.reshape(-1)[:1], b.reshape(-1)[:1]
        if a.dtype.itemsize in (1, 2, 4, 8) and a.dtype.kind != "b":
            unsigned = np.dtype(f"u{a.dtype.itemsize}")
            return bool(np.array_equal(a.view(unsigned), b.view(unsigned)))
        return bool(np.array_equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return type(a) is type(b) and a == b
