"""HVX addition (and subtraction), int8 requantization, max and average pooling and means against the reference
interpreter's q ops, bit for bit, on the HVX, scalar Hexagon and host builds; broadcasting additions and means
over the last axis stay on the scalar kernels."""

from __future__ import annotations

import numpy as np
import pytest

from hexagon_support import (array, blob, check_outputs, driver_builds, i32, interpret, output_buffer, random_int8,
                             random_params, single_op_graph, tools)  # noqa: F401 (tools: fixture)
from qcompiler.backends.hexagon.lower import hvx_step
from qcompiler.backends.hexagon.toolchain import Tools
from qcompiler.backends.mcu.lower import RULES
from qcompiler.types import TensorType

ADD_SHAPES = [(1, 8, 8, 16), (1, 8, 32), (3, 5, 7), (1, 300), (2, 2, 2, 64)]
POOL_CASES = [  # (in_h, in_w, channels, kernel, stride, padding)
    (16, 16, 16, (2, 2), 2, (0, 0, 0, 0)), (9, 7, 3, (3, 3), 2, (1, 1, 1, 1)), (6, 6, 200, (3, 2), 1, (1, 0, 1, 1)),
    (4, 4, 32, (4, 4), 1, (0, 0, 0, 0)), (5, 8, 129, (2, 3), 3, (1, 1, 1, 1)),
]


def record(fields: dict) -> bytes:
    """A qc_hvx_requant_t initializer as the struct's bytes."""
    return blob(np.array(list(fields.values())), "<i4")


@pytest.fixture(scope="module")
def add_builds(tools: Tools, tmp_path_factory):
    return driver_builds("add", tmp_path_factory.mktemp("add"), ["qc_hvx_add_s8.c", "qc_add_s8.c"])


@pytest.fixture(scope="module")
def pool_builds(tools: Tools, tmp_path_factory):
    return driver_builds("pool", tmp_path_factory.mktemp("pool"), ["qc_hvx_pool_s8.c", "qc_pool_s8.c"])


@pytest.fixture(scope="module")
def requantize_builds(tools: Tools, tmp_path_factory):
    return driver_builds("requantize", tmp_path_factory.mktemp("requantize"),
                         ["qc_hvx_requantize_s8.c", "qc_quantize.c"])


@pytest.mark.parametrize("kind", ["q.add", "q.sub"])
@pytest.mark.parametrize("case", range(len(ADD_SHAPES)))
def test_add_bit_exact(add_builds, kind: str, case: int) -> None:
    rng = np.random.default_rng(400 + case)
    shape = ADD_SHAPES[case]
    graph, op = single_op_graph(kind, [TensorType(shape, "i8", random_params(rng)),
                                       TensorType(shape, "i8", random_params(rng))], [],
                                {"activation": ("none", "relu", "relu6")[case % 3]},
                                TensorType(shape, "i8", random_params(rng)))
    a, b = random_int8(rng, shape), random_int8(rng, shape)
    step = RULES[kind](op)
    hvx = hvx_step(step)
    assert hvx is not None
    p = step.params
    ints = (list(p["shape"]["dims"]) + list(p["shape"]["lhs_strides"]) + list(p["shape"]["rhs_strides"])
            + [p[f] for f in ("left_shift", "lhs_offset", "lhs_multiplier", "lhs_shift", "rhs_offset",
                              "rhs_multiplier", "rhs_shift", "output_offset", "output_multiplier", "output_shift",
                              "act_min", "act_max")])
    stream = (i32(*ints) + record(hvx.params["lhs"]) + record(hvx.params["rhs"]) + record(hvx.params["output"])
              + array(a, "i1") + array(b, "i1")
              + output_buffer(a.size))
    check_outputs(add_builds, stream, interpret(graph, {"x0": a, "x1": b}))


def test_broadcasting_add_stays_scalar() -> None:
    rng = np.random.default_rng(0)
    graph, op = single_op_graph("q.add", [TensorType((1, 4, 4, 8), "i8", random_params(rng)),
                                          TensorType((1, 1, 1, 8), "i8", random_params(rng))], [], {},
                                TensorType((1, 4, 4, 8), "i8", random_params(rng)))
    assert hvx_step(RULES["q.add"](op)) is None


