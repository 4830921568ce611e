"""Where value ranges (the real ``[min, max]`` a tensor is quantized over) live in the IR, and how to read and
write them.

- A single-result op's range is its attribute ``range = [min, max]``.
- A multi-result op's ``range`` is a list with one ``[min, max]`` (or ``none``) per result.
- A graph input's range is in ``graph.attrs["input_ranges"] = {name: [min, max]}``.
- A constant's range is its ``range`` attribute when a pass set one (a concat that shares one range over
  its inputs), else the min and max of its array.

Attributes print and parse, so ranges survive a textual round trip between ``calibrate``,
``propagate-ranges`` and ``insert-qdq``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Value

RANGE_ATTR = "range"
INPUT_RANGES_ATTR = "input_ranges"
FLOAT_ELEMENTS = frozenset({"f64", "f32", "f16", "bf16"})

Range = tuple[float, float]


def is_float_tensor(value: Value) -> bool:
    """Whether ``value`` holds (unquantized) real numbers, the tensors that get ranges."""
    return value.type.element in FLOAT_ELEMENTS and value.type.quant is None


def _pair(entry: object, where: str) -> Optional[Range]:
    if entry is None:
        return None
    if (not isinstance(entry, (list, tuple)) or len(entry) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in entry)):
        raise QCompilerError(f"{where}: a range must be [min, max] (two numbers), got {entry!r}")
    low, high = float(entry[0]), float(entry[1])
    if math.isnan(low) or math.isnan(high) or low > high:
        raise QCompilerError(f"{where}: range [{low}, {high}] must have min <= max")
    return low, high


def get_range(graph: Graph, value: Value) -> Optional[Range]:
    """The range recorded for ``value``, or None when it has none (constants: their extremes by default)."""
    if value.producer is None:
        table = graph.attrs.get(INPUT_RANGES_ATTR) or {}
        return _pair(table.get(value.name), f"input '{value.name}'")
    op = value.producer
    entry = op.attrs.get(RANGE_ATTR)
    if entry is not None and len(op.results) > 1:
        if not isinstance(entry, (list, tuple)) or len(entry) != len(op.results):
            raise QCompilerError(f"{op.kind} has {len(op.results)} results, so its range must list one "
                                 f"[min, max] or none per result", op.loc)
        entry = entry[value.result_index]
    try:
        found = _pair(entry, op.kind)
    except QCompilerError as error:
        raise QCompilerError(error.message, op.loc) from None
    if found is None and value.is_const:
        array = np.asarray(value.const_value)
        if array.size and array.dtype.kind == "f" and np.isfinite(array).all():
            return float(array.min()), float(array.max())
    return found


def set_range(graph: Graph, value: Value, value_range: Optional[Range]) -> None:
    """Record (or, with None, forget) the range of ``value`` where ``get_range`` finds it."""
    entry = None if value_range is None else [float(value_range[0]), float(value_range[1])]
    if value.producer is None:
        table = dict(graph.attrs.get(INPUT_RANGES_ATTR) or {})
        if entry is None:
            table.pop(value.name, None)
        else:
            table[value.name] = entry
        if table:
            graph.attrs[INPUT_RANGES_ATTR] = table
        else:
            graph.attrs.pop(INPUT_RANGES_ATTR, None)
        return
    op = value.producer
    if len(op.results) == 1:
        if entry is None:
            op.attrs.pop(RANGE_ATTR, None)
        else:
            op.attrs[RANGE_ATTR] = entry
        return
    current = op.attrs.get(RANGE_ATTR)
    entries: list = list(current) if isinstance(current, (list, tuple)) and len(current) == len(op.results) \
        else [None] * len(op.results)
    entries[value.result_index] = entry
    if all(e is None for e in entries):
        op.attrs.pop(RANGE_ATTR, None)
    else:
        op.attrs[RANGE_ATTR] = entries


def union(ranges: Sequence[Range]) -> Range:
    """The smallest range holding all of ``ranges`` (at least one)."""
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def intersect(value_range: Range, bounds: Range) -> Range:
    """``value_range`` clamped into ``bounds``; when they do not overlap, the point of ``bounds`` nearest it."""
    low = min(max(value_range[0], bounds[0]), bounds[1])
    high = max(min(value_range[1], bounds[1]), bounds[0])
    return (low, high) if low <= high else (high, high)
