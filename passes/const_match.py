"""Matching helpers for rewrite patterns that look at constant operands: scalars, per-channel vectors,
the producer of a value when only one op uses it. Shared by fold-batchnorm and canonicalize."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from qcompiler.ir import Op, Value


def const_array(value: Optional[Value]) -> Optional[np.ndarray]:
    """The array of a constant, unquantized value, else None."""
    if value is None or value.type.quant is not None:
        return None
    return value.const_value


def float_const(value: Optional[Value]) -> Optional[np.ndarray]:
    """The array of a constant floating-point value, else None."""
    array = const_array(value)
    if array is None or array.dtype.kind != "f":
        return None
    return array


def scalar_const(value: Optional[Value]) -> Optional[float]:
    """The number held by a one-element constant, else None."""
    array = const_array(value)
    if array is None or array.size != 1 or array.dtype.kind not in "fiub":
        return None
    return float(array.reshape(-1)[0])


def is_scalar_close(value: Optional[Value], target: float, rtol: float = 1e-6) -> bool:
    """Whether ``value`` is a one-element constant equal to ``target`` within ``rtol``."""
    number = scalar_const(value)
    return number is not None and bool(np.isclose(number, target, rtol=rtol, atol=0.0))


def producer_of(value: Optional[Value], *kinds: str, single_use: bool = True) -> Optional[Op]:
    """The op producing ``value`` if its kind is one of ``kinds`` (and, by default, ``value`` has one use)."""
    if value is None or value.producer is None or value.producer.kind not in kinds:
        return None
    if single_use and len(value.uses) != 1:
        return None
    return value.producer


def split_const_operand(op: Op) -> Optional[tuple[Value, np.ndarray]]:
    """For a binary op with exactly one constant operand: (the other operand, the constant's array)."""
    if op.num_operands != 2 or op.operand(0) is None or op.operand(1) is None:
        return None
    left, right = const_array(op.operand(0)), const_array(op.operand(1))
    if (left is None) == (right is None):
        return None
    if right is not None:
        return op.operand(0), right
    return op.operand(1), left


def is_splat(array: np.ndarray) -> bool:
    """Whether ``array`` is a broadcast view of a single element (every stride zero)."""
    return array.size > 0 and all(stride == 0 for stride in array.strides)


def static_shape(value: Value) -> Optional[tuple[int, ...]]:
    """The shape of ``value`` when every dimension is known, else None."""
    return tuple(value.type.shape) if value.type.is_static else None


def per_channel_vector(array: np.ndarray, out_shape: Sequence[int], axis: int) -> Optional[np.ndarray]:
    """``array`` as one number per channel of ``axis`` when broadcasting it against ``out_shape`` neither
    changes that shape nor varies along any other axis; None otherwise."""
    rank = len(out_shape)
    if array.ndim > rank or rank == 0:
        return None
    axis = axis % rank
    padded = (1,) * (rank - array.ndim) + tuple(array.shape)
    for index, (size, full) in enumerate(zip(padded, out_shape)):
        if index == axis:
            if size not in (1, full):
                return None
        elif size != 1:
            return None
    channels = int(out_shape[axis])
    return np.broadcast_to(array.reshape(-1) if array.size == channels else array.reshape(1), (channels,))


def reduce_axes(op: Op) -> Optional[list[int]]:
    """The constant reduction axes of an ONNX Reduce* op (attribute before opset 18, operand after), else None."""
    if op.operand(1) is not None:
        axes = const_array(op.operand(1))
        return None if axes is None else [int(a) for a in axes.reshape(-1)]
    axes = op.attrs.get("axes")
    return None if axes is None else [int(a) for a in axes]
