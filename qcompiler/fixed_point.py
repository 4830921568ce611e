"""Fixed-point building blocks that only TFLite's nonlinear integer kernels need, vectorized over numpy.

gemmlowp's fixed-point functions (exp on negative values, 1/(1+x), reciprocals), TFLite's inverse square root,
the int16 sigmoid/tanh kernels built on a 256-entry uint16 sigmoid table, and the construction and lookup of
TFLite's int8/int16 lookup tables (``LUTPopulate``, ``LUTLookup``). Integer values are int32 held in int64
arrays; every step wraps, saturates and rounds exactly where the C++ does. The float steps of the LUT
construction run in the precision the C++ uses (float32 or float64).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from qcompiler.errors import QCompilerError
from qcompiler.quant_math import (
    INT32_MAX, INT32_MIN, rounding_divide_by_pot, round_half_away, saturating_rounding_doubling_high_mul,
    wrap_int32)
from qcompiler.types import STORAGE_RANGES

srdhm = saturating_rounding_doubling_high_mul

#: gemmlowp's ``exp(-2^k)`` multipliers of the barrel shifter in ``exp_on_negative_values``, Q0.31.
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
               (3, 720401), (4, 242))


def _int64(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap_int16(x: ArrayLike) -> np.ndarray:
    """Two's-complement wrap of integers into int16 (a C cast to ``int16_t``)."""
    return ((_int64(x) + 2**15) & 0xFFFF) - 2**15


def count_leading_zeros_u32(x: ArrayLike) -> np.ndarray:
    """Leading zero bits of values read as uint32 (32 for zero), like ``__builtin_clz`` with its zero case."""
    value = _int64(x) & 0xFFFFFFFF
    zeros = np.zeros(value.shape, dtype=np.int64)
    for width in (16, 8, 4, 2, 1):
        small = value < (np.int64(1) << (32 - width))
        zeros = np.where(small, zeros + width, zeros)
        value = np.where(small, value << width, value)
    return np.where(_int64(x) & 0xFFFFFFFF == 0, 32, zeros)


