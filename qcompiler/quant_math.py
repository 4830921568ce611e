"""Integer quantization arithmetic with TensorFlow Lite's reference semantics, vectorized over numpy arrays.

Everything here is exact: integer maths runs in int64 numpy arrays that hold int32 values (wrapping or
saturating exactly where TFLite's C++ does), and the float steps use the precision TFLite uses (float32
divisions, double-precision multiplier derivation), so q ops built on it reproduce TFLite bit for bit.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.types import STORAGE_RANGES, QuantParams

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

ArrayLike = Union[np.ndarray, int, Sequence[int]]


def _int64(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap_int32(x: ArrayLike) -> np.ndarray:
    """Two's-complement wrap of int64 values into int32 (what a C cast or an overflowing int32 product gives)."""
    return ((_int64(x) + 2**31) & 0xFFFFFFFF) - 2**31


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (C ``std::round``, TFLite's ``TfLiteRound``), in x's own precision."""
    x = np.asarray(x)
    magnitude = np.abs(x)
    whole = np.floor(magnitude)
    return np.copysign(whole + (magnitude - whole >= 0.5), x)


# ---------------------------------------------------------------------------------------------------------------
# Multipliers: real scale factors as (int32 fixed-point multiplier, power-of-two shift).


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)`` with multiplier in [2^30, 2^31).

    The significand from ``frexp`` is rounded half away from zero to 31 bits; when that rounds up to 2^31 the
    multiplier is halved and the shift grows. Values below 2^-32 flush to (0, 0). ``real`` must be >= 0.
    """
    real = float(real)
    if not math.isfinite(real) or real < 0.0:
        raise QCompilerError(f"a quantized multiplier must be a finite non-negative number, got {real}")
    if real == 0.0:
        return 0, 0
    significand, shift = math.frexp(real)
    fixed = math.floor(significand * 2.0**31 + 0.5)  # round half away from zero; exact in double below 2^31
    if fixed == 2**31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplierSmallerThanOneExp``: like ``quantize_multiplier`` but the shift must be <= 0."""
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:
        raise QCompilerError(f"multiplier {real} must be smaller than one")
    return multiplier, shift


def quantize_multipliers(reals: Sequence[float]) -> tuple[list[int], list[int]]:
    """``quantize_multiplier`` for each of several real multipliers (e.g. one per output channel)."""
    pairs = [quantize_multiplier(r) for r in reals]
    return [m for m, _ in pairs], [s for _, s in pairs]


def conv_output_multipliers(input_scale: float, filter_scales: Sequence[float],
                            output_scale: float) -> tuple[list[int], list[int]]:
    """Per-channel requantization of an int32 accumulator, as TFLite ``PopulateConvolutionQuantizationParams``.

    For each channel ``double(input_scale) * double(filter_scale) / double(output_scale)`` is quantized; the
    scales are the float32 numbers stored in the model.
    """
    reals = [float(np.float32(input_scale)) * float(np.float32(s)) / float(np.float32(output_scale))
             for s in filter_scales]
    return quantize_multipliers(reals)


# ---------------------------------------------------------------------------------------------------------------
# Fixed-point primitives (gemmlowp), elementwise with broadcasting.


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul``: the high 32 bits of ``2*a*b``, rounded to nearest.

    Ties round up (the nudge is 2^30 or 1-2^30 before a division by 2^31 that truncates towards zero); the single
    overflow case ``INT32_MIN * INT32_MIN`` saturates to INT32_MAX. Inputs are int32 values.
    """
    a, b = _int64(a), _int64(b)
    product = a * b
    negative = product < 0
    nudged = product + np.where(negative, 1 - (1 << 30), 1 << 30)
    # Division by 2^31 truncating towards zero: floor, plus one for negative values with a remainder.
    high = (nudged >> 31) + ((nudged < 0) & ((nudged & 0x7FFFFFFF) != 0))
    if np.any(a == INT32_MIN) and np.any(b == INT32_MIN):
        high = np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)
    return high


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded to nearest, ties away from zero."""
    x, exponent = _int64(x), _int64(exponent)
    if np.any(exponent < 0) or np.any(exponent > 31):
        raise QCompilerError("rounding_divide_by_pot needs exponents in [0, 31]")
    mask = (np.int64(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def multiply_by_quantized_multiplier(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier`` on int32 values: ``x * multiplier * 2**(shift - 31)`` rounded.

    A positive shift multiplies x by 2**shift first (wrapping in int32 as the C code does), then the
    doubling high multiply, then a rounding right shift by ``-shift`` when negative. ``multiplier`` and
    ``shift`` broadcast against ``x`` (per-channel along the last axis, say).
    """
    x, multiplier, shift = _int64(x), _int64(multiplier), _int64(shift)
    left = np.maximum(shift, 0)
    scaled = wrap_int32(x << left) if np.any(left) else x
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scaled, multiplier), np.maximum(-shift, 0))


