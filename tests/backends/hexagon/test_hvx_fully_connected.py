"""HVX fully connected layer (rows, per-channel and per-tensor scales, feature counts off the vector width)
against the reference interpreter's q.fully_connected, bit for bit, on the HVX, scalar Hexagon and host
builds; asymmetric weights stay on the scalar kernel."""

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

#: (rows, in_features, out_features, per_channel)
CASES = [(1, 32, 10, True), (1, 64, 128, True), (1, 128, 64, False), (8, 32, 96, True), (3, 37, 33, True),
         (2, 5, 1, False)]


@pytest.fixture(scope="module")
def builds(tools: Tools, tmp_path_factory):
    return driver_builds("fully_connected", tmp_path_factory.mktemp("fc"),
                         ["qc_hvx_fully_connected_s8.c", "qc_hvx_gemm.c", "qc_fully_connected_s8.c"])


def fc_case(seed: int, rows: int, depth: int, out: int, per_channel: bool):
    rng = np.random.default_rng(seed)
    source, result = random_params(rng), random_params(rng)
    scales = [float32_scale(s) for s in rng.uniform(0.001, 0.05, out if per_channel else 1)]
    if per_channel:
        weight_quant = QuantParams.per_axis("i8", scales, [0] * out, 0)
        bias_quant = QuantParams.per_axis("i32", [float32_scale(source.scale * s) for s in scales], [0] * out, 0)
    else:
        weight_quant = QuantParams.per_tensor("i8", scales[0], 0)
        bias_quant = QuantParams.per_tensor("i32", float32_scale(source.scale * scales[0]), 0)
    weights = rng.integers(-127, 128, (out, depth)).astype(np.int8)
    bias = rng.integers(-20000, 20000, out).astype(np.int32)
    graph, op = single_op_graph("q.fully_connected", [TensorType((rows, depth), "i8", source)],
                                [(weights, weight_quant), (bias, bias_quant) if seed % 2 else None],
                                {"activation": ("none", "relu")[seed % 2]}, TensorType((rows, out), "i8", result))
    return graph, op, random_int8(rng, (rows, depth))


def fc_stream(op, x: np.ndarray) -> bytes:
    step = RULES["q.fully_connected"](op)
    hvx = hvx_step(step)
    assert hvx is not None
    p = step.params
    fields = ("rows", "in_features", "out_features", "input_offset", "filter_offset", "output_offset", "act_min",
              "act_max", "per_channel")
    return (i32(*[p[f] for f in fields]) + array(step.arrays["filter"], "i1") + array(step.arrays.get("bias"), "<i4")
            + array(step.arrays["scale"], "<f8")
            + i32(hvx.params["gemm"]["groups"])
            + array(hvx.arrays["packed_filter"], "i1") + array(hvx.arrays["start"], "<i4")
            + array(x, "i1") + output_buffer(p["rows"] * p["out_features"]))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fully_connected_bit_exact(builds, case: int) -> None:
    graph, op, x = fc_case(200 + case, *CASES[case])
    check_outputs(builds, fc_stream(op, x), interpret(graph, {"x0": x}))


def test_asymmetric_weights_stay_scalar() -> None:
    graph, op, _ = fc_case(1, 1, 8, 4, False)
    step = RULES["q.fully_connected"](op)
    step.params["filter_offset"] = 3
    assert hvx_step(step) is None