def saturating_left_shift_int32(x: ArrayLike, exponent: int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT`` with a positive exponent: ``x << exponent``, saturating."""
    x = _int64(x)
    if exponent <= 0:
        return x if exponent == 0 else rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, wrap_int32(x << exponent)))


def rescale(x: ArrayLike, source_integer_bits: int, target_integer_bits: int) -> np.ndarray:
    """gemmlowp ``Rescale``: change a Q(m).(31-m) value's integer bits (saturating up, rounding down)."""
    return saturating_left_shift_int32(x, source_integer_bits - target_integer_bits)


def rounding_half_sum(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp ``RoundingHalfSum`` on int32: ``(a + b) / 2`` rounded away from zero."""
    total = _int64(a) + _int64(b)
    summed = total + np.where(total >= 0, 1, -1)
    return np.sign(summed) * (np.abs(summed) // 2)  # C division truncates towards zero


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: ArrayLike) -> np.ndarray:
    """gemmlowp: exp(a) for a Q0.31 ``a`` in [-1/4, 0), a Taylor expansion around -1/8; Q0.31 result."""
    constant_term, one_third = 1895147668, 715827883
    x = wrap_int32(_int64(a) + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    inner = wrap_int32(srdhm(wrap_int32(x4_over_4 + x3), one_third) + x2)
    polynomial = rounding_divide_by_pot(inner, 1)
    return wrap_int32(constant_term + srdhm(constant_term, wrap_int32(x + polynomial)))


def exp_on_negative_values(a: ArrayLike, integer_bits: int) -> np.ndarray:
    """gemmlowp ``exp_on_negative_values``: exp(a) for a Q(integer_bits) value a <= 0; Q0.31 result."""
    a = _int64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = np.int64(1) << (fractional_bits + exponent)
            result = np.where(remainder & bit, srdhm(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a: ArrayLike) -> np.ndarray:
    """gemmlowp: 1 / (1 + a) for a Q0.31 ``a`` in [0, 1), by three Newton-Raphson steps; Q0.31 result."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap_int32(1515870810 + srdhm(half_denominator, -1010580540))  # 48/17 - 32/17 * d, Q2.29
    for _ in range(3):
        one_minus_half_denominator_times_x = wrap_int32((1 << 29) - srdhm(half_denominator, x))
        x = wrap_int32(x + rescale(srdhm(x, one_minus_half_denominator_times_x), 4, 2))
    return rescale(x, 1, 0)


def get_reciprocal(x: ArrayLike, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite ``GetReciprocal``: 1/x of a positive Q(x_integer_digits) value as (Q0.31 scale, bits over unit)."""
    x = _int64(x)
    headroom_plus_one = count_leading_zeros_u32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap_int32(((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite ``CalculateInputRadius``: the largest input whose rescaling cannot overflow."""
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1) * (1 << (total_signed_bits - input_integer_bits))
                          / (1 << input_left_shift))
    return int(np.floor(max_input_rescaled))


def inv_sqrt_quantized_multiplier(value: int, reverse_shift: int = -1) -> tuple[int, int]:
    """TFLite ``GetInvSqrtQuantizedMultiplierExp``: 1/sqrt(value) of a positive integer as (multiplier, shift).

    Five Newton-Raphson steps in Q3.28 from a normalized input; 0 and 1 give (INT32_MAX, 0).
    """
    value = int(value)
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    left_shift_bit_pairs = (int(count_leading_zeros_u32(value)) - 1) // 2 - 1
    shift -= left_shift_bit_pairs
    value <<= 2 * left_shift_bit_pairs
    half_input = rounding_divide_by_pot(value >> 1, 1)
    half_three = (1 << 28) + (1 << 27)
    x = np.int64(1 << 28)
    for _ in range(5):
        x3 = rescale(srdhm(srdhm(x, x), x), 9, 3)
        x = rescale(wrap_int32(srdhm(half_three, x) - srdhm(half_input, x3)), 6, 3)
    multiplier = int(srdhm(x, 1518500250))
    if shift < 0:
        multiplier = int(wrap_int32(multiplier << -shift))
        shift = 0
    return multiplier, shift * reverse_shift


# ---------------------------------------------------------------------------------------------------------------
# int16 sigmoid and tanh over TFLite's uint16 sigmoid table (sigmoid(i/24) in Q0.16).

SIGMOID_TABLE_UINT16 = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498,
    40149, 40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255,
    46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865,
    52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174,
    56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288,
    59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441,
    61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886,
    62990, 63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835,
    63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450,
    64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845,
    64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097,
    65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465,
    65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508,
    65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517, 65517, 65518,
    65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525,
    65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529,
    65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531,
    65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533,
    65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65535], dtype=np.int64)


def _scaled_int16_input(x: ArrayLike, multiplier: int, left_shift: int) -> np.ndarray:
    """The int16 sigmoid/tanh input rescaling: ``(x * multiplier + round) >> left_shift``, where a zero
    multiplier (a power-of-two input scale) means ``3 << left_shift`` with no shift."""
    if multiplier == 0:
        multiplier, left_shift = 3 << left_shift, 0
    rounding = (1 << (left_shift - 1)) if left_shift > 0 else 0
    return wrap_int32(_int64(x) * multiplier + rounding) >> left_shift


def _sigmoid_table_interpolation(magnitude: ArrayLike, fraction_bits: int, saturated: int) -> np.ndarray:
    """Interpolate the sigmoid table at ``magnitude`` (index in the high bits, ``fraction_bits`` below)."""
    index = magnitude >> fraction_bits
    inside = index < 255
    safe = np.where(inside, index, 0)
    low, high = SIGMOID_TABLE_UINT16[safe], SIGMOID_TABLE_UINT16[safe + 1]
    fraction = magnitude & ((1 << fraction_bits) - 1)
    return np.where(inside, (low << fraction_bits) + fraction * (high - low), saturated)


