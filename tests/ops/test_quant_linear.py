"""The q dialect's conversions and linear integer ops against LiteRT's reference kernels (BUILTIN_REF): small
hand-built q graphs with random integer inputs and random per-channel scales are exported to .tflite, and our
interpreter's integers must equal LiteRT's bit for bit, int8 and int16x8, over many seeds and shapes. Plus the
ops' verification rules and a few hand-computed values."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pytest

from qcompiler.errors import QCompilerError, VerificationError
from qcompiler.interpreter import run
from qcompiler.ir import Graph, Op, Value
from qcompiler.ops.registry import get_op_def
from qcompiler.quant_math import float32_scale
from qcompiler.types import QuantParams, TensorType
from qcompiler.verifier import verify


SEEDS = range(8)
ACTIVATIONS = ("none", "relu", "relu6", "relu_n1_to_1")


# -- graph building -----------------------------------------------------------------------------------------
def activation_params(rng: np.random.Generator, storage: str) -> QuantParams:
    """Random activation parameters: int8 any zero point, int16 symmetric."""
    if storage == "i8":
        return QuantParams.per_tensor("i8", float32_scale(rng.uniform(0.005, 0.1)), int(rng.integers(-100, 100)))
    return QuantParams.per_tensor("i16", float32_scale(rng.uniform(2e-5, 5e-4)), 0)


def random_ints(rng: np.random.Generator, shape: Sequence[int], storage: str) -> np.ndarray:
    """Uniform integers over the storage range."""
    info = np.iinfo({"i8": np.int8, "i16": np.int16}[storage])
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(info.dtype)


def constant(graph: Graph, array: np.ndarray, quant: QuantParams) -> Value:
    """A quantized constant."""
    return graph.create("const", [], {"value": array}, [TensorType(array.shape, quant.storage, quant)]).result


def weights(graph: Graph, rng: np.random.Generator, shape: Sequence[int],
            axis: Optional[int]) -> tuple[Value, list[float]]:
    """Random int8 weights with random per-channel (along ``axis``) or per-tensor scales."""
    values = rng.integers(-127, 128, size=shape).astype(np.int8)
    if axis is None:
        scale = float32_scale(rng.uniform(0.001, 0.05))
        return constant(graph, values, QuantParams.per_tensor("i8", scale, 0)), [scale]
    scales = [float32_scale(s) for s in rng.uniform(0.001, 0.05, size=shape[axis])]
    return constant(graph, values, QuantParams.per_axis("i8", scales, [0] * len(scales), axis)), scales


def bias(graph: Graph, rng: np.random.Generator, channels: int, input_scale: float, scales: list[float],
         storage: str) -> Value:
    """A random bias of scale input_scale * weight_scale (int32 for int8, int64 for int16x8)."""
    bias_storage = "i32" if storage == "i8" else "i64"
    bias_scales = [float32_scale(input_scale * s) for s in scales]
    values = rng.integers(-20000, 20000, size=channels).astype(np.int32 if storage == "i8" else np.int64)
    if len(bias_scales) == 1:
        quant = QuantParams.per_tensor(bias_storage, bias_scales[0], 0)
    else:
        quant = QuantParams.per_axis(bias_storage, bias_scales, [0] * channels, 0)
    return constant(graph, values, quant)


def q_op(graph: Graph, kind: str, operands: list[Value], attrs: dict, shape: Sequence[int],
         quant: QuantParams) -> Op:
    """Create a q op with its declared result type and its derived integer attributes (as lower-quantized)."""
    op = graph.create(kind, operands, attrs, [TensorType(tuple(shape), quant.storage, quant)])
    op.attrs.update(get_op_def(kind).derive_attrs(op))
    return op


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    """TFLite SAME padding: (output size, pad before, pad after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return out, total // 2, total - total // 2


def window(rng: np.random.Generator, height: int, width: int, kernel: Sequence[int], stride: int,
           dilation: int = 1) -> tuple[list[int], int, int]:
    """SAME or VALID explicit padding [top, left, bottom, right] and the output size."""
    if rng.random() < 0.5:
        out_h, top, bottom = same_padding(height, kernel[0], stride, dilation)
        out_w, left, right = same_padding(width, kernel[1], stride, dilation)
        return [top, left, bottom, right], out_h, out_w
    out_h = (height - (kernel[0] - 1) * dilation - 1) // stride + 1
    out_w = (width - (kernel[1] - 1) * dilation - 1) // stride + 1
    return [0, 0, 0, 0], out_h, out_w


def run_in_litert(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Export ``graph`` to .tflite and run it in LiteRT's reference kernels (BUILTIN_REF)."""
    tflite = pytest.importorskip("qcompiler.backends.tflite")
    from qcompiler.backends.tflite.runtime import run_tflite

    return run_tflite(tflite.export_tflite(graph), feeds)


def assert_matches_litert(graph: Graph, feeds: dict[str, np.ndarray]) -> None:
    """Export ``graph`` and check LiteRT's reference kernels give exactly our interpreter's outputs."""
    verify(graph)
    expected = run(graph, feeds)
    got = run_in_litert(graph, feeds)
    for name, want in expected.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)


# -- oracle tests ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("storage", ["i8", "i16"])
@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d_matches_litert(storage, seed):
    rng = np.random.default_rng(seed)
    n, h, w, cin, cout = 1 + seed % 2, int(rng.integers(3, 10)), int(rng.integers(3, 10)), \
        int(rng.integers(1, 6)), int(rng.integers(1, 7))
    kernel = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    stride, dilation = int(rng.integers(1, 3)), int(rng.integers(1, 3)) if seed % 3 == 0 else 1
    padding, oh, ow = window(rng, h, w, kernel, stride, dilation)
    graph = Graph()
    source = activation_params(rng, storage)
    x = graph.add_input("x", TensorType((n, h, w, cin), storage, source))
    wq, scales = weights(graph, rng, (cout, kernel[0], kernel[1], cin), 0)
    bq = bias(graph, rng, cout, source.scale, scales, storage)
    op = q_op(graph, "q.conv2d", [x, wq, bq], {"strides": [stride] * 2, "dilations": [dilation] * 2,
                                                 "padding": padding, "activation": ACTIVATIONS[seed % 3]},
              (n, oh, ow, cout), activation_params(rng, storage))
    graph.set_outputs([op.result], ["y"])
    assert_matches_litert(graph, {"x": random_ints(rng, (n, h, w, cin), storage)})


@pytest.mark.parametrize("storage", ["i8", "i16"])
@pytest.mark.parametrize("seed", SEEDS)
def test_depthwise_conv2d_matches_litert(storage, seed):
    rng = np.random.default_rng(100 + seed)
    h, w, cin, multiplier = int(rng.integers(3, 10)), int(rng.integers(3, 10)), int(rng.integers(1, 6)), \
        1 + seed % 2
    kernel = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    stride = int(rng.integers(1, 3))
    padding, oh, ow = window(rng, h, w, kernel, stride)
    graph = Graph()
    source = activation_params(rng, storage)
    x = graph.add_input("x", TensorType((1, h, w, cin), storage, source))
    channels = cin * multiplier
    wq, scales = weights(graph, rng, (1, kernel[0], kernel[1], channels), 3)
    bq = bias(graph, rng, channels, source.scale, scales, storage)
    op = q_op(graph, "q.depthwise_conv2d", [x, wq, bq],
              {"strides": [stride] * 2, "padding": padding, "depth_multiplier": multiplier,
               "activation": ACTIVATIONS[seed % 3]}, (1, oh, ow, channels), activation_params(rng, storage))
    graph.set_outputs([op.result], ["y"])
    assert_matches_litert(graph, {"x": random_ints(rng, (1, h, w, cin), storage)})


@pytest.mark.parametrize("storage", ["i8", "i16"])
@pytest.mark.parametrize("seed", SEEDS[:4])
def test_grouped_and_dilated_convolutions_match_litert(storage, seed):
    rng = np.random.default_rng(150 + seed)
    groups, per_group, out_per_group = 2 + seed % 2, int(rng.integers(1, 4)), int(rng.integers(1, 4))
    graph = Graph()
    source = activation_params(rng, storage)
    shape = (1, 9, 8, groups * per_group)
    x = graph.add_input("x", TensorType(shape, storage, source))
    cout = groups * out_per_group
    wq, scales = weights(graph, rng, (cout, 3, 3, per_group), 0)
    grouped = q_op(graph, "q.conv2d", [x, wq, bias(graph, rng, cout, source.scale, scales, storage)],
                   {"groups": groups, "padding": [1, 1, 1, 1]}, (1, 9, 8, cout), activation_params(rng, storage))
    dw, dw_scales = weights(graph, rng, (1, 3, 3, shape[3]), 3)
    dilated = q_op(graph, "q.depthwise_conv2d", [x, dw, bias(graph, rng, shape[3], source.scale, dw_scales, storage)],
                   {"dilations": [2, 2], "padding": [2, 2, 2, 2]}, shape, activation_params(rng, storage))
    graph.set_outputs([grouped.result, dilated.result], ["grouped", "dilated"])
    assert_matches_litert(graph, {"x": random_ints(rng, shape, storage)})


@pytest.mark.parametrize("kind", ["q.conv2d", "q.depthwise_conv2d", "q.avg_pool2d", "q.max_pool2d"])
def test_nchw_layout_equals_nhwc(kind):
    """NCHW ops compute what their NHWC form computes (the NHWC form is checked against LiteRT)."""
    rng = np.random.default_rng(170)
    source, out = activation_params(rng, "i8"), activation_params(rng, "i8")
    image = random_ints(rng, (2, 7, 6, 4), "i8")
    results = {}
    for layout in ("NHWC", "NCHW"):
        graph = Graph()
        shape = (2, 7, 6, 4) if layout == "NHWC" else (2, 4, 7, 6)
        x = graph.add_input("x", TensorType(shape, "i8", source))
        attrs = {"layout": layout, "strides": [2, 1], "padding": [1, 0, 1, 1], "activation": "relu"}
        operands, channels = [x], 4
        if kind == "q.conv2d":
            w = np.random.default_rng(1).integers(-127, 128, size=(5, 3, 2, 4)).astype(np.int8)
            channels = 5
            operands.append(constant(graph, w if layout == "NHWC" else w.transpose(0, 3, 1, 2),
                                     QuantParams.per_axis("i8", [0.01, 0.02, 0.03, 0.04, 0.05], [0] * 5, 0)))
        elif kind == "q.depthwise_conv2d":
            w = np.random.default_rng(1).integers(-127, 128, size=(1, 3, 2, 4)).astype(np.int8)
            operands.append(constant(graph, w if layout == "NHWC" else w.transpose(3, 0, 1, 2),
                                     QuantParams.per_axis("i8", [0.01, 0.02, 0.03, 0.04], [0] * 4,
                                                          3 if layout == "NHWC" else 0)))
        else:
            attrs["kernel"] = [3, 2]
            out = source
        out_shape = (2, 4, 6, channels) if layout == "NHWC" else (2, channels, 4, 6)
        op = q_op(graph, kind, operands, attrs, out_shape, out)
        graph.set_outputs([op.result], ["y"])
        verify(graph)
        results[layout] = run(graph, {"x": image if layout == "NHWC" else image.transpose(0, 3, 1, 2)})["y"]
    np.testing.assert_array_equal(results["NCHW"], results["NHWC"].transpose(0, 3, 1, 2))


@pytest.mark.parametrize("storage", ["i8", "i16"])
@pytest.mark.parametrize("seed", SEEDS)
def test_fully_connected_matches_litert(storage, seed):
    rng = np.random.default_rng(200 + seed)
    batch, k, n = int(rng.integers(1, 5)), int(rng.integers(1, 40)), int(rng.integers(1, 12))
    shape = (batch, k) if seed % 2 else (2, batch, k)
    graph = Graph()
    source = activation_params(rng, storage)
    x = graph.add_input("x", TensorType(shape, storage, source))
    wq, scales = weights(graph, rng, (n, k), 0 if seed % 4 < 2 else None)
    bq = bias(graph, rng, n, source.scale, scales, storage)
    op = q_op(graph, "q.fully_connected", [x, wq, bq], {"activation": ACTIVATIONS[seed % 4]},
              shape[:-1] + (n,), activation_params(rng, storage))
    graph.set_outputs([op.result], ["y"])
    assert_matches_litert(graph, {"x": random_ints(rng, shape, storage)})


@pytest.mark.parametrize("storage", ["i8", "i16"])
@pytest.mark.parametrize("seed", SEEDS[:4])
def test_batch_matmul_matches_litert(storage, seed):
    rng = np.random.default_rng(300 + seed)
    rows, inner, cols = (int(v) for v in rng.integers(1, 9, size=3))
    adj_x, adj_y = bool(seed & 1), bool(seed & 2)
    a_shape = (2, inner, rows) if adj_x else (2, rows, inner)
    b_shape = (2, cols, inner) if adj_y else (2, inner, cols)
    graph = Graph()
    a = graph.add_input("a", TensorType(a_shape, storage, activation_params(rng, storage)))
    b = graph.add_input("b", TensorType(b_shape, storage, activation_params(rng, storage)))
    op = q_op(graph, "q.batch_matmul", [a, b], {"adj_x": adj_x, "adj_y": adj_y}, (2, rows, cols),
              activation_params(rng, storage))
    graph.set_outputs([op.result], ["y"])
    assert_matches_litert(graph, {"a": random_ints(rng, a_shape, storage), "b": random_ints(rng, b_shape, storage)})


def extreme_ints(shape: Sequence[int], storage: str, rng: np.random.Generator, params: QuantParams,
                 small: bool) -> np.ndarray:
    """Inputs at the ends of the storage range (largest accumulators, saturation, int32 overflow), or when
    ``small`` within 2 of the zero point (accumulators that a multiplier >= 1 keeps inside int32)."""
    info = np.iinfo({"i8": np.int8, "i16": np.int16}[storage])
    if small:
        return (params.zero_point + rng.integers(-2, 3, size=shape)).astype(info.dtype)
    return np.where(rng.random(shape) < 0.9, info.max, info.min).astype(info.dtype)


@pytest.mark.parametrize("kind", ["q.conv2d", "q.depthwise_conv2d", "q.fully_connected", "q.batch_matmul"])
@pytest.mark.parametrize("storage", ["i8", "i16"])
@pytest.mark.parametrize("large_multiplier", [False, True])
def test_extreme_accumulators_and_large_multipliers_match_litert(kind, storage, large_multiplier):
    """All-extreme inputs and weights (int16x8 fully connected and batch matmul accumulators beyond int32),
    or a tiny output scale whose multipliers are >= 1 (positive shifts) on small accumulators. (Positive
    shifts that overflow int32 are undefined behaviour in TFLite's C++ and are not compared.)"""
    rng = np.random.default_rng(900)
    graph = Graph()
    source = activation_params(rng, storage)
    out = activation_params(rng, storage)
    zero_point = 0 if storage == "i16" else 3
    if kind == "q.batch_matmul":
        a_shape, b_shape = (1, 4, 600), (1, 600, 3)
        b_params = activation_params(rng, storage)
        a = graph.add_input("a", TensorType(a_shape, storage, source))
        b = graph.add_input("b", TensorType(b_shape, storage, b_params))
        if large_multiplier:
            out = QuantParams.per_tensor(storage, float32_scale(source.scale * b_params.scale * 1e-3), zero_point)
        op = q_op(graph, kind, [a, b], {}, (1, 4, 3), out)
        feeds = {"a": extreme_ints(a_shape, storage, rng, source, large_multiplier),
                 "b": extreme_ints(b_shape, storage, rng, b_params, large_multiplier)}
    else:
        shape, weight_shape, axis, out_shape, attrs = {
            "q.conv2d": ((1, 5, 5, 64), (8, 3, 3, 64), 0, (1, 5, 5, 8), {"padding": [1, 1, 1, 1]}),
            "q.depthwise_conv2d": ((1, 5, 5, 4), (1, 3, 3, 4), 3, (1, 3, 3, 4), {}),
            "q.fully_connected": ((3, 3000), (5, 3000), 0, (3, 5), {}),
        }[kind]
        x = graph.add_input("x", TensorType(shape, storage, source))
        wq, scales = weights(graph, rng, weight_shape, axis)
        wq.producer.attrs["value"][:] = np.where(rng.random(weight_shape) < 0.9, 127, -127)
        bq = bias(graph, rng, weight_shape[axis], source.scale, scales, storage)
        if large_multiplier:
            out = QuantParams.per_tensor(storage, float32_scale(source.scale * 2e-4), zero_point)
        op = q_op(graph, kind, [x, wq, bq], attrs, out_shape, out)
        feeds = {"x": extreme_ints(shape, storage, rng, source, large_multiplier)}
    if large_multiplier:
        assert min(np.atleast_1d(op.attrs["shift"])) > 0
    graph.set_outputs([op.result], ["y"])
    assert_matches_litert(graph, feeds)


@pytest.mark.parametrize("kind", ["q.add", "q.sub", "q.mul", "q.fully_connected", "q.batch_matmul", "q.requantize",
                                  "q.mean", "q.conv2d", "q.depthwise_conv2d", "q.avg_pool2d", "q.max_pool2d"])
@pytest.mark.parametrize("storage", ["i8", "i16"])
def test_large_tensors_match_litert(kind, storage):
    """Tens of thousands of outputs per op: rare rounding cases (ties after a first rounding, the precision
    of a multiplier) show up here when a derivation or a rounding step differs from TFLite's."""
    rng = np.random.default_rng(950)
    graph = Graph()
    source, other, out = (activation_params(rng, storage) for _ in range(3))
    if kind in ("q.add", "q.sub", "q.mul"):
        shapes = [(1, 32, 32, 64), (1, 1, 1, 64) if kind == "q.mul" else (1, 32, 32, 64)]
        inputs = [graph.add_input(f"x{i}", TensorType(shape, storage, p)) for i, (shape, p) in
                  enumerate(zip(shapes, (source, other)))]
        op = q_op(graph, kind, inputs, {}, shapes[0], out)
    elif kind == "q.fully_connected":
        shapes = [(64, 1024)]
        x = graph.add_input("x0", TensorType(shapes[0], storage, source))
        wq, scales = weights(graph, rng, (512, 1024), 0)
        op = q_op(graph, kind, [x, wq, bias(graph, rng, 512, source.scale, scales, storage)], {}, (64, 512), out)
    elif kind == "q.batch_matmul":
        shapes = [(4, 64, 128), (4, 128, 96)]
        inputs = [graph.add_input(f"x{i}", TensorType(shape, storage, p)) for i, (shape, p) in
                  enumerate(zip(shapes, (source, other)))]
        op = q_op(graph, kind, inputs, {}, (4, 64, 96), out)
    elif kind == "q.requantize":
        shapes = [(256, 256)]
        op = q_op(graph, kind, [graph.add_input("x0", TensorType(shapes[0], storage, source))], {}, shapes[0], out)
    elif kind == "q.mean":
        shapes = [(8, 16, 16, 256)]
        op = q_op(graph, kind, [graph.add_input("x0", TensorType(shapes[0], storage, source))],
                  {"axes": [1, 2], "keepdims": True}, (8, 1, 1, 256), out)
    elif kind in ("q.conv2d", "q.depthwise_conv2d"):
        shapes = [(1, 32, 32, 32)]
        x = graph.add_input("x0", TensorType(shapes[0], storage, source))
        weight_shape, axis = ((32, 3, 3, 32), 0) if kind == "q.conv2d" else ((1, 3, 3, 32), 3)
        wq, scales = weights(graph, rng, weight_shape, axis)
        op = q_op(graph, kind, [x, wq, bias(graph, rng, 32, source.scale, scales, storage)],
                  {"padding": [1, 1, 1, 1]}, shapes[0], out)
    else:
        shapes = [(1, 64, 64, 16)]
        op = q_op(graph, kind, [graph.add_input("x0", TensorType(shapes[0], storage, source))],
                  {"kernel": [3, 3], "strides": [2, 2], "padding": [0, 0, 1, 1]}, (1, 32, 32, 16), source)
    graph.set_outputs([op.result], ["y"])
    assert_matches_litert(graph, {f"x{i}": random_ints(rng, shape, storage) for i, shape in enumerate(shapes)})


@pytest.mark.parametrize("kind", ["q.add", "q.sub", "q.mul"])
@pytest.mark.parametrize("storage", ["i8", "i16"])
@pytest.mark.parametrize("seed", SEEDS)
def test_binary_matches_litert(kind, storage, seed):
    rng = np.random.default_rng(400 + seed)
    shape = (2, 3, 4, 5)
    other = [(2, 3, 4, 5), (1, 1, 1, 5), (2, 1, 4, 1), (5,)][seed % 4]
    graph = Graph()
    lhs = graph.add_input("a", TensorType(shape, storage, activation_params(rng, storage)))
    rhs = graph.add_input("b", TensorType(other, storage, activation_params(rng, storage)))
    op = q_op(graph, kind, [lhs, rhs], {"activation": ACTIVATIONS[seed % 4]}, shape, activation_params(rng, storage))
    graph.set_outputs([op.result], ["y"])
    assert_matches_litert(graph, {"a": random_ints(rng, shape, storage), "b": random_ints(rng, other, storage)})


@pytest.mark.parametrize("kind", ["q.avg_pool2d", "q.max_pool2d"])
@pytest.mark.parametrize("storage", ["i8", "i16"])
@pytest.mark.parametrize("seed", SEEDS)
def test_pooling_matches_litert(kind, storage, seed):
    rng = np.random.default_rng(500 + seed)
    h, w, c = int(rng.integers(2, 10)), int(rng.integers(2, 10)), int(rng.integers(1, 5))
    kernel = [int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1))]
    stride = int(rng.integers(1, 3))
    padding, oh, ow = window(rng, h, w, kernel, stride)
    graph = Graph()
    params = activation_params(rng, storage)
    x = graph.add_input("x", TensorType((1, h, w, c), storage, params))
    op = q_op(graph, kind, [x], {"kernel": kernel, "strides": [stride] * 2, "padding": padding,
                                 "activation": ACTIVATIONS[seed % 3]}, (1, oh, ow, c), params)
    graph.set_outputs([op.result], ["y"])
    assert_matches_litert(graph, {"x": random_ints(rng, (1, h, w, c), storage)})


