"""Single core ops exported to TFLite run in LiteRT (reference kernels) with our interpreter's results:
every operator the backend emits, its options, and the padding, axis and index rewrites it makes."""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from tflite_checks import assert_litert_matches, build_graph, operator_codes, random_feeds

Op = schema.BuiltinOperator
RNG = np.random.default_rng(5)


def weights(*shape: int) -> np.ndarray:
    """Random float32 weights of a sane scale."""
    return (RNG.standard_normal(shape) / np.sqrt(np.prod(shape[1:]) or 1)).astype(np.float32)


def unary(kind, **attrs):
    """A graph body applying ``kind`` to the first input."""
    return lambda g, x: [g.create(kind, [x[0]], attrs).result]


def binary(kind, **attrs):
    """A graph body applying ``kind`` to the first two inputs."""
    return lambda g, x: [g.create(kind, [x[0], x[1]], attrs).result]


def conv(kind, weight_shape, **attrs):
    """A graph body convolving the first input with random weights of ``weight_shape`` and a random bias."""
    def body(g, x):
        w = g.const(weights(*weight_shape), "w")
        b = g.const(weights(weight_shape[0] if kind == "core.conv2d" else weight_shape[3]), "b")
        return [g.create(kind, [x[0], w, b], attrs).result]
    return body


