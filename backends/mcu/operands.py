"""Reading a q op's operands for the MCU lowering: static shapes, per-tensor int8 parameters, constant arrays,
the integer attributes its definition derives, and the small shape helpers the kernels' index spaces need."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from qcompiler.errors import UnsupportedOpError
from qcompiler.ir import Op, Value
from qcompiler.ops.registry import get_op_def
from qcompiler.quant_math import activation_range
from qcompiler.types import QuantParams

#: Element types the kernels move, with their byte sizes.
ITEMSIZES = {"i8": 1, "f32": 4}


def shape_of(op: Op, value: Value) -> tuple[int, ...]:
    """The static shape of ``value`` (the C backend plans memory at compile time)."""
    shape = value.type.shape
    if shape is None or any(not isinstance(d, int) for d in shape):
        raise UnsupportedOpError(f"{op.kind}: the MCU backend needs static shapes, got {shape}", op.loc)
    return tuple(int(d) for d in shape)


def params_of(op: Op, value: Value, storage: str = "i8") -> QuantParams:
    """Per-tensor quantization parameters of an activation of ``storage`` type."""
    quant = value.type.quant
    if quant is None or quant.storage != storage or quant.is_per_axis:
        found = value.type.element if quant is None else f"{quant.storage}{' per-axis' if quant.is_per_axis else ''}"
        raise UnsupportedOpError(f"{op.kind}: the MCU backend runs per-tensor {storage} activations, got {found}",
                                 op.loc)
    return quant


def constant_of(op: Op, index: int, dtype) -> Optional[np.ndarray]:
    """The constant array of operand ``index`` (None when the optional operand is absent)."""
    value = op.operand(index)
    if value is None:
        return None
    data = value.const_value
    if data is None:
        raise UnsupportedOpError(f"{op.kind}: operand {index} must be a constant for the MCU backend", op.loc)
    return np.ascontiguousarray(data, dtype=dtype)


def integer_attrs(op: Op) -> dict[str, Any]:
    """The integer attributes of a q op: stored where present, else derived by its definition."""
    return get_op_def(op.kind).integer_attrs(op)


def clamp_of(op: Op) -> tuple[int, int]:
    """The activation clamp of a pooling op: the q op's attributes, or the fused activation of a core op."""
    if op.kind.startswith("q."):
        attrs = integer_attrs(op)
        return int(attrs["act_min"]), int(attrs["act_max"])
    return activation_range(op.attr("activation", "none"), params_of(op, op.result))


def padded4(shape: Sequence[int], op: Op) -> list[int]:
    """``shape`` with leading 1s up to rank 4 (the kernels' index space)."""
    if len(shape) > 4:
        raise UnsupportedOpError(f"{op.kind}: the MCU kernels take at most 4 dims, got {len(shape)}", op.loc)
    return [1] * (4 - len(shape)) + list(shape)


def per_channel(values: Any, channels: int) -> np.ndarray:
    """A multiplier/shift attribute as an int32 array with one entry per channel."""
    return np.broadcast_to(np.asarray(values, dtype=np.int32).reshape(-1), (channels,)).copy()


def requires_nhwc(op: Op) -> None:
    """Window ops must be NHWC (``to-nhwc`` runs before a C backend)."""
    if op.attr("layout", "NHWC") != "NHWC":
        raise UnsupportedOpError(f"{op.kind}: the MCU backend needs NHWC (run to-nhwc first)", op.loc)


def itemsize(op: Op, value: Value) -> int:
    """Bytes per element of an activation the kernels move."""
    try:
        return ITEMSIZES[value.type.element]
    except KeyError:
        raise UnsupportedOpError(f"{op.kind}: the MCU backend moves i8 and f32 tensors, got {value.type.element}",
                                 op.loc) from None


def nbytes(op: Op, value: Value) -> int:
    """Bytes of a statically shaped activation."""
    return int(np.prod(shape_of(op, value))) * itemsize(op, value)
