"""quant_math against values computed by hand from TensorFlow Lite's definitions (gemmlowp fixed point,
QuantizeMultiplier, AffineQuantize, CalculateActivationRangeQuantized, ChooseQuantizationParams)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.quant_math import (
    INT32_MAX, INT32_MIN, activation_range, choose_per_axis_params, choose_quant_params, conv_output_multipliers,
    dequantize, mean_multiplier, multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_int64,
    multiply_by_quantized_multiplier_single_rounding, multiply_by_quantized_multiplier_smaller_than_one, quantize, quantize_multiplier,
    quantize_multiplier_smaller_than_one, round_half_away, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul, wrap_int32,
)
from qcompiler.types import QuantParams


@pytest.mark.parametrize("real, expected", [
    (0.0, (0, 0)),
    (0.5, (2**30, 0)),               # frexp(0.5) = (0.5, 0)
    (1.0, (2**30, 1)),               # multipliers >= 1 get a positive (left) shift
    (3.0, (3 * 2**29, 2)),
    (0.3, (1288490189, -1)),         # 0.6 * 2^31 = 1288490188.8 rounds up
    (1 - 2.0**-33, (2**30, 1)),      # significand rounds to exactly 2^31: halved, shift + 1
    (2.0**-32, (2**30, -31)),        # smallest multiplier kept
    (2.0**-40, (0, 0)),              # shift < -31 flushes to zero
    (0.75 * 2.0**-20, (3 * 2**29, -20)),
])
def test_quantize_multiplier(real, expected):
    assert quantize_multiplier(real) == expected


def test_quantize_multiplier_rounds_half_away():
    # 0.5 + 2^-32: significand * 2^31 = 2^30 + 0.5 exactly, a tie: rounds up to 2^30 + 1.
    assert quantize_multiplier(0.5 + 2.0**-32) == (2**30 + 1, 0)


def test_quantize_multiplier_rejects_negative_and_nan():
    with pytest.raises(QCompilerError):
        quantize_multiplier(-0.5)
    with pytest.raises(QCompilerError):
        quantize_multiplier(math.nan)
    with pytest.raises(QCompilerError, match="smaller than one"):
        quantize_multiplier_smaller_than_one(1.5)
    assert quantize_multiplier_smaller_than_one(0.25) == (2**30, -1)


def test_conv_output_multipliers_use_float32_scales_in_double():
    input_scale, output_scale = 0.0235, 0.117
    filter_scales = [0.001, 0.0173, 0.5]
    multipliers, shifts = conv_output_multipliers(input_scale, filter_scales, output_scale)
    for s, m, sh in zip(filter_scales, multipliers, shifts):
        real = float(np.float32(input_scale)) * float(np.float32(s)) / float(np.float32(output_scale))
        assert (m, sh) == quantize_multiplier(real)
        assert abs(m * 2.0 ** (sh - 31) - real) <= 2.0 ** (sh - 32)


@pytest.mark.parametrize("a, b, expected", [
    (INT32_MIN, INT32_MIN, INT32_MAX),        # the one overflow saturates
    (INT32_MAX, INT32_MAX, 2147483646),       # (2^62 - 2^32 + 1 + 2^30) / 2^31 truncated
    (INT32_MIN, INT32_MAX, -2147483647),
    (3, 2**30, 2),                            # 1.5 -> 2
    (-3, 2**30, -1),                          # -1.5 -> -1: ties round up
    (5, 2**30, 3),
    (-5, 2**30, -2),
    (-7, 2**29, -2),                          # -1.75 -> -2
    (100, 1288490189, 60),
    (-101, 1288490189, -61),
    (0, INT32_MIN, 0),
])
def test_saturating_rounding_doubling_high_mul(a, b, expected):
    assert int(saturating_rounding_doubling_high_mul(a, b)) == expected


@pytest.mark.parametrize("x, exponent, expected", [
    (3, 1, 2), (-3, 1, -2),                   # ties away from zero
    (6, 2, 2), (-6, 2, -2),
    (5, 2, 1), (-5, 2, -1),
    (7, 0, 7), (-7, 0, -7),
    (INT32_MIN, 31, -1), (INT32_MAX, 31, 1),
    (-(2**30), 31, -1),                       # -0.5 -> -1
    (2**30 - 1, 31, 0),
])
def test_rounding_divide_by_pot(x, exponent, expected):
    assert int(rounding_divide_by_pot(x, exponent)) == expected


def test_rounding_divide_by_pot_rejects_bad_exponent():
    with pytest.raises(QCompilerError):
        rounding_divide_by_pot(1, 32)


def test_multiply_by_quantized_multiplier_values():
    m, s = quantize_multiplier(0.3)
    assert int(multiply_by_quantized_multiplier(100, m, s)) == 30
    # Double rounding: high-mul gives -61 (-60.6), the shift rounds -30.5 away from zero.
    assert int(multiply_by_quantized_multiplier(-101, m, s)) == -31
    # Left shift for multipliers >= 1: 3 * 4 = 12, then times 0.5.
    assert int(multiply_by_quantized_multiplier(3, 2**30, 2)) == 6
    # 1.0 is (2^30, 1): exact identity.
    values = np.array([INT32_MIN // 2, -7, 0, 7, INT32_MAX // 2])
    np.testing.assert_array_equal(multiply_by_quantized_multiplier(values, 2**30, 1), values)
    # The left shift wraps in int32 as the C product does: 2^29 * 8 = 2^32 -> 0.
    assert int(multiply_by_quantized_multiplier(2**29, 2**30, 3)) == 0
    assert int(multiply_by_quantized_multiplier(2**28 + 1, 2**30, 3)) == int(wrap_int32((2**28 + 1) * 8)) // 2


def test_multiply_by_quantized_multiplier_broadcasts_per_channel():
    acc = np.arange(-12, 12).reshape(2, 3, 4) * 1000
    multipliers = np.array([2**30, 3 * 2**29, 1288490189, 2**30])
    shifts = np.array([0, -3, -1, 1])
    out = multiply_by_quantized_multiplier(acc, multipliers, shifts)
    for c in range(4):
        expected = [int(multiply_by_quantized_multiplier(int(v), int(multipliers[c]), int(shifts[c])))
                    for v in acc[..., c].ravel()]
        np.testing.assert_array_equal(out[..., c].ravel(), expected)


def test_multiply_by_quantized_multiplier_matches_real_product():
    rng = np.random.default_rng(0)
    x = rng.integers(-(2**20), 2**20, size=2000)
    for real in (0.3, 0.0078125, 0.9999, 1.7, 0.000123):
        m, s = quantize_multiplier(real)
        got = multiply_by_quantized_multiplier(x, m, s)
        # Two roundings, each at most half a unit: within one unit of the exact product.
        assert np.all(np.abs(got - x * (m * 2.0 ** (s - 31))) <= 1.0)


def test_smaller_than_one_variant():
    m, s = quantize_multiplier(0.3)
    x = np.array([-101, -100, 0, 99, 100])
    np.testing.assert_array_equal(multiply_by_quantized_multiplier_smaller_than_one(x, m, s),
                                  multiply_by_quantized_multiplier(x, m, s))
    with pytest.raises(QCompilerError):
        multiply_by_quantized_multiplier_smaller_than_one(x, 2**30, 1)


@pytest.mark.parametrize("x, multiplier, shift, expected", [
    (1000, 2**30, 0, 500),          # reduced 2^14; (16384000 + 16384) >> 15 = 500 (500.5 floored)
    (-1000, 2**30, 0, -500),        # (-16384000 + 16384) >> 15 = -499.5 floored
    (1001, 2**30, 0, 501),          # 500.5 + 0.5 = 501
    (2**20, INT32_MAX, 0, 1048544),  # multiplier >= 0x7FFF0000 saturates to 0x7FFF
    (2**40, 2**30, -20, 2**19),     # 16-bit accumulator range beyond int32
    (3, 3 * 2**29, 2, 9),           # 3 * 0.75 * 4
])
def test_multiply_by_quantized_multiplier_int64(x, multiplier, shift, expected):
    assert int(multiply_by_quantized_multiplier_int64(x, multiplier, shift)) == expected


@pytest.mark.parametrize("x, multiplier, shift, expected", [
    (3, 2**30, 0, 2),                # 1.5 -> 2: one rounding, ties up
    (-3, 2**30, 0, -1),              # -1.5 -> -1
    (-101, 1288490189, -1, -30),     # -30.3 -> -30 (the double-rounding version gives -31)
    (2**40, 2**30, -20, 2**19),
    (5, 3 * 2**29, 3, 30),           # 5 * 0.75 * 8, a left shift
])
def test_multiply_by_quantized_multiplier_single_rounding(x, multiplier, shift, expected):
    assert int(multiply_by_quantized_multiplier_single_rounding(x, multiplier, shift)) == expected


def test_single_rounding_is_exact_on_wide_accumulators():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.integers(-(2**47), 2**47, size=500), [-(2**47), 2**47 - 1, 0, -1, 1]])
    for multiplier, shift in ((2**31 - 1, -31), (1288490189, -1), (1759218432, -14), (3 * 2**29, 5)):
        values = x >> 12 if shift > 0 else x
        got = multiply_by_quantized_multiplier_single_rounding(values, multiplier, shift)
        expected = [(int(v) * multiplier + (1 << (30 - shift))) >> (31 - shift) for v in values]
        assert got.tolist() == expected


def test_mean_multiplier_folds_the_count():
    # floor(log2(49)) = 5: (2^30 << 5) // 49, shift - 5.
    assert mean_multiplier(2**30, -3, 49) == ((2**35) // 49, -8)
    # The extra shift is clamped to 31 + shift.
    assert mean_multiplier(2**30, -29, 1024) == ((2**32) // 1024, -31)
    with pytest.raises(QCompilerError):
        mean_multiplier(2**30, 0, 0)


def test_round_half_away():
    x = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 3.2, -3.7], dtype=np.float32)
    np.testing.assert_array_equal(round_half_away(x), [1, -1, 2, -2, 3, -3, 0, 0, 3, -4])


def test_quantize_rounds_and_clamps():
    params = QuantParams.per_tensor("i8", 1.0, 3)
    x = np.array([0.5, -0.5, 1.5, -2.5, 1000.0, -1000.0, np.inf, -np.inf, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(quantize(x, params), [4, 2, 5, 0, 127, -128, 127, -128, 3])
    assert quantize(x, params).dtype == np.int8


def test_quantize_divides_in_float32():
    scale = 0.1
    x = np.array([0.25, 0.35, -0.45, 0.05], dtype=np.float32)
    expected = [int(round_half_away(np.float32(v) / np.float32(scale))) for v in x]
    np.testing.assert_array_equal(quantize(x, QuantParams.per_tensor("i16", scale, 0)), expected)
    # float32(0.25) / float32(0.1) is 2.4999999627 in double but rounds to 2.5 in float32: TFLite gives 3.
    assert expected[0] == 3


def test_quantize_per_axis_and_dequantize_roundtrip():
    params = QuantParams.per_axis("i8", [0.5, 0.25, 2.0], [0, 0, 0], axis=1)
    x = np.array([[1.0, 1.0, 1.0], [-3.0, 0.3, 255.0]], dtype=np.float32)
    q = quantize(x, params)
    np.testing.assert_array_equal(q, [[2, 4, 1], [-6, 1, 127]])  # 0.5 rounds away to 1
    np.testing.assert_array_equal(dequantize(q, params), np.array([[1.0, 1.0, 2.0], [-3.0, 0.25, 254.0]]))
    assert dequantize(q, params).dtype == np.float32


def test_dequantize_is_double_product_rounded_to_float32():
    params = QuantParams.per_tensor("i8", 0.0235, -7)
    q = np.arange(-128, 128, dtype=np.int8)
    expected = np.array([np.float32(float(np.float32(0.0235)) * (int(v) + 7)) for v in q])
    np.testing.assert_array_equal(dequantize(q, params), expected)


def test_activation_range():
    params = QuantParams.per_tensor("i8", 0.05, -10)
    assert activation_range("none", params) == (-128, 127)
    assert activation_range("relu", params) == (-10, 127)
    assert activation_range("relu6", params) == (-10, 110)
    assert activation_range("relu_n1_to_1", params) == (-30, 10)
    # Bounds outside the storage range are clamped.
    assert activation_range("relu6", QuantParams.per_tensor("i8", 0.01, 0)) == (0, 127)
    assert activation_range("relu", QuantParams.per_tensor("i16", 0.001, 0)) == (0, 32767)
    with pytest.raises(QCompilerError, match="activation"):
        activation_range("gelu", params)


def test_choose_quant_params_asymmetric():
    p = choose_quant_params(-1.0, 1.0, "i8")
    # scale 2/255; zero point from max (smaller error): 127 - 127.5 = -0.5, rounds away to -1.
    assert p.scale == float(np.float32(2.0 / 255.0)) and p.zero_point == -1
    p = choose_quant_params(0.0, 6.0, "i8")
    assert p.scale == float(np.float32(6.0 / 255.0)) and p.zero_point == -128
    p = choose_quant_params(1.0, 2.0, "i8")          # widened to [0, 2]
    assert p.scale == float(np.float32(2.0 / 255.0)) and p.zero_point == -128
    p = choose_quant_params(-4.0, -1.0, "u8")        # widened to [-4, 0]
    assert p.zero_point == 255
    p = choose_quant_params(0.0, 0.0, "i8")
    assert p.scale == 1.0 and p.zero_point == 0


def test_choose_quant_params_symmetric():
    p = choose_quant_params(-0.5, 2.54, "i8", symmetric=True, narrow_range=True)
    assert p.zero_point == 0 and p.scale == float(np.float32(2.54 / 127))
    p = choose_quant_params(-3.0, 1.0, "i16", symmetric=True)
    assert p.zero_point == 0 and p.scale == float(np.float32(3.0 / 32767))
    per_axis = choose_per_axis_params([-1.0, -0.1, 0.0], [0.5, 0.2, 0.0], axis=0)
    assert per_axis.axis == 0 and per_axis.zero_points == (0, 0, 0)
    assert per_axis.scales == (float(np.float32(1 / 127)), float(np.float32(0.2 / 127)), 1.0)
    with pytest.raises(QCompilerError):
        choose_quant_params(2.0, 1.0)
    with pytest.raises(QCompilerError):
        choose_quant_params(0.0, math.inf)


def test_i64_storage_for_int16x8_bias():
    params = QuantParams.per_tensor("i64", 1e-6, 0)
    q = quantize(np.array([1.0, -2.5], dtype=np.float32), params)
    assert q.dtype == np.int64
    np.testing.assert_array_equal(q, [1000000, -2500000])
