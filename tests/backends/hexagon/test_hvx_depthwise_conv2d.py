"""HVX depthwise convolution (64-channel steps, partial tiles, strides, dilations, padding) against the
reference interpreter's q.depthwise_conv2d, bit for bit, on the HVX, scalar Hexagon and host builds."""

from __future__ import annotations

import numpy as np
import pytest

from hexagon_support import (array, check_outputs, driver_builds, i32, interpret, output_buffer, random_int8,
                             random_params, single_op_graph, tools)  # noqa: F401 (tools: fixture)
from qcompiler.backends.hexagon.lower import hvx_step
from qcompiler.backends.hexagon.toolchain import Tools
from qcompiler.backends.mcu.lower import RULES
from qcompiler.quant_math import float32_scale
from qcompiler.types import QuantParams, TensorType

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
    scales = [float32_scale(s) for s in rng.uniform(0.001, 0.05, channels)]
    weight_quant = QuantParams.per_axis("i8", scales, [0] * channels, 3)
    bias_quant = QuantParams.per_axis("i32", [float32_scale(source.scale * s) for s in scales], [0] * channels, 0)
    out_h = (in_h + padding[0] + padding[2] - dilation * (kernel - 1) - 1) // stride + 1
    out_w = (in_w + padding[1] + padding[3] - dilation * (kernel - 1) - 1) // stride + 1
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
    fields = ("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w",
              "dilation_h", "dilation_w", "pad_top", "pad_left", "depth_multiplier", "input_offset",
              "output_offset", "act_min", "act_max")
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
