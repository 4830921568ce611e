"""What the legalize patterns share: reading ONNX attributes that moved into operands across opsets, static
shapes, SAME/VALID padding resolution, and replacing an onnx op with a checked core value."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Op, Value
from qcompiler.rewrite import Rewriter


def const_of(value: Optional[Value]) -> Optional[np.ndarray]:
    """The array of an unquantized constant value, else None."""
    if value is None or value.type.quant is not None:
        return None
    return value.const_value


def static_shape(value: Optional[Value]) -> Optional[tuple[int, ...]]:
    """The shape of ``value`` when every dim is a known integer, else None."""
    if value is None or not value.type.is_static:
        return None
    return tuple(value.type.shape)


def ints_input(op: Op, attr: str, index: int, since: int) -> Optional[list[int]]:
    """An integer list that is attribute ``attr`` before opset ``since`` and operand ``index`` from it on.

    Returns [] when neither is given, and None when the operand is given but not constant (not legalizable).
    """
    if op.graph is not None and op.graph.opset < since:
        value = op.attr(attr)
        return [] if value is None else [int(v) for v in value]
    operand = op.operand(index)
    if operand is None:
        return []
    array = const_of(operand)
    return None if array is None else [int(v) for v in np.asarray(array).reshape(-1)]


def scalar_input(op: Op, attr: str, index: int, since: int, default: float) -> Optional[float]:
    """A number that is attribute ``attr`` before opset ``since`` and operand ``index`` from it on (``default``
    when absent; None when the operand is not a one-element constant)."""
    if op.graph is not None and op.graph.opset < since:
        return float(op.attr(attr, default))
    operand = op.operand(index)
    if operand is None:
        return default
    array = const_of(operand)
    if array is None or array.size != 1:
        return None
    return float(np.asarray(array).reshape(-1)[0])


def normalize_axis(axis: int, rank: int) -> int:
    """An axis in ``[0, rank)`` (ONNX allows negative axes)."""
    return axis + rank if axis < 0 else axis


def resolve_padding(op: Op, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int]) -> Optional[list[int]]:
    """ONNX ``auto_pad``/``pads`` of a 2-D window op as explicit ``[top, left, bottom, right]``, or None."""
    auto_pad = op.attr("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad == "NOTSET":
        pads = [int(p) for p in op.attr("pads", [0, 0, 0, 0])]
        return pads if len(pads) == 4 else None
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER") or not all(isinstance(d, int) for d in spatial):
        return None
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def replace_checked(rw: Rewriter, op: Op, values: Sequence[Value]) -> bool:
    """Replace ``op``'s results with core ``values`` after checking that their shapes agree (a legalization
    that changed a shape would silently change the model). Unused results (optional ONNX outputs) may be
    replaced by any value. Returns True for the pattern to return."""
    for old, new in zip(op.results, values):
        if old.uses and old.type.is_static and new.type.shape != old.type.shape:
            raise QCompilerError(f"legalize: {op.kind} became {new.producer.kind if new.producer else 'a value'} "
                                 f"of shape {new.type.shape} instead of {old.type.shape}", op.loc)
        if new.name is None:
            new.name = old.name
    rw.replace(op, list(values))
    return True


def only_first_result_used(op: Op) -> bool:
    """Whether every result but the first is unused (optional ONNX outputs such as MaxPool's Indices)."""
    return all(not value.uses for value in op.results[1:])
