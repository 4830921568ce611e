"""HVX depthwise convolution (64-channel steps, partial tiles, strides, dilations, padding) against the
reference interpreter's q.depthwise_conv2d, bit for bit, on the HVX, scalar Hexagon and host builds."""

from __future__ import annotations

import numpy as np
import pytest

from hexagon_support import (WINDOW_FIELDS, array, check_outputs, driver_builds, i32, interpret, output_buffer,
                             per_channel_quant, random_int8, random_params, single_op_graph, tools,
                             window_output)  # noqa: F401 (tools: fixture)
from qcompiler.backends.hexagon.lower import hvx_step
from qcompiler.backends.hexagon.toolchain import Tools
from qcompiler.backends.mcu.lower import RULES
from qcompiler.types import TensorType

#: (in_h, in_w, channels, kernel, stride, dilation, padding)
CASES = [(8, 8, 64, 3, 1, 1, (1, 1, 1, 1)), (9, 7, 24, 3, 2, 1, (1, 1, 1, 1)), (6, 6, 100, 3, 1, 2, (2, 2, 2, 2)),
         (5, 5, 130, 5, 1, 1, (2, 2, 2, 2)), (7, 7, 3, 2, 2, 1, (0, 0, 1, 1))]


@pytest.fixture(scope="module")
def builds(tools: Tools, tmp_path_factory):
    return driver_builds("depthwise_conv2d", tmp_path_factory.mktemp("dw"),
                         ["qc_hvx_depthwise_conv2d_s8.c", "qc_depthwise_conv2d_s8.c"])


def dw_case(seed: int, in_h: int, in_w: int, channels: int, kernel: int, stride: int, dilation: int, padding):
    rng = np.random.default_rng(seed)
    source, result = random_params(rng), random_params(rng)
    weight_quant, bias_quant = per_channel_quant(rng, source, channels, 3)
    out_h = window_output(in_h, padding[0], padding[2], kernel, stride, dilation)
    out_w = window_output(in_w, padding[1], padding[3], kernel, stride, dilation)
    weights = rng.integers(-127, 128, (1, kernel, kernel, channels)).astype(np.int8)
    bias = rng.integers(-20000, 20000, channels).astype(np.int32)
    graph, op = single_op_graph(
        "q.depthwise_conv2d", [TensorType((1, in_h, in_w, channels), "i8", source)],
        [(weights, weight_quant), (bias, bias_quant) if seed % 3 else None],
        {"strides": [stride] * 2, "dilations": [dilation] * 2, "padding": list(padding), "layout": "NHWC",
         "depth_multiplier": 1, "activation": ("none", "relu", "relu6")[seed % 3]},
        TensorType((1, out_h, out_w, channels), "i8", result))
    return graph, op, random_int8(rng, (1, in_h, in_w, channels))


def dw_stream(op, x: np.ndarray) -> bytes:
    step = RULES["q.depthwise_conv2d"](op)
    hvx = hvx_step(step)
    assert hvx is not None
    p = step.params
    fields = (*WINDOW_FIELDS, "depth_multiplier")
    count = p["batches"] * p["out_h"] * p["out_w"] * p["in_c"]
    return (i32(*[p[f] for f in fields]) + array(step.arrays["filter"], "i1") + array(step.arrays.get("bias"), "<i4")
            + array(step.arrays.get("filter_sums"), "<i4") + array(step.arrays["multiplier"], "<i4")
            + array(step.arrays["shift"], "<i4") + array(hvx.arrays["widened_filter"], "<i2")
            + array(hvx.arrays["lane_bias"], "<i4")
            + array(hvx.arrays["lane_requant"], "<i4") + array(x, "i1") + output_buffer(count))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_depthwise_conv2d_bit_exact(builds, case: int) -> None:
    graph, op, x = dw_case(300 + case, *CASES[case])
    check_outputs(builds, dw_stream(op, x), interpret(graph, {"x0": x}))
