"""HVX convolution (1x1, 3x3 and other windows; strides, dilations, padding; one or several 32-channel tiles)
against the reference interpreter's q.conv2d, bit for bit, on the HVX, scalar Hexagon and host builds."""

from __future__ import annotations

import numpy as np
import pytest

from hexagon_support import (WINDOW_FIELDS, array, check_outputs, driver_builds, i32, interpret, output_buffer,
                             per_channel_quant, random_int8, random_params, single_op_graph, tools,
                             window_output)  # noqa: F401 (tools: fixture)
from qcompiler.backends.hexagon.lower import hvx_step
from qcompiler.backends.mcu.lower import RULES
from qcompiler.backends.hexagon.toolchain import Tools
from qcompiler.types import TensorType

ACTIVATIONS = ("none", "relu", "relu6")
#: (in_h, in_w, in_c, out_c, kernel, stride, dilation, padding [top, left, bottom, right])
CASES = [
    (8, 8, 16, 64, 1, 1, 1, (0, 0, 0, 0)),      # pointwise, two tiles
    (8, 8, 64, 16, 1, 1, 1, (0, 0, 0, 0)),      # pointwise, half a tile
    (16, 16, 1, 8, 3, 1, 1, (1, 1, 1, 1)),      # first layer of digits_cnn
    (16, 16, 8, 16, 3, 1, 1, (1, 1, 1, 1)),
    (8, 8, 16, 32, 3, 2, 1, (1, 1, 1, 1)),      # strided
    (9, 7, 3, 37, 3, 2, 1, (0, 1, 1, 1)),       # odd sizes, 37 channels
    (10, 10, 5, 12, 3, 1, 2, (2, 2, 2, 2)),     # dilated
    (6, 6, 6, 70, 1, 2, 1, (0, 0, 0, 0)),       # pointwise, strided, rows not word-aligned
    (7, 5, 4, 9, 5, 1, 1, (2, 2, 2, 2)),
]


@pytest.fixture(scope="module")
def builds(tools: Tools, tmp_path_factory):
    return driver_builds("conv2d", tmp_path_factory.mktemp("conv2d"),
                         ["qc_hvx_conv2d_s8.c", "qc_hvx_gemm.c", "qc_conv2d_s8.c"])


def conv_case(seed: int, in_h: int, in_w: int, in_c: int, out_c: int, kernel: int, stride: int, dilation: int,
              padding: tuple):
    rng = np.random.default_rng(seed)
    source, result = random_params(rng), random_params(rng)
    weight_quant, bias_quant = per_channel_quant(rng, source, out_c, 0)
    out_h = window_output(in_h, padding[0], padding[2], kernel, stride, dilation)
    out_w = window_output(in_w, padding[1], padding[3], kernel, stride, dilation)
    weights = rng.integers(-127, 128, (out_c, kernel, kernel, in_c)).astype(np.int8)
    bias = rng.integers(-20000, 20000, out_c).astype(np.int32)
    graph, op = single_op_graph(
        "q.conv2d", [TensorType((1, in_h, in_w, in_c), "i8", source)],
        [(weights, weight_quant), (bias, bias_quant) if seed % 3 else None],
        {"strides": [stride] * 2, "dilations": [dilation] * 2, "padding": list(padding), "layout": "NHWC",
         "activation": ACTIVATIONS[seed % 3]},
        TensorType((1, out_h, out_w, out_c), "i8", result))
    x = random_int8(rng, (1, in_h, in_w, in_c))
    return graph, op, x


def conv_stream(op, x: np.ndarray) -> bytes:
    """The conv2d driver's input: the MCU step's fields and arrays, the HVX step's arrays, input, output."""
    step = RULES["q.conv2d"](op)
    hvx = hvx_step(step)
    assert hvx is not None
    p = step.params
    fields = (*WINDOW_FIELDS, "out_c")
    count = p["batches"] * p["out_h"] * p["out_w"] * p["out_c"]
    return (i32(*[p[f] for f in fields]) + array(step.arrays["filter"], "i1") + array(step.arrays.get("bias"), "<i4")
            + array(step.arrays.get("filter_sums"), "<i4") + array(step.arrays["multiplier"], "<i4")
            + array(step.arrays["shift"], "<i4") + i32(hvx.params["gemm"]["groups"])
            + array(hvx.arrays["packed_filter"], "i1") + array(hvx.arrays["start"], "<i4")
            + array(hvx.arrays["requant"], "<i4") + array(x, "i1") + output_buffer(count))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_conv2d_bit_exact(builds, case: int) -> None:
    graph, op, x = conv_case(100 + case, *CASES[case])
    check_outputs(builds, conv_stream(op, x), interpret(graph, {"x0": x}))


def test_extreme_inputs(builds) -> None:
    """All inputs at one end of the range, with large weights: the largest accumulators."""
    graph, op, x = conv_case(7, 6, 6, 32, 33, 3, 1, 1, (1, 1, 1, 1))
    for value in (-128, 127):
        x = np.full_like(x, value)
        check_outputs(builds, conv_stream(op, x), interpret(graph, {"x0": x}))