@pytest.mark.parametrize("storage", ["i8", "i16"])
@pytest.mark.parametrize("seed", SEEDS)
def test_mean_matches_litert(storage, seed):
    rng = np.random.default_rng(600 + seed)
    shape = tuple(int(v) for v in rng.integers(1, 7, size=4))
    axes = [[1, 2], [3], [0, 2, 3], [-1, 1]][seed % 4]
    keep = bool(seed % 2)
    out_shape = tuple(1 if i in {a % 4 for a in axes} else d for i, d in enumerate(shape)
                      if keep or i not in {a % 4 for a in axes})
    graph = Graph()
    x = graph.add_input("x", TensorType(shape, storage, activation_params(rng, storage)))
    op = q_op(graph, "q.mean", [x], {"axes": axes, "keepdims": keep}, out_shape, activation_params(rng, storage))
    graph.set_outputs([op.result], ["y"])
    assert_matches_litert(graph, {"x": random_ints(rng, shape, storage)})


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_requantize_matches_litert(seed):
    rng = np.random.default_rng(700 + seed)
    graph = Graph()
    narrow = graph.add_input("a", TensorType((2, 3), "i8", activation_params(rng, "i8")))
    wide = graph.add_input("c", TensorType((2, 4), "i16", activation_params(rng, "i16")))
    moved = q_op(graph, "q.requantize", [narrow], {}, (2, 3), activation_params(rng, "i8"))
    narrowed = q_op(graph, "q.requantize", [wide], {}, (2, 4), activation_params(rng, "i8"))
    widened = q_op(graph, "q.requantize", [narrow], {}, (2, 3), activation_params(rng, "i16"))
    graph.set_outputs([moved.result, narrowed.result, widened.result], ["moved", "narrowed", "widened"])
    assert_matches_litert(graph, {"a": random_ints(rng, (2, 3), "i8"), "c": random_ints(rng, (2, 4), "i16")})


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_concat_equals_litert_requantize_then_concatenate(seed):
    """TFLite's int8 CONCATENATION needs equal parameters: q.concat must equal QUANTIZE of each differing
    input followed by CONCATENATION, run in LiteRT."""
    rng = np.random.default_rng(750 + seed)
    shapes = [(2, 3), (2, 5), (2, 1)]
    sources = [activation_params(rng, "i8") for _ in shapes]
    out = activation_params(rng, "i8")
    sources[1] = out  # one input already has the output's parameters
    feeds = {f"x{i}": random_ints(rng, shape, "i8") for i, shape in enumerate(shapes)}
    ours, reference = Graph(), Graph()
    inputs = [ours.add_input(f"x{i}", TensorType(shape, "i8", p)) for i, (shape, p) in enumerate(zip(shapes, sources))]
    joined = q_op(ours, "q.concat", inputs, {"axis": 1}, (2, 9), out)
    ours.set_outputs([joined.result], ["y"])
    parts = []
    for i, (shape, params) in enumerate(zip(shapes, sources)):
        value = reference.add_input(f"x{i}", TensorType(shape, "i8", params))
        parts.append(value if params == out else q_op(reference, "q.requantize", [value], {}, shape, out).result)
    reference.set_outputs([reference.create("core.concat", parts, {"axis": 1}).result], ["y"])
    verify(ours)
    np.testing.assert_array_equal(run(ours, feeds)["y"], run_in_litert(reference, feeds)["y"])


