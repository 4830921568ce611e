"""The q dialect's nonlinear integer ops with TensorFlow Lite's reference-kernel semantics (BUILTIN_REF).

q.softmax, q.logistic, q.tanh, q.hard_swish, q.gelu, q.exp, q.leaky_relu, q.relu, q.relu6, q.relu_n1_to_1,
q.rsqrt, q.squared_difference. Each op's ``derive_attrs`` is TFLite's Prepare (multipliers, shifts, clamps,
256-entry lookup tables built from float math as the runtime builds them); ``evaluate`` runs the integer
kernel on numpy arrays.
Stored integer attributes are used when present (the verifier checks they equal the derived ones).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, ClassVar, Optional, TYPE_CHECKING

import numpy as np

from qcompiler import fixed_point as fp
from qcompiler.errors import QCompilerError
from qcompiler.ops.core_common import axis_attr, bool_attr, broadcast_shapes, fail, float_attr
from qcompiler.ops.registry import OpDef, op as register_op
from qcompiler.quant_math import (
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_smaller_than_one, quantize_multiplier,
    rounding_divide_by_pot, saturate, saturating_rounding_doubling_high_mul, wrap_int32)
from qcompiler.types import QuantParams, STORAGE_RANGES, TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op

_f32 = np.float32
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _params(op: Op, index: int = 0) -> QuantParams:
    """Per-tensor quantization parameters of operand ``index`` (or of the result for index -1)."""
    value = op.result if index < 0 else op.operand(index)
    what = "its result" if index < 0 else f"operand {index}"
    if value is None or value.type.quant is None:
        raise fail(op, f"{what} must be quantized")
    if value.type.quant.is_per_axis:
        raise fail(op, f"{what} must be quantized per tensor")
    return value.type.quant


class QuantElementwiseOp(OpDef):
    """A quantized elementwise (or row-wise) op: quantized operand(s), one quantized result of their shape.

    ``storages`` lists the supported storage types; ``fixed_output`` maps a storage to the result parameters
    TFLite imposes (scale, zero point), else the result type must be given explicitly. ``derived`` names the
    integer attributes ``derive_attrs`` computes.
    """

    operands = ("input",)
    attrs: dict = {}
    storages: ClassVar[tuple[str, ...]] = ("i8",)
    fixed_output: ClassVar[dict[str, tuple[float, int]]] = {}
    symmetric_storages: ClassVar[tuple[str, ...]] = ("i16",)
    derived: ClassVar[tuple[str, ...]] = ()

    # -- types ----------------------------------------------------------------------------------
    def storage(self, op: Op) -> str:
        """The operand's storage type, checked against the supported ones."""
        params = _params(op, 0)
        if params.storage not in self.storages:
            raise fail(op, f"supports {', '.join(self.storages)} operands, got {params.storage}")
        if params.storage in self.symmetric_storages and params.zero_point != 0:
            raise fail(op, f"{params.storage} operands need zero point 0, got {params.zero_point}")
        return params.storage

    def infer(self, op: Op) -> TensorType:
        source = op.operand(0).type if op.operand(0) is not None else None
        if source is None:
            raise fail(op, "operand 0 is missing")
        storage = self.storage(op)
        if storage in self.fixed_output:
            scale, zero_point = self.fixed_output[storage]
            return TensorType(source.shape, storage, QuantParams.per_tensor(storage, scale, zero_point))
        declared = op.results[0].type if op.results else None
        if declared is None or declared.quant is None:
            raise fail(op, "needs its quantized result type given explicitly")
        return TensorType(source.shape, declared.element, declared.quant)

    def check_output(self, op: Op, expected: TensorType) -> None:
        """Check the declared result parameters against the ones TFLite accepts."""
        declared = op.result.type
        if declared.quant != expected.quant:
            raise fail(op, f"result must be quantized as {_describe(expected.quant)}, got {_describe(declared.quant)}")

    def verify(self, op: Op) -> None:
        super().verify(op)
        expected = self.infer(op)
        declared = op.result.type
        if declared.shape != expected.shape:
            raise fail(op, f"result shape {declared.shape} differs from the operand's {expected.shape}")
        if declared.element != expected.element:
            raise fail(op, f"result is {declared.element} but the operand is {expected.element}")
        _params(op, -1)
        self.check_output(op, expected)
        self.check_attrs(op)
        derived = self.derive_attrs(op)
        for name, value in derived.items():
            if name in op.attrs and _plain(op.attrs[name]) != _plain(value):
                raise fail(op, f"attribute '{name}' = {_short(op.attrs[name])} differs from the derived "
                               f"{_short(value)}")

    def check_attrs(self, op: Op) -> None:
        """Check the op's float attributes (none by default)."""

    # -- integer attributes -----------------------------------------------------------------------
    def derive_attrs(self, op: Op) -> dict[str, Any]:
        """The integer attributes TFLite's Prepare computes from the operand/result parameters."""
        return {}

    def derived_names(self, op: Op) -> tuple[str, ...]:
        """The names of the attributes ``derive_attrs`` gives for this op (they may depend on its storage)."""
        return self.derived

    def integer_attrs(self, op: Op) -> dict[str, Any]:
        """The stored integer attributes when all are present, else the derived ones."""
        names = self.derived_names(op)
        if names and all(name in op.attrs for name in names):
            return {name: op.attrs[name] for name in names}
        return self.derive_attrs(op)

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        storage = self.storage(op)
        out = self.compute(op, np.asarray(x, dtype=np.int64), self.integer_attrs(op))
        return saturate(out, op.result.type.element if op.results else storage)

    def compute(self, op: Op, x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
        """The integer kernel on int64 values."""
        raise NotImplementedError


def _describe(params: Optional[QuantParams]) -> str:
    if params is None:
        return "not quantized"
    return f"{params.storage} scale {params.scales[0]!r} zero point {params.zero_points[0]}"


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def _short(value: Any) -> str:
    text = repr(_plain(value))
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------------------------------------------------------
# Lookup-table ops (8-bit): the table is TFLite's LUTPopulate of a float32 function.


class LookupTableOp(QuantElementwiseOp):
    """An op TFLite's reference kernel runs as a table built from float32 math: 256 entries for int8, 513
    interpolated entries for int16 (where the op lists i16 among its storages)."""

    derived = ("table",)

    def transform(self, op: Op) -> Callable[[np.ndarray], np.ndarray]:
        """The float32 function of the table, rounding each step as the C++ lambda does."""
        raise NotImplementedError

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        source, result = _params(op, 0), _params(op, -1)
        if source.storage == "i16":
            table = fp.lut_populate_int16(source.scale, source.zero_point, result.scale, result.zero_point,
                                          self.transform(op), np.float32)
        else:
            table = fp.lut_populate_8bit(source.scale, source.zero_point, result.scale, result.zero_point,
                                         self.transform(op), source.storage)
        return {"table": [int(v) for v in table]}

    def compute(self, op: Op, x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
        table = np.asarray(attrs["table"], dtype=np.int64)
        storage = self.storage(op)
        size = 513 if storage == "i16" else 256
        if table.shape != (size,):
            raise fail(op, f"attribute 'table' needs {size} entries, got {table.size}")
        if storage == "i16":
            return fp.lut_lookup_int16(x, table)
        return fp.lut_lookup_8bit(x, table, storage)


def _float64_then_float32(function: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """A libm float function (expf, tanhf, erfcf) as the correctly rounded float32 of the float64 result."""
    return lambda x: np.asarray(function(np.asarray(x, dtype=np.float64))).astype(np.float32)


expf = _float64_then_float32(np.exp)
tanhf = _float64_then_float32(np.tanh)
erfcf = _float64_then_float32(_erfc)


def sigmoid_f32(x: np.ndarray) -> np.ndarray:
    """``1.0f / (1.0f + std::exp(-x))`` in float32 (TFLite's LOGISTIC table function)."""
    return _f32(1) / (_f32(1) + expf(-x))


def gelu_f32(x: np.ndarray) -> np.ndarray:
    """TFLite ``GeluTransform``: ``0.5f * x * erfc(x * -M_SQRT1_2)`` in float32."""
    return (_f32(0.5) * x) * erfcf(x * _f32(-math.sqrt(0.5)))


def gelu_approximate_f32(x: np.ndarray) -> np.ndarray:
    """TFLite ``GeluTransformApproximate``: ``0.5f*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715f*x^3)))`` in float32."""
    cubic = ((_f32(0.044715) * x) * x) * x
    inner = _f32(2.0 / math.sqrt(math.pi) * math.sqrt(0.5)) * (x + cubic)
    return (_f32(0.5) * x) * (_f32(1) + tanhf(inner))


@register_op("q.gelu")
class QGelu(LookupTableOp):
    """GELU on int8 (TFLite GELU: a table of the exact erfc form, or of the tanh form if ``approximate``)."""

    attrs = {"approximate": False}

    def check_attrs(self, op: Op) -> None:
        bool_attr(op, "approximate")

    def transform(self, op: Op):
        return gelu_approximate_f32 if op.attr("approximate") else gelu_f32


@register_op("q.exp")
class QExp(LookupTableOp):
    """exp(x) (TFLite EXP: a table of expf; int16 with zero points 0 interpolates a 513-entry table)."""

    storages = ("i8", "i16")

    def transform(self, op: Op):
        return expf


class Int16SigmoidFamily(LookupTableOp):
    """LOGISTIC/TANH: an 8-bit table; int16 runs TFLite's interpolated sigmoid-table kernel instead."""

    storages = ("i8", "i16")
    kernel: ClassVar[Callable[[np.ndarray, int, int], np.ndarray]]
    pot_shifts: ClassVar[tuple[int, ...]]

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        if self.storage(op) == "i8":
            return super().derive_attrs(op)
        return dict(zip(("input_multiplier", "input_left_shift"), int16_input_rescaling(
            _params(op, 0).scale, self.pot_shifts, op)))

    def derived_names(self, op: Op) -> tuple[str, ...]:
        return ("table",) if self.storage(op) == "i8" else ("input_multiplier", "input_left_shift")

    def compute(self, op: Op, x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
        if self.storage(op) == "i8":
            return super().compute(op, x, attrs)
        return type(self).kernel(x, int(attrs["input_multiplier"]), int(attrs["input_left_shift"]))


def int16_input_rescaling(input_scale: float, pot_shifts: tuple[int, ...], op) -> tuple[int, int]:
    """TFLite's int16 LOGISTIC/TANH Prepare: (0, shift) for a power-of-two scale whose shift ``12 + log2``
    is one of ``pot_shifts``, else the multiplier of ``scale * 4096 * 3`` doubled until above 32767/2."""
    is_pot, log2 = fp.checked_log2(input_scale)
    left_shift = 12 + log2
    if is_pot and left_shift in pot_shifts:
        return 0, left_shift
    multiplier = float(_f32(input_scale)) * 4096.0 * 3.0
    left_shift = 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    if multiplier > 2**31 - 1:
        raise fail(op, f"input scale {input_scale} is too large for the int16 kernel")
    return int(multiplier), left_shift


@register_op("q.logistic")
class QLogistic(Int16SigmoidFamily):
    """1 / (1 + exp(-x)) (TFLite LOGISTIC): int8 output 1/256 with zero point -128; int16 output 1/32768."""

    fixed_output = {"i8": (1.0 / 256, -128), "i16": (1.0 / 32768, 0)}
    kernel = staticmethod(fp.logistic_int16)
    pot_shifts = (0,)

    def transform(self, op: Op):
        return sigmoid_f32


@register_op("q.tanh")
class QTanh(Int16SigmoidFamily):
    """tanh(x) (TFLite TANH): int8 output 1/128 with zero point 0; int16 output 1/32768."""

    fixed_output = {"i8": (1.0 / 128, 0), "i16": (1.0 / 32768, 0)}
    kernel = staticmethod(fp.tanh_int16)
    pot_shifts = (0, 1)

    def transform(self, op: Op):
        return tanhf


# ---------------------------------------------------------------------------------------------------------------
# Softmax.

_SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5
_SOFTMAX_ACCUMULATION_INTEGER_BITS = 12


@functools.lru_cache(maxsize=None)
def softmax_int16_tables() -> tuple[np.ndarray, np.ndarray]:
    """TFLite's int16 SOFTMAX tables (built in double): exp(x) on [-10, 0] and 1/(1+x) on [0, 1]."""
    full_range = 65535
    exp_table = fp.lut_populate_int16(10.0 / full_range, 32767, 2.0 / full_range, 0, np.exp, np.float64)
    reciprocal_table = fp.lut_populate_int16(1.0 / full_range, -32768, 2.0 / full_range, 0,
                                             lambda v: 1.0 / (1.0 + v), np.float64)
    return exp_table, reciprocal_table


@register_op("q.softmax")
class QSoftmax(QuantElementwiseOp):
    """exp(beta * x) normalized along ``axis`` (TFLite SOFTMAX; int8 output 1/256 with zero point -128, int16
    output 1/32768). int8 runs gemmlowp's fixed-point exp and reciprocal, int16 TFLite's interpolated tables."""

    attrs = {"axis": -1, "beta": 1.0}
    storages = ("i8", "i16")
    fixed_output = {"i8": (1.0 / 256, -128), "i16": (1.0 / 32768, 0)}
    derived = ("input_multiplier", "input_left_shift", "diff_min")

    def check_attrs(self, op: Op) -> None:
        axis_attr(op, "axis", max(op.operand(0).type.rank or 1, 1))
        float_attr(op, "beta")

    def check_output(self, op: Op, expected: TensorType) -> None:
        declared, fixed = op.result.type.quant, expected.quant
        if declared.zero_point != fixed.zero_point or abs(declared.scale - fixed.scale) > 0.001 * fixed.scale:
            raise fail(op, f"result must be quantized as {_describe(fixed)}, got {_describe(declared)}")

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        scale = _params(op, 0).scale
        beta = float(_f32(float_attr(op, "beta")))
        if self.storage(op) == "i16":
            # float32 product of scale and beta, then a double division (as the C++ writes it)
            multiplier, shift = quantize_multiplier(float(_f32(scale) * _f32(beta)) / (10.0 / 65535.0))
            return {"input_multiplier": multiplier, "input_left_shift": shift, "diff_min": 0}
        real = min(beta * float(_f32(scale)) * (1 << (31 - _SOFTMAX_SCALED_DIFF_INTEGER_BITS)), 2.0**31 - 1.0)
        if real <= 1.0:
            raise fail(op, f"input scale {scale} times beta {beta} is too small for TFLite's int8 softmax")
        multiplier, shift = quantize_multiplier(real)
        diff_min = -fp.calculate_input_radius(_SOFTMAX_SCALED_DIFF_INTEGER_BITS, shift)
        return {"input_multiplier": multiplier, "input_left_shift": shift, "diff_min": diff_min}

    def compute(self, op: Op, x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
        axis = axis_attr(op, "axis", x.ndim)
        rows = np.moveaxis(x, axis, -1)
        multiplier, shift = int(attrs["input_multiplier"]), int(attrs["input_left_shift"])
        if self.storage(op) == "i16":
            out = softmax_int16(rows, multiplier, shift)
        else:
            out = softmax_int8(rows, multiplier, shift, int(attrs["diff_min"]))
        return np.moveaxis(out, -1, axis)


def softmax_int8(x: np.ndarray, multiplier: int, left_shift: int, diff_min: int) -> np.ndarray:
    """TFLite's reference int8 SOFTMAX over the last axis (int8 output, zero point -128)."""
    diff = x - x.max(axis=-1, keepdims=True)
    inside = diff >= diff_min
    scaled = multiply_by_quantized_multiplier(diff, multiplier, left_shift)
    exps = fp.exp_on_negative_values(scaled, _SOFTMAX_SCALED_DIFF_INTEGER_BITS)
    accumulated = rounding_divide_by_pot(exps, _SOFTMAX_ACCUMULATION_INTEGER_BITS)
    sum_of_exps = wrap_int32(np.where(inside, accumulated, 0).sum(axis=-1, keepdims=True))
    shifted_scale, bits_over_unit = fp.get_reciprocal(sum_of_exps, _SOFTMAX_ACCUMULATION_INTEGER_BITS)
    exponent = bits_over_unit + 31 - 8
    if np.any(exponent > 31):
        raise QCompilerError("the exponentials of a softmax row add up to more than 256, beyond TFLite's int8 "
                             "kernel (it aborts): too many values near the row maximum for the input scale")
    unsaturated = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted_scale, exps), exponent)
    return np.where(inside, np.clip(unsaturated - 128, -128, 127), -128)


def softmax_int16(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """TFLite's reference int16 SOFTMAX over the last axis (output scale 1/32768)."""
    exp_table, reciprocal_table = softmax_int16_tables()
    diff = x - x.max(axis=-1, keepdims=True)
    scaled = multiply_by_quantized_multiplier(diff, multiplier, shift)
    exps = fp.lut_lookup_int16(np.clip(scaled + 32767, -32768, 32767), exp_table)
    sum_of_exps = wrap_int32(exps.sum(axis=-1, keepdims=True))
    headroom_plus_one = fp.count_leading_zeros_u32(sum_of_exps)
    shifted_sum = ((sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    reciprocal = fp.lut_lookup_int16(np.clip(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767),
                                     reciprocal_table)
    right_shift = 31 - headroom_plus_one
    result = (exps * reciprocal + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.clip(wrap_int32(result), 0, 32767)


# ---------------------------------------------------------------------------------------------------------------
# Hard swish.


@register_op("q.hard_swish")
class QHardSwish(QuantElementwiseOp):
    """x * relu6(x + 3) / 6 on int8 (TFLite HARD_SWISH: 16-bit fixed point with a "reluish" multiplier)."""

    derived = ("output_multiplier", "output_shift", "reluish_multiplier", "reluish_shift")

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        source, result = _params(op, 0), _params(op, -1)
        hires_input_scale = _f32(1.0 / 128.0) * _f32(source.scale)
        output_multiplier, output_shift = quantize_multiplier(float(hires_input_scale / _f32(result.scale)))
        if output_shift > 0:
            raise fail(op, f"output scale {result.scale} is too small against input scale {source.scale} "
                           "for TFLite's HARD_SWISH")
        reluish_multiplier, reluish_shift = quantize_multiplier(
            float(hires_input_scale / (_f32(3.0) / _f32(32768.0))))
        return {"output_multiplier": fp.downscale_int32_to_int16_multiplier(output_multiplier),
                "output_shift": output_shift,
                "reluish_multiplier": fp.downscale_int32_to_int16_multiplier(reluish_multiplier),
                "reluish_shift": reluish_shift}

    def compute(self, op: Op, x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
        source, result = _params(op, 0), _params(op, -1)
        reluish_shift, output_shift = int(attrs["reluish_shift"]), int(attrs["output_shift"])
        hires = fp.wrap_int16(fp.wrap_int16(x - source.zero_point) * 128)
        preshift_output = fp.saturating_rounding_doubling_high_mul_int16(hires, int(attrs["output_multiplier"]))
        reluish = hires
        if reluish_shift > 0:
            reluish = fp.saturating_left_shift_int16(reluish, reluish_shift - 1)
        reluish = fp.saturating_rounding_doubling_high_mul_int16(reluish, int(attrs["reluish_multiplier"]))
        if reluish_shift > 0:
            reluish = fp.saturating_left_shift_int16(reluish, 1)
        if reluish_shift < 0:
            reluish = fp.rounding_divide_by_pot_int16(reluish, -reluish_shift)
        reluish = fp.wrap_int16((reluish + (1 << 15)) >> 1)
        product = fp.saturating_doubling_high_mul_int16(reluish, preshift_output)
        out = fp.wrap_int16(fp.rounding_divide_by_pot_int16(product, -output_shift) + result.zero_point)
        return out


# ---------------------------------------------------------------------------------------------------------------
# Rescaling activations: leaky relu and the relu family.


@register_op("q.leaky_relu")
class QLeakyRelu(QuantElementwiseOp):
    """x if x >= 0 else alpha * x (TFLite LEAKY_RELU): two requantization multipliers, one per side."""

    attrs = {"alpha": 0.01}
    storages = ("i8", "i16")
    derived = ("identity_multiplier", "identity_shift", "alpha_multiplier", "alpha_shift")

    def check_attrs(self, op: Op) -> None:
        float_attr(op, "alpha")

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        source, result = _params(op, 0), _params(op, -1)
        in_scale, out_scale = _f32(source.scale), _f32(result.scale)
        alpha = _f32(float_attr(op, "alpha"))
        if alpha < 0:
            raise fail(op, f"alpha {float(alpha)} must be >= 0 for the quantized kernel")
        alpha_multiplier, alpha_shift = quantize_multiplier(float(in_scale * alpha / out_scale))
        identity_multiplier, identity_shift = quantize_multiplier(float(in_scale / out_scale))
        return {"identity_multiplier": identity_multiplier, "identity_shift": identity_shift,
                "alpha_multiplier": alpha_multiplier, "alpha_shift": alpha_shift}

    def compute(self, op: Op, x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
        source, result = _params(op, 0), _params(op, -1)
        value = x - source.zero_point
        positive = value >= 0
        multiplier = np.where(positive, int(attrs["identity_multiplier"]), int(attrs["alpha_multiplier"]))
        shift = np.where(positive, int(attrs["identity_shift"]), int(attrs["alpha_shift"]))
        return multiply_by_quantized_multiplier(value, multiplier, shift) + result.zero_point


class ReluFamily(QuantElementwiseOp):
    """TFLite's quantized RELU/RELU6/RELU_N1_TO_1: requantize to the output parameters, then clamp to the
    real bounds ``zero_point + roundf(bound / scale)`` (float32 division)."""

    storages = ("i8", "i16")
    bounds: ClassVar[tuple[float, float]]
    derived = ("multiplier", "shift", "act_min", "act_max")

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        source, result = _params(op, 0), _params(op, -1)
        multiplier, shift = quantize_multiplier(float(_f32(source.scale) / _f32(result.scale)))
        low, high = type(self).bounds
        qmin, qmax = STORAGE_RANGES[result.storage]
        act_min = max(qmin, result.zero_point + int(fp.round_half_away(_f32(low) / _f32(result.scale))))
        act_max = qmax if math.isinf(high) else \
            min(qmax, result.zero_point + int(fp.round_half_away(_f32(high) / _f32(result.scale))))
        return {"multiplier": multiplier, "shift": shift, "act_min": act_min, "act_max": act_max}

    def compute(self, op: Op, x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
        source, result = _params(op, 0), _params(op, -1)
        out = result.zero_point + multiply_by_quantized_multiplier(
            x - source.zero_point, int(attrs["multiplier"]), int(attrs["shift"]))
        return np.clip(out, int(attrs["act_min"]), int(attrs["act_max"]))


@register_op("q.relu")
class QRelu(ReluFamily):
    """max(x, 0), requantized (TFLite RELU)."""

    bounds = (0.0, math.inf)


@register_op("q.relu6")
class QRelu6(ReluFamily):
    """min(max(x, 0), 6), requantized (TFLite RELU6)."""

    bounds = (0.0, 6.0)


@register_op("q.relu_n1_to_1")
class QReluN1To1(ReluFamily):
    """min(max(x, -1), 1), requantized (TFLite RELU_N1_TO_1, int8 only)."""

    storages = ("i8",)
    bounds = (-1.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# Reciprocal square root (TFLite's int8 layer-norm decomposition).

_RSQRT_SHIFT = 20


@functools.lru_cache(maxsize=None)
def _inverse_square_roots(count: int) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) of ``GetInvSqrtQuantizedMultiplierExp`` for the integers 0 .. count-1."""
    pairs = [fp.inv_sqrt_quantized_multiplier(v) for v in range(count)]
    return np.array([m for m, _ in pairs], dtype=np.int64), np.array([s for _, s in pairs], dtype=np.int64)


@register_op("q.rsqrt")
class QRsqrt(LookupTableOp):
    """1 / sqrt(x) (TFLite RSQRT). int8: a Newton-Raphson inverse square root of ``x - zero_point``, then a
    requantization by ``1 / (sqrt(input_scale) * output_scale)``; int16: an interpolated table of
    ``1.0f / sqrtf(x)``. Inputs below the zero point are an error, as in TFLite."""

    storages = ("i8", "i16")

    def derived_names(self, op: Op) -> tuple[str, ...]:
        return ("multiplier", "shift") if self.storage(op) == "i8" else ("table",)

    def transform(self, op: Op):
        # TFLite's int16 table maps x <= 0 to the largest output, 32767 * output_scale (float32)
        largest = _f32(32767) * _f32(_params(op, -1).scale)
        return lambda x: np.where(x <= 0, largest,
                                  _f32(1) / np.sqrt(np.maximum(x, _f32(1e-30)))).astype(np.float32)

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        if self.storage(op) == "i16":
            return super().derive_attrs(op)
        source, result = _params(op, 0), _params(op, -1)
        # std::sqrt of a float is a float: the product is float32, the division double
        root = np.sqrt(_f32(source.scale))
        multiplier, shift = quantize_multiplier(1.0 / float(root * _f32(result.scale)))
        return {"multiplier": multiplier, "shift": shift}

    def compute(self, op: Op, x: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
        source, result = _params(op, 0), _params(op, -1)
        value = x - source.zero_point
        if np.any(value < 0):
            raise fail(op, "rsqrt is only defined for values at or above the zero point")
        if self.storage(op) == "i16":
            return super().compute(op, x, attrs)
        multipliers, shifts = _inverse_square_roots(256)
        data = multiply_by_quantized_multiplier(1, multipliers[value], shifts[value] + _RSQRT_SHIFT)
        out = multiply_by_quantized_multiplier(data, int(attrs["multiplier"]),
                                               int(attrs["shift"]) - _RSQRT_SHIFT) + result.zero_point
        return np.where(value == 0, STORAGE_RANGES[result.storage][1], out)


# ---------------------------------------------------------------------------------------------------------------
# Squared difference (TFLite's int8 layer-norm decomposition: MEAN, SQUARED_DIFFERENCE, ADD, RSQRT, MUL, SUB).

_SQUARED_DIFFERENCE_LEFT_SHIFT = 7


@register_op("q.squared_difference")
class QSquaredDifference(QuantElementwiseOp):
    """(lhs - rhs)^2 on int8 with numpy broadcasting (TFLite SQUARED_DIFFERENCE): both inputs are brought to
    twice the larger input scale on 7 extra bits, subtracted, squared, and requantized to the output."""

    operands = ("lhs", "rhs")
    derived = ("lhs_multiplier", "lhs_shift", "rhs_multiplier", "rhs_shift", "output_multiplier", "output_shift")

    def storage(self, op: Op) -> str:
        storages = {_params(op, i).storage for i in (0, 1)}
        if storages != {"i8"}:
            raise fail(op, f"supports i8 operands, got {', '.join(sorted(storages))}")
        return "i8"

    def infer(self, op: Op) -> TensorType:
        self.storage(op)
        shape = broadcast_shapes(op, op.operand(0).type.shape, op.operand(1).type.shape)
        declared = op.results[0].type if op.results else None
        if declared is None or declared.quant is None:
            raise fail(op, "needs its quantized result type given explicitly")
        return TensorType(shape, declared.element, declared.quant)

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        lhs, rhs, result = _params(op, 0), _params(op, 1), _params(op, -1)
        twice_max_input_scale = float(_f32(2) * max(_f32(lhs.scale), _f32(rhs.scale)))
        output_real = twice_max_input_scale * twice_max_input_scale / float(
            _f32(1 << (2 * _SQUARED_DIFFERENCE_LEFT_SHIFT)) * _f32(result.scale))
        attrs: dict[str, Any] = {}
        for name, real in (("lhs", float(_f32(lhs.scale)) / twice_max_input_scale),
                           ("rhs", float(_f32(rhs.scale)) / twice_max_input_scale), ("output", output_real)):
            if not 0.0 < real < 1.0:
                raise fail(op, f"the {name} rescaling {real} must be in (0, 1) for TFLite's SQUARED_DIFFERENCE "
                               "(output scale too small for the inputs)")
            attrs[f"{name}_multiplier"], attrs[f"{name}_shift"] = quantize_multiplier(real)
        return attrs

    def evaluate(self, op: Op, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        self.storage(op)
        attrs = self.integer_attrs(op)
        lhs_params, rhs_params, result = _params(op, 0), _params(op, 1), _params(op, -1)
        scaled = [multiply_by_quantized_multiplier_smaller_than_one(
            (np.asarray(x, dtype=np.int64) - params.zero_point) << _SQUARED_DIFFERENCE_LEFT_SHIFT,
            int(attrs[f"{name}_multiplier"]), int(attrs[f"{name}_shift"]))
            for x, params, name in ((lhs, lhs_params, "lhs"), (rhs, rhs_params, "rhs"))]
        difference = scaled[0] - scaled[1]
        squared = wrap_int32(difference * difference)
        out = multiply_by_quantized_multiplier_smaller_than_one(
            squared, int(attrs["output_multiplier"]), int(attrs["output_shift"])) + result.zero_point
        return saturate(out, "i8")
