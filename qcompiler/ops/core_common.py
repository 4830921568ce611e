"""Shared building blocks of the core dialect: attribute readers that fail with the op's location,
result-type helpers, broadcasting of (possibly symbolic) shapes and TFLite's fused activations."""

from __future__ import annotations

from typing import Any, Optional, Sequence, TYPE_CHECKING

import numpy as np

from qcompiler.errors import VerificationError
from qcompiler.ops.registry import OpDef
from qcompiler.types import Dim, TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op

#: TFLite's fused activation functions and the interval each clamps to.
ACTIVATION_BOUNDS: dict[str, tuple[float, float]] = {
    "none": (-np.inf, np.inf),
    "relu": (0.0, np.inf),
    "relu6": (0.0, 6.0),
    "relu_n1_to_1": (-1.0, 1.0),
}

#: The layouts of 2-D image ops: batch, spatial and channel axes in that order of letters.
LAYOUTS = ("NHWC", "NCHW")


def fail(op: Op, message: str) -> VerificationError:
    """A verification error about ``op`` that names its kind and carries its location."""
    return VerificationError(f"{op.kind}: {message}", op.loc)


def operand_type(op: Op, index: int) -> TensorType:
    """The type of operand ``index``; ranked types only (core ops need known ranks)."""
    value = op.operand(index)
    if value is None:
        raise fail(op, f"operand {index} is missing")
    if value.type.shape is None:
        raise fail(op, f"operand {index} has unknown rank")
    return value.type


def int_attr(op: Op, name: str) -> int:
    """An integer attribute (bools rejected)."""
    value = op.attr(name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise fail(op, f"attribute '{name}' must be an integer, got {value!r}")
    return int(value)


def float_attr(op: Op, name: str) -> float:
    """A float attribute (ints accepted)."""
    value = op.attr(name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise fail(op, f"attribute '{name}' must be a number, got {value!r}")
    return float(value)


def bool_attr(op: Op, name: str) -> bool:
    """A boolean attribute."""
    value = op.attr(name)
    if not isinstance(value, (bool, np.bool_)):
        raise fail(op, f"attribute '{name}' must be true or false, got {value!r}")
    return bool(value)


def ints_attr(op: Op, name: str, length: Optional[int] = None) -> list[int]:
    """A list-of-integers attribute, optionally of a fixed length."""
    value = op.attr(name)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value):
        raise fail(op, f"attribute '{name}' must be a list of integers, got {value!r}")
    if length is not None and len(value) != length:
        raise fail(op, f"attribute '{name}' must have {length} entries, got {len(value)}")
    return [int(v) for v in value]


def choice_attr(op: Op, name: str, choices: Sequence[str]) -> str:
    """A string attribute restricted to ``choices``."""
    value = op.attr(name)
    if value not in choices:
        raise fail(op, f"attribute '{name}' must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def activation_attr(op: Op) -> str:
    """The op's fused activation name, checked."""
    return choice_attr(op, "activation", tuple(ACTIVATION_BOUNDS))


def apply_activation(x: np.ndarray, activation: str) -> np.ndarray:
    """Apply a fused activation (clamp to its interval)."""
    low, high = ACTIVATION_BOUNDS[activation]
    if activation == "none":
        return x
    return np.clip(x, low, high).astype(x.dtype, copy=False)


def axis_attr(op: Op, name: str, rank: int) -> int:
    """An axis attribute normalized into ``[0, rank)``."""
    axis = int_attr(op, name)
    if not -rank <= axis < max(rank, 1):
        raise fail(op, f"axis {axis} is out of range for rank {rank}")
    return axis % max(rank, 1)


def axes_attr(op: Op, name: str, rank: int) -> list[int]:
    """A list of distinct axes normalized into ``[0, rank)`` and sorted."""
    axes = ints_attr(op, name)
    for axis in axes:
        if not -rank <= axis < rank:
            raise fail(op, f"axis {axis} is out of range for rank {rank}")
    normalized = sorted({a % rank for a in axes})
    if len(normalized) != len(axes):
        raise fail(op, f"attribute '{name}' repeats an axis: {axes}")
    return normalized


def computed(type: TensorType, shape: Sequence[Dim]) -> TensorType:
    """The result type of a computing op: the operand's element type, no quantization parameters."""
    element = type.quant.expressed if type.quant is not None else type.element
    return TensorType(tuple(shape), element)


def moved(type: TensorType, shape: Sequence[Dim]) -> TensorType:
    """The result type of a data-movement op: the operand's element type, per-tensor quantization kept."""
    quant = type.quant if type.quant is not None and not type.quant.is_per_axis else None
    if type.quant is not None and quant is None:
        return TensorType(tuple(shape), type.quant.expressed)
    return TensorType(tuple(shape), type.element, quant)


def broadcast_shapes(op: Op, *shapes: Sequence[Dim]) -> tuple[Dim, ...]:
    """numpy broadcasting of shapes whose dims may be symbols (a symbol only meets 1 or itself)."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    result: list[Dim] = []
    for dims in zip(*padded):
        others = {d for d in dims if d != 1}
        if len(others) > 1:
            raise fail(op, "shapes " + " and ".join("x".join(map(str, s)) or "scalar" for s in shapes)
                       + " do not broadcast")
        result.append(others.pop() if others else 1)
    return tuple(result)


class CoreOp(OpDef):
    """Base of core ops: ``verify`` checks the attributes (through ``infer``) and the declared result types.

    Core ops carry explicit, checked attributes, so a wrong attribute or a result type that disagrees with
    what the op computes is a verification error naming the op's location.
    """

    def verify(self, op: Op) -> None:
        super().verify(op)
        inferred = self.infer(op)
        inferred = [inferred] if isinstance(inferred, TensorType) else list(inferred)
        if len(inferred) != len(op.results):
            raise fail(op, f"has {len(inferred)} result(s) by its attributes, but declares {len(op.results)}")
        for index, (expected, value) in enumerate(zip(inferred, op.results)):
            declared = value.type
            if declared.shape is not None and expected.shape is not None and declared.shape != expected.shape:
                raise fail(op, f"result {index} is declared {_shape_text(declared.shape)}, "
                               f"but the op computes {_shape_text(expected.shape)}")


def _shape_text(shape: Sequence[Any]) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"