@pytest.mark.parametrize("storage", ["i8", "i16"])
def test_quantize_dequantize_match_litert(storage):
    rng = np.random.default_rng(800)
    graph = Graph()
    x = graph.add_input("x", TensorType((64, 1024), "f32"))
    params = activation_params(rng, storage)
    quantized = graph.create("q.quantize", [x], {}, [TensorType((64, 1024), storage, params)]).result
    restored = graph.create("q.dequantize", [quantized]).result
    graph.set_outputs([quantized, restored], ["q", "f"])
    values = rng.standard_normal((64, 1024)).astype(np.float32) * 200 * params.scale
    values[0, :8] = (np.arange(8) - 3.5) * np.float32(params.scale)  # exact ties: half away from zero
    assert_matches_litert(graph, {"x": values})


# -- hand-computed values and rules ----------------------------------------------------------------------------
def test_add_by_hand():
    graph = Graph()
    params = QuantParams.per_tensor("i8", 0.5, 0)
    a = graph.add_input("a", TensorType((4,), "i8", params))
    b = graph.add_input("b", TensorType((4,), "i8", params))
    op = q_op(graph, "q.add", [a, b], {}, (4,), QuantParams.per_tensor("i8", 1.0, 1))
    assert op.attrs["left_shift"] == 20 and op.attrs["input1_multiplier"] == 2**30 and op.attrs["input1_shift"] == 0
    graph.set_outputs([op.result], ["y"])
    out = run(graph, {"a": np.array([1, 3, -3, 127], np.int8), "b": np.array([2, 0, 0, 127], np.int8)})["y"]
    # (a + b) * 0.5 rounded half away from zero (1.5 -> 2, -1.5 -> -2), plus the zero point 1, clamped.
    np.testing.assert_array_equal(out, [3, 3, -1, 127])


