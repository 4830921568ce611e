"""The HVX requantization (per-lane MultiplyByQuantizedMultiplier) against quant_math, bit for bit, including
rounding ties of the doubling high multiply and of the rounding shift, and the saturating extremes."""

from __future__ import annotations

import numpy as np
import pytest

from hexagon_support import blob, driver_builds, i32, tools  # noqa: F401 (tools: fixture)
from qcompiler.backends.hexagon.packing import requant_lanes
from qcompiler.backends.hexagon.toolchain import Tools
from qcompiler.quant_math import multiply_by_quantized_multiplier, quantize_multiplier


@pytest.fixture(scope="module")
def builds(tools: Tools, tmp_path_factory):
    return driver_builds("requantize_lanes", tmp_path_factory.mktemp("requantize"))


def cases(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 32 * 128
    reals = np.exp(rng.uniform(np.log(1e-6), np.log(4.0), n))
    pairs = [quantize_multiplier(float(r)) for r in reals]
    multiplier = np.array([m for m, _ in pairs], dtype=np.int64)
    shift = np.array([s for _, s in pairs], dtype=np.int64)
    x = rng.integers(-2**31, 2**31, n)
    x = np.where(shift > 0, x >> 3, x)                  # x * 2^shift stays in range, as in a real kernel
    x[: n // 4] = rng.integers(-5000, 5000, n // 4)    # typical accumulators
    ties = slice(n // 4, n // 2)                        # multiplier 2^30 makes every odd x a tie
    multiplier[ties], x[ties] = 1 << 30, rng.integers(-10**6, 10**6, n // 4) | 1
    x[-4:] = [2**31 - 1, -2**31, 0, -1]
    multiplier[-8:-4], shift[-8:-4], x[-8:-4] = 2**31 - 1, -31, [2**31 - 1, -2**31, 2**30, -2**30]
    return x, multiplier, shift


@pytest.mark.parametrize("seed", [0, 1])
def test_requantize_lanes_bit_exact(builds, seed: int) -> None:
    x, multiplier, shift = cases(seed)
    expected = multiply_by_quantized_multiplier(x, multiplier, shift)
    stream = (i32(len(x)) + blob(x, "<i4") + blob(multiplier, "<i4") + blob(shift, "<i4")
              + blob(requant_lanes(multiplier, shift), "<i4"))
    assert np.any((multiplier == 1 << 30) & (x % 2 == 1) & (x < 0) & (shift > 0))  # negative ties reach the output
    for build in builds:
        got = np.frombuffer(build.run(stream), dtype="<i4")
        mismatch = np.flatnonzero(got != expected)
        assert mismatch.size == 0, (build.name, mismatch[:5], got[mismatch[:5]], expected[mismatch[:5]])
