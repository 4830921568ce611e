"""The ``q`` dialect's base and its conversions: q.quantize (float -> quantized), q.dequantize (quantized or
f16 -> f32) and q.requantize (quantized -> quantized with other parameters), with TFLite's QUANTIZE and
DEQUANTIZE semantics.

Every q op that computes on integers derives its integer attributes (multipliers, shifts, clamps) from its
operand and result types with ``derive_attrs``, exactly as TFLite's Prepare does; ``lower-quantized`` stores
them on the op, the verifier checks stored values against the derivation and ``evaluate`` uses them.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, TYPE_CHECKING

import numpy as np

from qcompiler.ops.core_common import CoreOp, fail, operand_type
from qcompiler.ops.registry import OpDef
from qcompiler.ops.registry import op as register_op
from qcompiler.quant_math import (
    dequantize, float32_scale, multiply_by_quantized_multiplier, quantize, quantize_multiplier, saturate)
from qcompiler.types import QuantParams, TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op


def declared_result(op: Op) -> TensorType:
    """The op's declared quantized result type (q compute ops do not invent output parameters)."""
    if not op.results:
        raise fail(op, "needs its quantized result type given explicitly")
    declared = op.results[0].type
    if declared.quant is None:
        raise fail(op, f"result must be quantized, got {declared.element}")
    return declared


def tensor_params(op: Op, index: int, storages: Sequence[str], symmetric: bool = False) -> QuantParams:
    """The per-tensor quantization parameters of operand ``index`` (``-1`` for the result), checked to be
    stored in one of ``storages`` and, when ``symmetric``, to have zero point 0."""
    type = declared_result(op) if index == -1 else operand_type(op, index)
    what = "result" if index == -1 else f"operand {index}"
    if type.quant is None or type.quant.is_per_axis:
        raise fail(op, f"{what} must be quantized per tensor, got {_describe(type)}")
    if type.quant.storage not in storages:
        raise fail(op, f"{what} must be stored as {' or '.join(storages)}, got {type.quant.storage}")
    if symmetric and type.quant.zero_point != 0:
        raise fail(op, f"{what} must have zero point 0 ({type.quant.storage} is symmetric), "
                       f"got {type.quant.zero_point}")
    return type.quant


def _describe(type: TensorType) -> str:
    if type.quant is None:
        return type.element
    return f"{type.quant.storage} per-axis" if type.quant.is_per_axis else type.quant.storage


def _plain(value: Any) -> Any:
    """Attribute values as plain Python ints/lists so stored and derived values compare equal."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, bool)):
        return int(value)
    return value


class QuantOp(OpDef):
    """Base of q ops with integer attributes derived from quantized types (TFLite Prepare).

    Mixed in before a core op definition, ``infer`` runs the core op's shape rules and returns the declared
    quantized result type with the computed shape.
    """

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        """The integer attributes TFLite's Prepare computes for ``op`` (none by default)."""
        return {}

    def integer_attrs(self, op: Op) -> dict[str, Any]:
        """The op's integer attributes: the stored ones where present, the derived ones otherwise (integer
        attributes are the ones declared with the default None)."""
        names = [name for name, default in self.attrs.items() if default is None]
        if names and all(name in op.attrs for name in names):
            return {name: _plain(op.attrs[name]) for name in names}
        derived = self.derive_attrs(op)
        return {name: _plain(op.attrs[name]) if name in op.attrs else value for name, value in derived.items()}

    def infer(self, op: Op) -> TensorType:
        computed = super().infer(op)
        declared = declared_result(op)
        return TensorType(computed.shape, declared.element, declared.quant)

    def verify(self, op: Op) -> None:
        super().verify(op)
        if not isinstance(self, CoreOp):  # core ops check their inference in their own verify
            inferred = self.infer(op)
            if op.result.type.shape is not None and inferred.shape != op.result.type.shape:
                raise fail(op, f"result shape {op.result.type.shape} differs from the computed {inferred.shape}")
        for name, value in self.derive_attrs(op).items():
            if name in op.attrs and _plain(op.attrs[name]) != value:
                raise fail(op, f"attribute '{name}' is {_plain(op.attrs[name])}, but the operand and result "
                               f"types give {value}")


@register_op("q.quantize")
class Quantize(QuantOp):
    """float -> quantized (TFLite QUANTIZE): round half away from zero of ``x / scale`` in float32, plus the
    zero point, clamped to the storage range; per-axis parameters quantize each slice with its own."""

    operands = ("input",)

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        if source.quant is not None:
            raise fail(op, "operand is quantized already: use q.requantize to change parameters")
        if source.element not in ("f32", "f16", "f64"):
            raise fail(op, f"operand must be a float tensor, got {source.element}")
        declared = declared_result(op)
        if declared.shape is not None and declared.shape != source.shape:
            raise fail(op, f"result shape {declared.shape} differs from the operand's {source.shape}")
        if declared.quant.is_per_axis and not 0 <= declared.quant.axis < source.rank:
            raise fail(op, f"quantization axis {declared.quant.axis} is out of range for rank {source.rank}")
        return TensorType(source.shape, declared.element, declared.quant)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        return quantize(x, op.result.type.quant)


@register_op("q.dequantize")
class Dequantize(OpDef):
    """quantized (or f16) -> f32 (TFLite DEQUANTIZE): ``float32(double(scale) * (q - zero_point))``."""

    operands = ("input",)

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        if source.quant is None and source.element != "f16":
            raise fail(op, f"operand must be quantized or f16, got {source.element}")
        return TensorType(source.shape, source.quant.expressed if source.quant is not None else "f32")

    def verify(self, op: Op) -> None:
        super().verify(op)
        inferred = self.infer(op)
        if op.result.type.element != inferred.element:
            raise fail(op, f"result must be {inferred.element}, got {op.result.type.element}")

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        quant: Optional[QuantParams] = op.operand(0).type.quant
        if quant is None:
            return np.asarray(x).astype(np.float32)
        return dequantize(x, quant)


@register_op("q.requantize")
class Requantize(QuantOp):
    """quantized -> quantized with other per-tensor parameters (TFLite QUANTIZE between integer types):
    ``(q - zp_in) * multiplier * 2^shift + zp_out``, clamped, the multiplier from ``scale_in / scale_out``."""

    operands = ("input",)
    attrs = {"multiplier": None, "shift": None}
    storages = ("i8", "u8", "i16", "i32")

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        tensor_params(op, 0, self.storages)
        declared = declared_result(op)
        tensor_params(op, -1, self.storages)
        return TensorType(source.shape, declared.element, declared.quant)

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        source, result = tensor_params(op, 0, self.storages), tensor_params(op, -1, self.storages)
        multiplier, shift = quantize_multiplier(float32_scale(source.scale) / float32_scale(result.scale))
        return {"multiplier": multiplier, "shift": shift}

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        source, result = op.operand(0).type.quant, op.result.type.quant
        attrs = self.integer_attrs(op)
        return requantize_values(x, source.zero_point, attrs["multiplier"], attrs["shift"], result)


def requantize_values(x: np.ndarray, zero_point: int, multiplier: int, shift: int, result: QuantParams) -> np.ndarray:
    """TFLite ``Requantize``: rescale integers from one zero point to ``result``'s parameters, saturating."""
    scaled = multiply_by_quantized_multiplier(np.asarray(x, dtype=np.int64) - zero_point, multiplier, shift)
    return saturate(scaled + result.zero_point, result.storage)