def test_conv2d_pads_with_the_zero_point():
    graph = Graph()
    params = QuantParams.per_tensor("i8", 1.0, 10)
    x = graph.add_input("x", TensorType((1, 1, 1, 1), "i8", params))
    wq = constant(graph, np.ones((1, 3, 3, 1), np.int8), QuantParams.per_tensor("i8", 1.0, 0))
    op = q_op(graph, "q.conv2d", [x, wq], {"padding": [1, 1, 1, 1]}, (1, 1, 1, 1),
              QuantParams.per_tensor("i8", 1.0, 0))
    graph.set_outputs([op.result], ["y"])
    # Only the centre tap sees data: (13 - 10) * 1; padded taps contribute (zp - zp) = 0.
    assert run(graph, {"x": np.array([[[[13]]]], np.int8)})["y"].item() == 3


def test_stored_attributes_must_match_the_derived_ones():
    graph = Graph()
    params = QuantParams.per_tensor("i8", 0.1, 0)
    a = graph.add_input("a", TensorType((4,), "i8", params))
    op = q_op(graph, "q.mul", [a, a], {}, (4,), params)
    graph.set_outputs([op.result], ["y"])
    verify(graph)
    op.attrs["multiplier"] += 1
    with pytest.raises(VerificationError, match="attribute 'multiplier'"):
        verify(graph)