@pytest.mark.parametrize("count", [1, 127, 128, 1000])
def test_requantize_bit_exact(requantize_builds, count: int) -> None:
    rng = np.random.default_rng(count)
    graph, op = single_op_graph("q.requantize", [TensorType((count,), "i8", random_params(rng))], [], {},
                                TensorType((count,), "i8", random_params(rng)))
    x = random_int8(rng, (count,))
    step = RULES["q.requantize"](op)
    hvx = hvx_step(step)
    assert hvx is not None
    p = step.params
    stream = (i32(p["count"], p["input_zero_point"], p["output_zero_point"], p["multiplier"], p["shift"])
              + record(hvx.params["requant"]) + array(x, "i1") + output_buffer(count))
    check_outputs(requantize_builds, stream, interpret(graph, {"x0": x}))


@pytest.mark.parametrize("kind", ["q.max_pool2d", "q.avg_pool2d"])
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_pool_bit_exact(pool_builds, kind: str, case: int) -> None:
    rng = np.random.default_rng(500 + case)
    in_h, in_w, channels, kernel, stride, padding = POOL_CASES[case]
    out_h = (in_h + padding[0] + padding[2] - kernel[0]) // stride + 1
    out_w = (in_w + padding[1] + padding[3] - kernel[1]) // stride + 1
    params = random_params(rng)
    graph, op = single_op_graph(kind, [TensorType((1, in_h, in_w, channels), "i8", params)], [],
                                {"kernel": list(kernel), "strides": [stride] * 2, "padding": list(padding),
                                 "layout": "NHWC", "activation": ("none", "relu", "relu6")[case % 3]},
                                TensorType((1, out_h, out_w, channels), "i8", params))
    x = random_int8(rng, (1, in_h, in_w, channels))
    step = RULES[kind](op)
    hvx = hvx_step(step)
    assert hvx is not None
    p = step.params
    fields = ("batches", "in_h", "in_w", "channels", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w",
              "pad_top", "pad_left", "act_min", "act_max")
    stream = (i32(int(kind == "q.avg_pool2d"), *[p[f] for f in fields]) + array(x, "i1")
              + output_buffer(out_h * out_w * channels))
    check_outputs(pool_builds, stream, interpret(graph, {"x0": x}))


@pytest.fixture(scope="module")
def mean_builds(tools: Tools, tmp_path_factory):
    return driver_builds("mean", tmp_path_factory.mktemp("mean"), ["qc_hvx_mean_s8.c", "qc_mean_s8.c"])


#: (input shape, axes, keepdims): global average pools and other means keeping the last axis.
MEAN_CASES = [((1, 8, 8, 64), [1, 2], True), ((1, 4, 4, 32), [1, 2], False), ((1, 8, 32), [1], False),
              ((2, 3, 5, 200), [1, 2], True), ((3, 4, 5), [0, 1], False)]


@pytest.mark.parametrize("case", range(len(MEAN_CASES)))
def test_mean_bit_exact(mean_builds, case: int) -> None:
    rng = np.random.default_rng(600 + case)
    shape, axes, keep = MEAN_CASES[case]
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)
    graph, op = single_op_graph("q.mean", [TensorType(shape, "i8", random_params(rng))], [],
                                {"axes": axes, "keepdims": keep}, TensorType(out_shape, "i8", random_params(rng)))
    x = random_int8(rng, shape)
    step = RULES["q.mean"](op)
    hvx = hvx_step(step)
    assert hvx is not None
    p = step.params
    ints = (list(p["kept_dims"]) + list(p["kept_strides"]) + list(p["reduced_dims"]) + list(p["reduced_strides"])
            + [p["zero_point_sum"], p["multiplier"], p["shift"], p["output_zero_point"]])
    stream = i32(*ints) + record(hvx.params["requant"]) + array(x, "i1") + output_buffer(int(np.prod(out_shape)))
    check_outputs(mean_builds, stream, interpret(graph, {"x0": x}))


def test_mean_over_the_last_axis_stays_scalar() -> None:
    rng = np.random.default_rng(1)
    graph, op = single_op_graph("q.mean", [TensorType((1, 4, 16), "i8", random_params(rng))], [],
                                {"axes": [2], "keepdims": False}, TensorType((1, 4), "i8", random_params(rng)))
    assert hvx_step(RULES["q.mean"](op)) is None