def logistic_int16(x: ArrayLike, multiplier: int, left_shift: int) -> np.ndarray:
    """TFLite's reference int16 LOGISTIC (input scale folded into multiplier/shift; output Q0.15)."""
    data = _scaled_int16_input(x, multiplier, left_shift)
    result = _sigmoid_table_interpolation(np.abs(data), 9, 0x7FFF << 10)
    result = np.where(data >= 0, result + (1 << 9), (1 << 25) - result + (1 << 9) - 1)
    return wrap_int16((result & 0xFFFFFFFF) >> 10)


def tanh_int16(x: ArrayLike, multiplier: int, left_shift: int) -> np.ndarray:
    """TFLite's reference int16 TANH (input scale folded into multiplier/shift; output Q0.15)."""
    data = _scaled_int16_input(x, multiplier, left_shift)
    result = wrap_int32(_sigmoid_table_interpolation(np.abs(data), 8, 0xFFFF << 8))
    result = np.where(data >= 0, result - (1 << 23) + (1 << 7), -result + (1 << 23) + (1 << 7) - 1)
    return wrap_int16(wrap_int32(result) >> 8)


# ---------------------------------------------------------------------------------------------------------------
# Lookup tables (TFLite LUTPopulate / LUTLookup).

FloatFunction = Callable[[np.ndarray], np.ndarray]


def lut_populate_8bit(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                      transform: FloatFunction, storage: str = "i8") -> np.ndarray:
    """TFLite ``LUTPopulateInt8``: the 256-entry table of an 8-bit unary op, indexed by ``value - qmin``.

    Each input is dequantized in float32, transformed by ``transform`` (a float32 -> float32 function written
    to round like the C++ lambda), multiplied by the float32 inverse output scale, rounded half away,
    offset by the output zero point and clamped.
    """
    qmin, qmax = STORAGE_RANGES[storage]
    values = np.arange(qmin, qmax + 1, dtype=np.int64)
    dequantized = np.float32(input_scale) * (values - input_zero_point).astype(np.float32)
    transformed = np.asarray(transform(dequantized.astype(np.float32)), dtype=np.float32)
    inverse_scale = np.float32(1) / np.float32(output_scale)
    with np.errstate(over="ignore", invalid="ignore"):
        rescaled = round_half_away(transformed * inverse_scale) + np.float32(output_zero_point)
        # float -> int32 conversion of an out-of-range value is undefined in C; x86 gives INT32_MIN.
        finite = np.isfinite(rescaled) & (np.abs(rescaled) < 2.0**31)
        quantized = np.where(finite, np.nan_to_num(rescaled), INT32_MIN).astype(np.int64)
    return np.clip(quantized, qmin, qmax)


def lut_populate_int16(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                       transform: FloatFunction, float_type: type = np.float32) -> np.ndarray:
    """TFLite ``LUTPopulateInt16``: the 513-entry int16 table (512 segments plus the end point) with the
    midpoint-error bias, computed in ``float_type`` (float32, or float64 where TFLite uses double)."""
    f = float_type
    input_scale, output_scale = f(input_scale), f(output_scale)
    input_min = input_scale * f(-32768 - input_zero_point)
    input_max = input_scale * f(32767 - input_zero_point)
    output_min = output_scale * f(-32768 - output_zero_point)
    output_max = output_scale * f(32767 - output_zero_point)
    steps = 512
    step = (input_max - input_min) / f(steps)
    half_step = step / f(2)
    output_scaling_inv = f(65536) / (output_max - output_min)
    index = np.arange(steps).astype(f)
    start = input_min + index * step
    value = np.asarray(transform(start), dtype=f)
    midpoint = np.asarray(transform(start + half_step), dtype=f)
    following = np.asarray(transform(input_min + (index + f(1)) * step), dtype=f)
    sample = round_half_away(value * output_scaling_inv)
    midpoint_interpolated = round_half_away((following * output_scaling_inv + sample) / f(2))
    midpoint_error = midpoint_interpolated - round_half_away(midpoint * output_scaling_inv)
    bias = round_half_away(midpoint_error / f(2))
    table = np.clip(sample - bias, f(-32768), f(32767))
    last = np.clip(round_half_away(np.asarray(transform(np.asarray([input_max], dtype=f)), dtype=f)
                                   * output_scaling_inv), f(-32768), f(32767))
    return np.concatenate([table, last]).astype(np.int64)