def multiply_by_quantized_multiplier_smaller_than_one(x: ArrayLike, multiplier: ArrayLike,
                                                      shift: ArrayLike) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplierSmallerThanOneExp`` (shift <= 0): high multiply, then round-shift."""
    shift = _int64(shift)
    if np.any(shift > 0):
        raise QCompilerError("multiply_by_quantized_multiplier_smaller_than_one needs shifts <= 0")
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -shift)


def multiply_by_quantized_multiplier_int64(x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike) -> np.ndarray:
    """TFLite's int64-accumulator ``MultiplyByQuantizedMultiplier`` (int16x8 conv/FC, |x| < 2^47).

    The multiplier is reduced to 16 bits (rounded; saturating at 0x7FFF), then ``x * reduced`` is shifted
    right by ``15 - shift`` with a half-up rounding bias; the result is cast to int32 (wrapping).
    """
    x, multiplier, shift = np.broadcast_arrays(_int64(x), _int64(multiplier), _int64(shift))
    reduced = np.where(multiplier < 0x7FFF0000, (multiplier + (1 << 15)) >> 16, 0x7FFF)
    total_shift = 15 - shift
    if np.any(total_shift < 1) or np.any(total_shift > 62):
        raise QCompilerError("multiply_by_quantized_multiplier_int64 needs shifts in [-47, 14]")
    return wrap_int32((x * reduced + (np.int64(1) << (total_shift - 1))) >> total_shift)


def multiply_by_quantized_multiplier_single_rounding(x: ArrayLike, multiplier: ArrayLike,
                                                     shift: ArrayLike) -> np.ndarray:
    """``floor((x * multiplier + 2^(30 - shift)) / 2^(31 - shift))``: one rounding (half up) of the exact
    product, on int64 accumulators (|x| < 2^47); LiteRT's FULLY_CONNECTED rescales so (int8 and int16x8).

    The product (up to 2^78) is split at bit 24 of x so that every step stays inside int64.
    """
    x, multiplier, shift = np.broadcast_arrays(_int64(x), _int64(multiplier), _int64(shift))
    if np.any(multiplier < 0) or np.any(shift > 30) or np.any(shift < -31):
        raise QCompilerError("multiply_by_quantized_multiplier_single_rounding needs multipliers >= 0 and "
                             "shifts in [-31, 30]")
    total = 31 - shift                                  # in [1, 62]
    upper = (x >> 24) * multiplier                      # x * m = upper * 2^24 + lower, |upper| < 2^54
    lower = (x & ((1 << 24) - 1)) * multiplier + (np.int64(1) << (total - 1))
    # floor((upper * 2^24 + lower) / 2^total): for total >= 24 it is floor((upper + lower // 2^24) / 2^(total-24));
    # below (left shifts: small accumulators) upper * 2^(24 - total) is whole.
    wide = (upper + (lower >> 24)) >> np.maximum(total - 24, 0)
    narrow = (upper << np.maximum(24 - total, 0)) + (lower >> np.minimum(total, 24))
    return np.where(total >= 24, wide, narrow)


# ---------------------------------------------------------------------------------------------------------------
# Quantize / dequantize and parameter selection.


def _broadcast_params(params: QuantParams, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Scales (float32) and zero points (int64) shaped to broadcast against a tensor of ``rank``."""
    scales = np.asarray(params.scales, dtype=np.float32)
    zero_points = np.asarray(params.zero_points, dtype=np.int64)
    if params.axis is None:
        return scales.reshape(()), zero_points.reshape(())
    if not 0 <= params.axis < rank:
        raise QCompilerError(f"quantization axis {params.axis} is out of range for rank {rank}")
    shape = [1] * rank
    shape[params.axis] = len(params.scales)
    return scales.reshape(shape), zero_points.reshape(shape)


def saturate(x: ArrayLike, storage: str) -> np.ndarray:
    """Clamp integers into a storage type's range and return them in that type's numpy dtype."""
    low, high = STORAGE_RANGES[storage]
    return np.clip(_int64(x), low, high).astype(_STORAGE_DTYPES[storage])


_STORAGE_DTYPES = {"i8": np.int8, "u8": np.uint8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
                   "i4": np.int8, "u4": np.uint8}


def storage_dtype(storage: str) -> np.dtype:
    """The numpy dtype holding values of a storage type (i4/u4 live in 8-bit arrays)."""
    return np.dtype(_STORAGE_DTYPES[storage])


def quantize(x: np.ndarray, params: QuantParams) -> np.ndarray:
    """TFLite QUANTIZE (``AffineQuantize``): ``round_half_away(x / scale) + zero_point``, clamped to storage.

    The division is in float32 as in TFLite; NaN becomes the zero point. Per-axis params quantize each slice
    along ``params.axis`` with its own scale and zero point.
    """
    x = np.asarray(x, dtype=np.float32)
    scales, zero_points = _broadcast_params(params, x.ndim)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = round_half_away(x / scales)
    ratio = np.nan_to_num(ratio, nan=0.0)
    low, high = STORAGE_RANGES[params.storage]
    # Clamping before the integer conversion keeps huge values saturating instead of overflowing int64.
    ratio = np.clip(ratio.astype(np.float64), low - 2.0**32, high + 2.0**32).astype(np.int64)
    return saturate(ratio + zero_points, params.storage)


