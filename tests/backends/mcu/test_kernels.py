"""Each MCU kernel against LiteRT's reference kernels: small float graphs go through the real int8 pipeline,
then the generated C (host build, and the sanitized host build) must give LiteRT's bytes on random samples;
the Cortex-M4 build under qemu runs the same cases (slow)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pytest

from qcompiler.ir import Graph, Value
from qcompiler.types import TensorType

from mcu_checks import assert_c_matches_litert, quantized

Body = Callable[[Graph, list[Value], np.random.Generator], Value]


def const(graph: Graph, rng: np.random.Generator, shape: Sequence[int], spread: float = 0.5) -> Value:
    """A random float constant."""
    return graph.const(rng.normal(0.0, spread, shape).astype(np.float32))


def conv(x_shape, out_c, k, strides=(1, 1), padding=(0, 0, 0, 0), dilations=(1, 1), activation="relu"):
    def body(g, xs, rng):
        w = const(g, rng, (out_c, k, k, x_shape[3]))
        return g.create("core.conv2d", [xs[0], w, const(g, rng, (out_c,), 0.1)],
                        {"strides": list(strides), "padding": list(padding), "dilations": list(dilations),
                         "activation": activation}).result
    return [x_shape], body


def depthwise(x_shape, multiplier, k, strides=(1, 1), padding=(0, 0, 0, 0), activation="relu6"):
    def body(g, xs, rng):
        channels = x_shape[3] * multiplier
        w = const(g, rng, (1, k, k, channels))
        return g.create("core.depthwise_conv2d", [xs[0], w, const(g, rng, (channels,), 0.1)],
                        {"strides": list(strides), "padding": list(padding), "depth_multiplier": multiplier,
                         "activation": activation}).result
    return [x_shape], body


def dense(rows, k, n, activation="none"):
    def body(g, xs, rng):
        return g.create("core.fully_connected", [xs[0], const(g, rng, (n, k), 0.3), const(g, rng, (n,), 0.1)],
                        {"activation": activation}).result
    return [(rows, k)], body


def binary(kind, lhs, rhs, activation="none"):
    def body(g, xs, rng):
        return g.create(kind, [xs[0], xs[1]], {"activation": activation}).result
    return [lhs, rhs], body


def pool(kind, x_shape, kernel, strides, padding=(0, 0, 0, 0)):
    def body(g, xs, rng):
        return g.create(kind, [xs[0]], {"kernel": list(kernel), "strides": list(strides),
                                        "padding": list(padding)}).result
    return [x_shape], body


def unary(kind, x_shape, **attrs):
    def body(g, xs, rng):
        return g.create(kind, [xs[0]], attrs).result
    return [x_shape], body


def concat(shapes, axis):
    def body(g, xs, rng):
        return g.create("core.concat", list(xs), {"axis": axis}).result
    return list(shapes), body


def pad_then_conv(x_shape):
    def body(g, xs, rng):
        padded = g.create("core.pad", [xs[0]], {"pads": [0, 1, 2, 0, 0, 2, 1, 0], "value": 0.0}).result
        w = const(g, rng, (3, 3, 3, x_shape[3]))
        return g.create("core.conv2d", [padded, w, const(g, rng, (3,), 0.1)], {}).result
    return [x_shape], body


def add_then_reshape(shape, target):
    def body(g, xs, rng):
        total = g.create("core.add", [xs[0], xs[1]], {"activation": "relu"}).result
        return g.create("core.reshape", [total], {"shape": list(target)}).result
    return [shape, shape], body


def gather(x_shape, indices, axis):
    def body(g, xs, rng):
        positive = g.create("core.relu", [xs[0]], {}).result  # a quantized producer keeps gather on int8
        return g.create("core.gather", [positive, g.const(np.asarray(indices, dtype=np.int64))],
                        {"axis": axis}).result
    return [x_shape], body


def transpose(x_shape, perm):
    def body(g, xs, rng):
        positive = g.create("core.relu", [xs[0]], {}).result
        return g.create("core.transpose", [positive], {"perm": list(perm)}).result
    return [x_shape], body


def matmul(lhs, rhs, adj_x=False, adj_y=False):
    def body(g, xs, rng):
        return g.create("core.batch_matmul", [xs[0], xs[1]], {"adj_x": adj_x, "adj_y": adj_y}).result
    return [lhs, rhs], body


def layer_norm_statistics(x_shape):
    """mean, squared difference and rsqrt as the int8 layer-norm decomposition uses them."""
    def body(g, xs, rng):
        mean = g.create("core.mean", [xs[0]], {"axes": [-1], "keepdims": True}).result
        spread = g.create("core.squared_difference", [xs[0], mean], {}).result
        variance = g.create("core.mean", [spread], {"axes": [-1], "keepdims": True}).result
        shifted = g.create("core.add", [variance, g.const(np.full((1,), 1e-3, np.float32))], {}).result
        scale = g.create("core.rsqrt", [shifted], {}).result
        centered = g.create("core.sub", [xs[0], mean], {}).result
        return g.create("core.mul", [centered, scale], {}).result
    return [x_shape], body


CASES = {
    "conv_same_relu": conv((1, 8, 8, 3), 4, 3, padding=(1, 1, 1, 1)),
    "conv_stride2_same": conv((1, 9, 9, 2), 5, 3, strides=(2, 2), padding=(1, 1, 1, 1), activation="relu6"),
    "conv_valid_dilated": conv((1, 9, 9, 2), 3, 3, dilations=(2, 2), activation="none"),
    "conv_1x1": conv((1, 5, 5, 6), 7, 1, activation="none"),
    "depthwise_same": depthwise((1, 8, 8, 4), 1, 3, padding=(1, 1, 1, 1)),
    "depthwise_multiplier2_stride2": depthwise((1, 9, 9, 3), 2, 3, strides=(2, 2), padding=(1, 1, 1, 1)),
    "fully_connected_rows": dense(3, 16, 5),
    "fully_connected_relu": dense(1, 40, 12, "relu"),
    "add": binary("core.add", (1, 4, 4, 3), (1, 4, 4, 3), "relu"),
    "add_broadcast": binary("core.add", (1, 4, 4, 3), (1, 1, 1, 3)),
    "mul": binary("core.mul", (1, 4, 4, 3), (1, 4, 4, 3)),
    "mul_broadcast": binary("core.mul", (1, 4, 4, 3), (1, 4, 1, 3)),
    "avg_pool": pool("core.avg_pool2d", (1, 8, 8, 3), (2, 2), (2, 2)),
    "avg_pool_same": pool("core.avg_pool2d", (1, 7, 7, 2), (3, 3), (1, 1), (1, 1, 1, 1)),
    "max_pool": pool("core.max_pool2d", (1, 8, 8, 3), (2, 2), (2, 2)),
    "max_pool_same": pool("core.max_pool2d", (1, 7, 7, 2), (3, 3), (2, 2), (1, 1, 1, 1)),
    "mean_spatial": unary("core.mean", (1, 4, 4, 6), axes=[1, 2], keepdims=False),
    "mean_spatial_keepdims": unary("core.mean", (1, 5, 3, 4), axes=[1, 2], keepdims=True),
    "mean_last_axis": unary("core.mean", (1, 3, 8), axes=[-1], keepdims=False),
    "softmax": unary("core.softmax", (2, 10)),
    "concat_channels": concat([(1, 3, 3, 2), (1, 3, 3, 5)], 3),
    "concat_rows": concat([(2, 4), (3, 4)], 0),
    "pad": pad_then_conv((1, 5, 5, 2)),
    "reshape_output": add_then_reshape((1, 2, 2, 3), (1, 12)),
    "gather_axis0": gather((3, 4, 5), [2, 0], 0),
    "gather_axis1": gather((2, 6, 3), [4, 1, 4], 1),
    "transpose_4d": transpose((1, 3, 4, 5), (0, 2, 3, 1)),
    "transpose_5d": transpose((1, 2, 1, 3, 4), (3, 1, 2, 0, 4)),
    "batch_matmul": matmul((1, 2, 3, 4), (1, 2, 4, 5)),
    "batch_matmul_adjoint_broadcast": matmul((2, 4, 3), (1, 5, 4), adj_x=True, adj_y=True),
    "gelu": unary("core.gelu", (1, 4, 16)),
    "logistic": unary("core.sigmoid", (1, 40)),
    "tanh": unary("core.tanh", (2, 20)),
    "layer_norm_statistics": layer_norm_statistics((1, 4, 16)),
}


def case_graph(name: str, seed: int = 0) -> Graph:
    """The float graph of a case: inputs x0, x1, ... and one output y."""
    shapes, body = CASES[name]
    rng = np.random.default_rng(seed)
    graph = Graph()
    xs = [graph.add_input(f"x{i}", TensorType(tuple(shape), "f32")) for i, shape in enumerate(shapes)]
    graph.set_outputs([body(graph, xs, rng)], ["y"])
    return graph


def case_samples(graph: Graph, count: int, seed: int) -> dict[str, np.ndarray]:
    """Random samples (standard normal) for every input, with a first sample axis."""
    rng = np.random.default_rng(seed)
    return {v.name: rng.standard_normal((count, *v.type.shape)).astype(np.float32) for v in graph.inputs}


def quantized_case(name: str):
    graph = case_graph(name)
    return quantized(graph, case_samples(graph, 16, 1)), case_samples(graph, 8, 2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_matches_litert_on_host(name, tmp_path):
    graph, samples = quantized_case(name)
    assert_c_matches_litert(graph, samples, tmp_path / name, ("host",))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_matches_litert_sanitized_and_on_cortex_m4(name, tmp_path):
    graph, samples = quantized_case(name)
    assert_c_matches_litert(graph, samples, tmp_path / name, ("host", "mps2-an386"), sanitize=True)