def rejects(graph: Graph, kind: str, operands: list[Value], attrs: dict, result: Optional[list[TensorType]],
            message: str) -> None:
    """Creating ``kind`` this way must fail verification with ``message``."""
    with pytest.raises(VerificationError, match=message):
        op = graph.create(kind, operands, attrs, result)
        try:
            get_op_def(kind).verify(op)
        finally:
            op.erase()


def test_q_ops_reject_bad_types():
    graph = Graph()
    floats = graph.add_input("f", TensorType((1, 4, 4, 2), "f32"))
    ints = graph.add_input("i", TensorType((1, 4, 4, 2), "i16", QuantParams.per_tensor("i16", 0.1, 3)))
    wq = constant(graph, np.ones((2, 1, 1, 2), np.int8), QuantParams.per_tensor("i8", 1.0, 0))
    result = [TensorType((1, 4, 4, 2), "i8", QuantParams.per_tensor("i8", 0.1, 0))]
    rejects(graph, "q.conv2d", [floats, wq], {}, result, "quantized")
    rejects(graph, "q.conv2d", [ints, wq], {}, [result[0].with_quant(QuantParams.per_tensor("i16", 0.1, 0))],
            "zero point 0")
    rejects(graph, "q.add", [ints, ints], {}, None, "explicitly")
    rejects(graph, "q.quantize", [ints], {}, result, "q.requantize")
    params = QuantParams.per_tensor("i8", 0.1, 0)
    pooled = graph.add_input("p", TensorType((1, 4, 4, 2), "i8", params))
    rejects(graph, "q.max_pool2d", [pooled], {"kernel": [2, 2], "strides": [2, 2]},
            [TensorType((1, 2, 2, 2), "i8", QuantParams.per_tensor("i8", 0.2, 0))], "keep the input's quantization")
    wrong_axis = constant(graph, np.ones((2, 1, 1, 2), np.int8), QuantParams.per_axis("i8", [1.0, 1.0], [0, 0], 3))
    rejects(graph, "q.conv2d", [pooled, wrong_axis], {}, result, "along axis 0")


def test_add_rejects_output_scale_too_small_for_its_kernel():
    graph = Graph()
    a = graph.add_input("a", TensorType((4,), "i8", QuantParams.per_tensor("i8", 1.0, 0)))
    op = graph.create("q.add", [a, a], {}, [TensorType((4,), "i8", QuantParams.per_tensor("i8", 1e-9, 0))])
    with pytest.raises(QCompilerError, match="smaller than one"):
        get_op_def("q.add").derive_attrs(op)