def dequantize(q: np.ndarray, params: QuantParams) -> np.ndarray:
    """TFLite DEQUANTIZE: ``float32(double(scale) * (q - zero_point))`` (per tensor or per axis)."""
    q = _int64(q)
    scales, zero_points = _broadcast_params(params, q.ndim)
    return (scales.astype(np.float64) * (q - zero_points)).astype(np.float32)


def activation_range(activation: str, params: QuantParams) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized``: the integer clamp of a fused activation at the output.

    Bounds are ``zero_point + round_half_away(f / scale)`` with float32 division, intersected with the
    storage range; ``none`` gives the whole storage range.
    """
    qmin, qmax = STORAGE_RANGES[params.storage]
    scale = np.float32(params.scale)
    zero_point = params.zero_point

    def bound(value: float) -> int:
        return zero_point + int(round_half_away(np.float32(value) / scale))

    if activation == "none":
        return qmin, qmax
    if activation == "relu":
        return max(qmin, bound(0.0)), qmax
    if activation == "relu6":
        return max(qmin, bound(0.0)), min(qmax, bound(6.0))
    if activation == "relu_n1_to_1":
        return max(qmin, bound(-1.0)), min(qmax, bound(1.0))
    raise QCompilerError(f"unknown fused activation '{activation}'")


def float32_scale(scale: float) -> float:
    """A scale rounded to the nearest float32 (the precision a .tflite file stores)."""
    return float(np.float32(scale))


def choose_quant_params(rmin: float, rmax: float, storage: str = "i8", symmetric: bool = False,
                        narrow_range: bool = False) -> QuantParams:
    """Per-tensor parameters covering ``[rmin, rmax]``, nudged as TFLite's ``ChooseQuantizationParams``.

    The range is first widened to include 0 so that 0 is exact. Asymmetric: ``scale = (rmax - rmin) /
    (qmax - qmin)`` in double and the zero point from whichever end loses less precision, rounded half away
    and clamped. Symmetric: zero point 0 and ``scale = max(|rmin|, |rmax|) / qmax`` (qmin = -qmax when
    narrow). A degenerate range (all zeros) gets scale 1. The scale is returned float32-exact.
    """
    if storage not in STORAGE_RANGES:
        raise QCompilerError(f"unknown quantized storage type '{storage}'")
    rmin, rmax = float(rmin), float(rmax)
    if not (math.isfinite(rmin) and math.isfinite(rmax)) or rmin > rmax:
        raise QCompilerError(f"cannot quantize the range [{rmin}, {rmax}]")
    rmin, rmax = min(rmin, 0.0), max(rmax, 0.0)
    qmin, qmax = STORAGE_RANGES[storage]
    if narrow_range:
        qmin += 1
    if symmetric:
        bound = max(-rmin, rmax)
        scale = bound / qmax if bound > 0 else 1.0
        zero_point = 0 if qmin < 0 else (qmin + qmax + 1) // 2
        return QuantParams.per_tensor(storage, float32_scale(scale), zero_point)
    if rmin == rmax:
        return QuantParams.per_tensor(storage, 1.0, 0 if qmin <= 0 <= qmax else qmin)
    scale = (rmax - rmin) / (qmax - qmin)
    from_min = qmin - rmin / scale
    from_max = qmax - rmax / scale
    from_min_error = abs(qmin) + abs(rmin / scale)
    from_max_error = abs(qmax) + abs(rmax / scale)
    zero_point_real = from_min if from_min_error < from_max_error else from_max
    zero_point = int(min(max(round_half_away(np.float64(zero_point_real)), qmin), qmax))
    return QuantParams.per_tensor(storage, float32_scale(scale), zero_point)


def choose_per_axis_params(mins: Sequence[float], maxs: Sequence[float], axis: int, storage: str = "i8",
                           narrow_range: bool = True) -> QuantParams:
    """Symmetric per-axis parameters (weights): one ``choose_quant_params(symmetric=True)`` per channel."""
    chosen = [choose_quant_params(lo, hi, storage, True, narrow_range) for lo, hi in zip(mins, maxs)]
    return QuantParams.per_axis(storage, [p.scale for p in chosen], [p.zero_point for p in chosen], axis)


def mean_multiplier(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """Fold ``1 / count`` into a quantized multiplier, as TFLite's quantized MEAN does before rescaling a sum.

    With ``s = floor(log2(count))`` clamped to 32 and to ``31 + shift``, the multiplier becomes
    ``(multiplier << s) // count`` and the shift ``shift - s``.
    """
    if count <= 0:
        raise QCompilerError(f"a mean needs a positive element count, got {count}")
    extra = min(int(count).bit_length() - 1, 32, 31 + shift)
    return int((multiplier << extra) // count), shift - extra