CASES = {
    # name: (input shapes, body, expected TFLite operators)
    "conv_same_relu": ([(1, 9, 9, 3)], conv("core.conv2d", (4, 3, 3, 3), padding=[1, 1, 1, 1], activation="relu"),
                       [Op.CONV_2D]),
    "conv_stride2_asym_pad": ([(1, 8, 8, 3)], conv("core.conv2d", (4, 3, 3, 3), padding=[1, 1, 1, 1],
                                                   strides=[2, 2]), [Op.PAD, Op.CONV_2D]),
    "conv_stride2_same": ([(1, 8, 8, 3)], conv("core.conv2d", (4, 3, 3, 3), padding=[0, 0, 1, 1], strides=[2, 2]),
                          [Op.CONV_2D]),
    "conv_dilated_valid": ([(1, 10, 9, 2)], conv("core.conv2d", (3, 3, 2, 2), dilations=[2, 3],
                                                 activation="relu6"), [Op.CONV_2D]),
    "conv_grouped_no_bias": ([(1, 5, 5, 4)], lambda g, x: [g.create("core.conv2d", [
        x[0], g.const(weights(6, 3, 3, 2))], {"groups": 2, "padding": [1, 1, 1, 1]}).result], [Op.CONV_2D]),
    "depthwise_no_bias": ([(1, 5, 5, 3)], lambda g, x: [g.create("core.depthwise_conv2d", [
        x[0], g.const(weights(1, 3, 3, 3))]).result], [Op.DEPTHWISE_CONV_2D]),
    "avg_pool_global_ceil_mode": ([(1, 6, 6, 2)], unary("core.avg_pool2d", kernel=[7, 7], padding=[0, 0, 1, 1]),
                                  [Op.AVERAGE_POOL_2D]),
    "max_pool_global_ceil_mode": ([(1, 5, 6, 2)], unary("core.max_pool2d", kernel=[6, 7], padding=[1, 0, 0, 1]),
                                  [Op.MAX_POOL_2D]),
    "depthwise_multiplier": ([(1, 7, 7, 3)], conv("core.depthwise_conv2d", (1, 3, 3, 6), depth_multiplier=2,
                                                  padding=[1, 1, 1, 1]), [Op.DEPTHWISE_CONV_2D]),
    "fully_connected_rank3": ([(2, 3, 5)], lambda g, x: [g.create("core.fully_connected", [
        x[0], g.const(weights(4, 5)), g.const(weights(4))], {"activation": "relu_n1_to_1"}).result]),
    "fully_connected_no_bias": ([(1, 5)], lambda g, x: [g.create("core.fully_connected", [
        x[0], g.const(weights(4, 5))]).result], [Op.FULLY_CONNECTED]),
    "batch_matmul_adj": ([(2, 4, 3), (1, 5, 4)], binary("core.batch_matmul", adj_x=True, adj_y=True),
                         [Op.BATCH_MATMUL]),
    "add_broadcast_relu": ([(2, 3, 4), (3, 1)], binary("core.add", activation="relu"), [Op.ADD]),
    "sub": ([(2, 3), (2, 3)], binary("core.sub"), [Op.SUB]),
    "mul_relu6": ([(1, 4, 4, 2), (2,)], binary("core.mul", activation="relu6"), [Op.MUL]),
    "div": ([(3, 4), (4,)], lambda g, x: [g.create("core.div", [x[0], g.const(np.float32([1.5, -2, 3, 4]))]).result]),
    "prelu": ([(1, 3, 3, 4)], lambda g, x: [g.create("core.prelu", [
        x[0], g.const(np.float32([0.1, 0.2, -0.3, 0.5]))]).result], [Op.PRELU]),
    "maximum": ([(3, 4), (3, 4)], binary("core.maximum"), [Op.MAXIMUM]),
    "minimum": ([(3, 4), (1, 4)], binary("core.minimum"), [Op.MINIMUM]),
    "squared_difference": ([(3, 4), (3, 4)], binary("core.squared_difference"), [Op.SQUARED_DIFFERENCE]),
    "max_pool_same": ([(1, 7, 7, 2)], unary("core.max_pool2d", kernel=[3, 3], strides=[2, 2], padding=[1, 1, 1, 1]),
                      [Op.MAX_POOL_2D]),
    "max_pool_explicit": ([(1, 8, 8, 2)], unary("core.max_pool2d", kernel=[3, 3], strides=[2, 2],
                                                padding=[1, 1, 1, 1]), [Op.PADV2, Op.MAX_POOL_2D]),
    "avg_pool_same": ([(1, 6, 6, 2)], unary("core.avg_pool2d", kernel=[3, 3], padding=[1, 1, 1, 1],
                                            activation="relu"), [Op.AVERAGE_POOL_2D]),
    "avg_pool_explicit": ([(1, 8, 7, 2)], unary("core.avg_pool2d", kernel=[3, 3], strides=[2, 2],
                                                padding=[1, 1, 1, 1], activation="relu"),
                          [Op.PAD, Op.AVERAGE_POOL_2D, Op.MUL]),
    "avg_pool_valid": ([(1, 6, 6, 2)], unary("core.avg_pool2d", kernel=[2, 2], strides=[2, 2]),
                       [Op.AVERAGE_POOL_2D]),
    "mean_keepdims": ([(1, 4, 4, 3)], unary("core.mean", axes=[1, 2], keepdims=True), [Op.MEAN]),
    "sum": ([(2, 3, 4)], unary("core.sum", axes=[-1]), [Op.SUM]),
    "reduce_max": ([(2, 3, 4)], unary("core.reduce_max", axes=[0, 2]), [Op.REDUCE_MAX]),
    "reshape": ([(1, 2, 3, 4)], unary("core.reshape", shape=[6, -1]), [Op.RESHAPE]),
    "softmax_last": ([(2, 7)], unary("core.softmax", beta=0.5), [Op.SOFTMAX]),
    "softmax_axis1": ([(2, 5, 3)], unary("core.softmax", axis=1), [Op.TRANSPOSE, Op.SOFTMAX, Op.TRANSPOSE]),
    "concat": ([(2, 3), (2, 1), (2, 2)], lambda g, x: [g.create("core.concat", list(x), {"axis": -1}).result],
               [Op.CONCATENATION]),
    "pad_zero": ([(1, 3, 3, 2)], unary("core.pad", pads=[0, 1, 2, 0, 0, 2, 1, 0]), [Op.PAD]),
    "pad_value": ([(2, 3)], unary("core.pad", pads=[1, 0, 0, 2], value=-1.5), [Op.PADV2]),
    "logistic": ([(3, 4)], unary("core.sigmoid"), [Op.LOGISTIC]),
    "hard_swish": ([(3, 4)], unary("core.hard_swish"), [Op.HARD_SWISH]),
    "tanh": ([(3, 4)], unary("core.tanh"), [Op.TANH]),
    "gelu_exact": ([(3, 4)], unary("core.gelu"), [Op.GELU]),
    "gelu_tanh": ([(3, 4)], unary("core.gelu", approximate=True), [Op.GELU]),
    "relu": ([(3, 4)], unary("core.relu"), [Op.RELU]),
    "relu6": ([(3, 4)], unary("core.relu6"), [Op.RELU6]),
    "clamp_relu6": ([(3, 4)], unary("core.clamp", min=0.0, max=6.0), [Op.RELU6]),
    "clamp_general": ([(3, 4)], unary("core.clamp", min=-0.5, max=0.7), [Op.MAXIMUM, Op.MINIMUM]),
    "clamp_low_only": ([(3, 4)], unary("core.clamp", min=-0.5), [Op.MAXIMUM]),
    "leaky_relu": ([(3, 4)], unary("core.leaky_relu", alpha=0.2), [Op.LEAKY_RELU]),
    "swish": ([(3, 4)], unary("core.swish"), [Op.LOGISTIC, Op.MUL]),
    "transpose": ([(2, 3, 4)], unary("core.transpose", perm=[2, 0, 1]), [Op.TRANSPOSE]),
    "gather_negative": ([(5, 3)], lambda g, x: [g.create("core.gather", [x[0], g.const(np.int64([[0, -1], [2, -4]]))],
                                                         {"axis": 0}).result], [Op.GATHER]),
    "gather_axis1": ([(2, 5)], lambda g, x: [g.create("core.gather", [x[0], g.const(np.int32([4, 1]))],
                                                      {"axis": 1}).result], [Op.GATHER]),
    "slice_forward": ([(4, 6)], unary("core.slice", begin=[1, -5], end=[100, 5], strides=[2, 1]),
                      [Op.STRIDED_SLICE]),
    "slice_reverse": ([(4, 6)], unary("core.slice", begin=[-1, 4], end=[-100, 0], strides=[-1, -2]),
                      [Op.STRIDED_SLICE]),
    "split": ([(2, 7)], lambda g, x: g.create("core.split", [x[0]], {"axis": 1, "sizes": [2, 5]},
                                              result_types=None).results, [Op.SPLIT_V]),
    "layer_norm": ([(2, 3, 8)], lambda g, x: [g.create("core.layer_norm", [
        x[0], g.const(weights(8) + 1), g.const(weights(8))], {"epsilon": 1e-3}).result],
                   [Op.MEAN, Op.SQUARED_DIFFERENCE, Op.MEAN, Op.ADD, Op.RSQRT, Op.SUB, Op.MUL, Op.MUL, Op.ADD]),
    "layer_norm_two_axes_no_affine": ([(2, 3, 4)], unary("core.layer_norm", axis=1),
                                      [Op.MEAN, Op.SQUARED_DIFFERENCE, Op.MEAN, Op.ADD, Op.RSQRT, Op.SUB, Op.MUL]),
    "broadcast_to": ([(3, 1)], unary("core.broadcast_to", shape=[2, 3, 4]), [Op.BROADCAST_TO]),
    "exp_sqrt_log": ([(3, 4)], lambda g, x: [g.create("core.log", [g.create("core.sqrt", [
        g.create("core.exp", [x[0]]).result]).result]).result], [Op.EXP, Op.SQRT, Op.LOG]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_single_op_matches_interpreter(name):
    shapes, body, *expected = CASES[name]
    graph = build_graph(shapes, body)
    model = assert_litert_matches(graph, rtol=1e-5)
    if expected:
        assert operator_codes(model) == expected[0]


def test_rsqrt_on_positive_inputs():
    graph = build_graph([(3, 4)], unary("core.rsqrt"))
    feeds = {name: np.abs(array) + 0.1 for name, array in random_feeds(graph).items()}
    assert operator_codes(assert_litert_matches(graph, feeds)) == [Op.RSQRT]


def test_local_response_norm_matches_the_optimized_kernel():
    # LiteRT's reference LRN kernel sums the channel window [c - radius, c + radius) (one channel short of TF's
    # definition, which its optimized kernel and our interpreter follow), so the optimized kernel is the oracle.
    graph = build_graph([(1, 3, 3, 6)], unary("core.local_response_norm", radius=1, bias=2.0, alpha=0.1, beta=0.75))
    model = assert_litert_matches(graph, reference_kernels=False)
    assert operator_codes(model) == [Op.LOCAL_RESPONSE_NORMALIZATION]


def test_every_core_and_q_op_has_a_lowering_but_those_tflite_lacks():
    from qcompiler.backends.tflite.lower import RULES, unsupported_ops  # noqa: F401  (loads the rules)
    from qcompiler.ops.registry import registered_kinds

    unsupported_ops(build_graph([(1,)], unary("core.relu")))
    missing = [k for k in registered_kinds() if k.split(".")[0] in ("core", "q") and k not in RULES]
    assert missing == ["core.erf"], "TFLite has no ERF builtin; every other op needs a lowering rule"