def lut_lookup_8bit(x: ArrayLike, table: np.ndarray, storage: str = "i8") -> np.ndarray:
    """Look 8-bit values up in a table from ``lut_populate_8bit``."""
    return np.asarray(table, dtype=np.int64)[_int64(x) - STORAGE_RANGES[storage][0]]


def lut_lookup_int16(x: ArrayLike, table: np.ndarray) -> np.ndarray:
    """TFLite's int16 ``LUTLookup``: the top 9 bits index the 513-entry table, the low 7 interpolate."""
    x = _int64(x)
    table = np.asarray(table, dtype=np.int64)
    if table.shape != (513,):
        raise QCompilerError(f"an int16 lookup table has 513 entries, got {table.shape}")
    index = 256 + (x >> 7)
    base = table[index]
    slope = wrap_int16(table[index + 1] - base)
    delta = (slope * (x & 0x7F) + 64) >> 7
    return wrap_int16(base + delta)


# ---------------------------------------------------------------------------------------------------------------
# 16-bit gemmlowp arithmetic (hard swish).


def saturating_rounding_doubling_high_mul_int16(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int16 values (ties away from zero)."""
    a, b = np.broadcast_arrays(_int64(a), _int64(b))
    product = a * b
    nudged = product + np.where(product >= 0, 1 << 14, 1 - (1 << 14))
    high = wrap_int16(np.sign(nudged) * (np.abs(nudged) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, high)


def saturating_doubling_high_mul_int16(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """TFLite ``SaturatingDoublingHighMul`` on int16 (like SQDMULH: the doubled high half, truncated)."""
    a, b = np.broadcast_arrays(_int64(a), _int64(b))
    product = a * b
    high = wrap_int16(np.sign(product) * (np.abs(product) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, high)


def rounding_divide_by_pot_int16(x: ArrayLike, exponent: int) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT`` on int16 values, with the int16 mask truncation for exponents > 15."""
    x = wrap_int16(x)
    mask = int(wrap_int16((1 << exponent) - 1))
    remainder = wrap_int16(x & mask)
    threshold = wrap_int16((mask >> 1) + (x < 0))
    return wrap_int16((x >> exponent) + (remainder > threshold))


def saturating_left_shift_int16(x: ArrayLike, amount: int) -> np.ndarray:
    """TFLite's hard-swish ``SaturatingLeftShift``: ``x * 2**amount`` clamped to int16."""
    return np.clip(_int64(x) * (1 << amount), -32768, 32767)


def downscale_int32_to_int16_multiplier(multiplier: int) -> int:
    """TFLite ``DownScaleInt32ToInt16Multiplier``: a Q0.31 multiplier rounded to Q0.15 (saturating)."""
    if multiplier >= INT32_MAX - (1 << 15):
        return 32767
    return (multiplier + (1 << 15)) >> 16


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLite ``CheckedLog2`` in float32: (whether x is a power of two within 1e-3 in log2, the rounded log2)."""
    log2 = np.float32(np.log(np.float64(np.float32(x)))) * (np.float32(1) / np.float32(np.log(2.0)))
    rounded = round_half_away(np.float32(log2))
    return bool(abs(np.float32(log2 - rounded)) < 1e-3), int(rounded)
