"""Core dialect ops against ONNX's reference implementation (onnx.reference) on random data, in both
layouts where the op has one, plus the verifier's checks of core attributes and result types."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from qcompiler import interpreter
from qcompiler.errors import VerificationError
from qcompiler.ir import Graph
from qcompiler.types import TensorType
from qcompiler.verifier import verify

RNG = np.random.default_rng(1234)


def rand(*shape: int) -> np.ndarray:
    """Random float32 data."""
    return RNG.standard_normal(shape).astype(np.float32)


def onnx_reference(op_type: str, inputs: list, opset: int = 18, num_outputs: int = 1, runtime: str = "reference",
                   **attrs) -> list:
    """Run one ONNX node with the reference evaluator (or onnxruntime); ``inputs`` entries may be None."""
    names = [f"x{i}" if x is not None else "" for i, x in enumerate(inputs)]
    outputs = [f"y{i}" for i in range(num_outputs)]
    node = helper.make_node(op_type, names, outputs, **attrs)
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
                    for n, x in zip(names, inputs) if x is not None]
    graph_outputs = [helper.make_value_info(n, onnx.TypeProto()) for n in outputs]
    model = helper.make_model(helper.make_graph([node], "t", graph_inputs, graph_outputs),
                              opset_imports=[helper.make_opsetid("", opset)])
    feeds = {n: x for n, x in zip(names, inputs) if x is not None}
    if runtime == "onnxruntime":
        import onnxruntime

        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, feeds)
    return ReferenceEvaluator(model).run(None, feeds)


def run_core(kind: str, inputs: list, attrs: dict | None = None, const: tuple[int, ...] = ()) -> list:
    """Build a one-op graph of ``kind`` (operands in ``const`` become constants), verify it, run it."""
    graph = Graph()
    operands, feeds = [], {}
    for index, array in enumerate(inputs):
        if array is None:
            operands.append(None)
        elif index in const:
            operands.append(graph.const(array))
        else:
            operands.append(graph.add_input(f"in{index}", TensorType.of(array)))
            feeds[f"in{index}"] = array
    op = graph.create(kind, operands, attrs or {})
    graph.set_outputs(op.results, [f"out{i}" for i in range(len(op.results))])
    verify(graph)
    results = interpreter.run(graph, feeds)
    arrays = [results[f"out{i}"] for i in range(len(op.results))]
    for value, array in zip(op.results, arrays):
        assert array.shape == value.type.shape and array.dtype == value.type.dtype
    return arrays


def nhwc(x: np.ndarray) -> np.ndarray:
    """NCHW -> NHWC."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def run_image_op(kind: str, layout: str, x: np.ndarray, attrs: dict, weight: Optional[np.ndarray] = None,
                 nhwc_weight_perm: tuple[int, ...] = (), bias: Optional[np.ndarray] = None) -> np.ndarray:
    """Run a 2-D image op in ``layout`` on the NCHW array ``x`` (with a constant weight, permuted by
    ``nhwc_weight_perm`` for NHWC, and bias) and return its result in NCHW, to compare with ONNX's."""
    attrs = dict(attrs, layout=layout)
    if layout == "NHWC":
        x = nhwc(x)
        weight = None if weight is None else weight.transpose(nhwc_weight_perm)
    inputs = [x] if weight is None else [x, weight, bias]
    got = run_core(kind, inputs, attrs, const=(1, 2))[0]
    return np.ascontiguousarray(got.transpose(0, 3, 1, 2)) if layout == "NHWC" else got


CONV_CASES = [
    # (in_channels, out_channels, kernel, strides, dilations, padding [t, l, b, r], groups, bias)
    (3, 8, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1, True),
    (4, 6, (3, 2), (2, 1), (1, 1), (0, 1, 2, 0), 2, False),
    (2, 5, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1, True),
    (6, 4, (3, 3), (2, 2), (2, 2), (2, 2, 2, 2), 2, True),
    (3, 3, (5, 5), (3, 3), (1, 1), (2, 1, 0, 2), 1, False),
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(case, layout):
    cin, cout, kernel, strides, dilations, padding, groups, with_bias = case
    x, w = rand(2, cin, 11, 9), rand(cout, cin // groups, *kernel)
    b = rand(cout) if with_bias else None
    expected = onnx_reference("Conv", [x, w, b], strides=list(strides), dilations=list(dilations),
                              pads=list(padding), group=groups)[0]
    attrs = dict(strides=list(strides), dilations=list(dilations), padding=list(padding), groups=groups)
    got = run_image_op("core.conv2d", layout, x, attrs, w, (0, 2, 3, 1), b)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("multiplier,strides,padding", [(1, (1, 1), (1, 1, 1, 1)), (2, (2, 2), (0, 1, 1, 0)),
                                                        (3, (1, 2), (2, 2, 2, 2))])
def test_depthwise_conv2d(layout, multiplier, strides, padding):
    cin = 4
    x, w, b = rand(1, cin, 10, 10), rand(cin * multiplier, 1, 3, 3), rand(cin * multiplier)
    expected = onnx_reference("Conv", [x, w, b], strides=list(strides), pads=list(padding), group=cin)[0]
    attrs = dict(strides=list(strides), padding=list(padding), depth_multiplier=multiplier, activation="relu6")
    expected = np.clip(expected, 0, 6)
    got = run_image_op("core.depthwise_conv2d", layout, x, attrs, w, (1, 2, 3, 0), b)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("kind,onnx_type", [("core.max_pool2d", "MaxPool"), ("core.avg_pool2d", "AveragePool")])
@pytest.mark.parametrize("kernel,strides,padding", [((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (2, 2), (1, 1, 1, 1)),
                                                    ((3, 2), (1, 1), (0, 1, 2, 0))])
def test_pooling(layout, kind, onnx_type, kernel, strides, padding):
    x = rand(2, 3, 9, 8)
    extra = {"count_include_pad": 0} if onnx_type == "AveragePool" else {}
    # onnx.reference's MaxPool fails on asymmetric padding, so onnxruntime is the oracle here
    expected = onnx_reference(onnx_type, [x], runtime="onnxruntime", kernel_shape=list(kernel),
                              strides=list(strides), pads=list(padding), **extra)[0]
    attrs = dict(kernel=list(kernel), strides=list(strides), padding=list(padding))
    np.testing.assert_allclose(run_image_op(kind, layout, x, attrs), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_local_response_norm(layout):
    x = rand(1, 7, 4, 5)
    # onnx.reference's LRN loops over the batch instead of the channels, so onnxruntime is the oracle
    expected = onnx_reference("LRN", [x], runtime="onnxruntime", size=5, alpha=1e-2, beta=0.75, bias=2.0)[0]
    attrs = dict(radius=2, alpha=1e-2 / 5, beta=0.75, bias=2.0)
    got = run_image_op("core.local_response_norm", layout, x, attrs)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation,bounds", [("none", None), ("relu", (0, None)), ("relu6", (0, 6)),
                                               ("relu_n1_to_1", (-1, 1))])
def test_fully_connected(activation, bounds):
    x, w, b = rand(3, 5, 16), rand(7, 16), rand(7)
    expected = x @ w.T + b
    if bounds is not None:
        expected = np.clip(expected, *bounds)
    got = run_core("core.fully_connected", [x, w, b], {"activation": activation}, const=(1, 2))[0]
    assert got.shape == (3, 5, 7)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    gemm = onnx_reference("Gemm", [x[0], w, b], transB=1)[0]
    got_2d = run_core("core.fully_connected", [x[0], w, b], {}, const=(1, 2))[0]
    np.testing.assert_allclose(got_2d, gemm, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("adj_x,adj_y", [(False, False), (True, False), (False, True), (True, True)])
def test_batch_matmul(adj_x, adj_y):
    a, b = rand(2, 3, 4, 5), rand(3, 5, 6)
    a_in = np.swapaxes(a, -1, -2).copy() if adj_x else a
    b_in = np.swapaxes(b, -1, -2).copy() if adj_y else b
    got = run_core("core.batch_matmul", [a_in, b_in], {"adj_x": adj_x, "adj_y": adj_y})[0]
    np.testing.assert_allclose(got, onnx_reference("MatMul", [a, b])[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,onnx_type", [("core.add", "Add"), ("core.sub", "Sub"), ("core.mul", "Mul"),
                                            ("core.div", "Div"), ("core.maximum", "Max"), ("core.minimum", "Min"),
                                            ("core.pow", "Pow"), ("core.prelu", "PRelu")])
def test_binary(kind, onnx_type):
    a, b = rand(2, 3, 4, 5), rand(3, 1, 5)
    if onnx_type == "Pow":
        a = np.abs(a) + 0.5
    got = run_core(kind, [a, b])[0]
    np.testing.assert_allclose(got, onnx_reference(onnx_type, [a, b])[0], rtol=1e-5, atol=1e-6)


def test_binary_fused_activation_and_squared_difference():
    a, b = rand(4, 6), rand(6)
    np.testing.assert_allclose(run_core("core.add", [a, b], {"activation": "relu6"})[0], np.clip(a + b, 0, 6))
    np.testing.assert_allclose(run_core("core.squared_difference", [a, b])[0], (a - b) ** 2, rtol=1e-6)


UNARY_CASES = [
    ("core.relu", "Relu", {}, {}),
    ("core.sigmoid", "Sigmoid", {}, {}),
    ("core.tanh", "Tanh", {}, {}),
    ("core.hard_swish", "HardSwish", {}, {}),
    ("core.exp", "Exp", {}, {}),
    ("core.abs", "Abs", {}, {}),
    ("core.neg", "Neg", {}, {}),
    ("core.erf", "Erf", {}, {}),
    ("core.floor", "Floor", {}, {}),
    ("core.ceil", "Ceil", {}, {}),
    ("core.leaky_relu", "LeakyRelu", {"alpha": 0.2}, {"alpha": 0.2}),
    ("core.gelu", "Gelu", {}, {}),
    ("core.gelu", "Gelu", {"approximate": True}, {"approximate": "tanh"}),
]


@pytest.mark.parametrize("kind,onnx_type,attrs,onnx_attrs", UNARY_CASES, ids=lambda c: str(c))
def test_unary(kind, onnx_type, attrs, onnx_attrs):
    x = rand(3, 4, 5) * 3
    expected = onnx_reference(onnx_type, [x], opset=20, **onnx_attrs)[0]
    np.testing.assert_allclose(run_core(kind, [x], attrs)[0], expected, rtol=1e-5, atol=1e-6)


def test_unary_math_and_clamps():
    x = rand(50) * 4
    positive = np.abs(x) + 0.1
    np.testing.assert_allclose(run_core("core.log", [positive])[0], np.log(positive), rtol=1e-6)
    np.testing.assert_allclose(run_core("core.sqrt", [positive])[0], np.sqrt(positive), rtol=1e-6)
    np.testing.assert_allclose(run_core("core.rsqrt", [positive])[0], 1 / np.sqrt(positive), rtol=1e-6)
    np.testing.assert_allclose(run_core("core.square", [x])[0], x * x, rtol=1e-6)
    np.testing.assert_array_equal(run_core("core.relu6", [x])[0], np.clip(x, 0, 6))
    np.testing.assert_array_equal(run_core("core.relu_n1_to_1", [x])[0], np.clip(x, -1, 1))
    clip = onnx_reference("Clip", [x, np.float32(-0.5), np.float32(2.5)])[0]
    np.testing.assert_array_equal(run_core("core.clamp", [x], {"min": -0.5, "max": 2.5})[0], clip)
    swish = x.astype(np.float64) / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(run_core("core.swish", [x])[0], swish, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(run_core("core.cast", [x], {"to": "i32"})[0], x.astype(np.int32))


@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_softmax(axis):
    x = rand(3, 4, 5) * 5
    expected = onnx_reference("Softmax", [x], axis=axis)[0]
    np.testing.assert_allclose(run_core("core.softmax", [x], {"axis": axis})[0], expected, rtol=1e-5, atol=1e-7)
    halved = onnx_reference("Softmax", [x * 0.5], axis=axis)[0]
    np.testing.assert_allclose(run_core("core.softmax", [x], {"axis": axis, "beta": 0.5})[0], halved,
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("axis,with_scale,with_bias", [(-1, True, True), (1, True, False), (-1, False, False)])
def test_layer_norm(axis, with_scale, with_bias):
    x = rand(2, 3, 8) * 2 + 1
    normalized = x.shape[axis:] if axis >= 0 else x.shape[axis:]
    scale = rand(*normalized) if with_scale else None
    bias = rand(*normalized) if with_bias else None
    attrs = {"axis": axis, "epsilon": 1e-3}
    got = run_core("core.layer_norm", [x, scale, bias], attrs, const=(1, 2))[0]
    onnx_scale = scale if scale is not None else np.ones(normalized, np.float32)
    expected = onnx_reference("LayerNormalization", [x, onnx_scale, bias], axis=axis, epsilon=1e-3)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,onnx_type", [("core.mean", "ReduceMean"), ("core.sum", "ReduceSum"),
                                            ("core.reduce_max", "ReduceMax"), ("core.reduce_min", "ReduceMin"),
                                            ("core.reduce_prod", "ReduceProd")])
@pytest.mark.parametrize("axes,keepdims", [([2, 3], False), ([1], True), ([-1, 0], False)])
def test_reductions(kind, onnx_type, axes, keepdims):
    x = rand(2, 3, 4, 5)
    expected = onnx_reference(onnx_type, [x, np.array(axes, np.int64)], keepdims=int(keepdims))[0]
    got = run_core(kind, [x], {"axes": axes, "keepdims": keepdims})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_shape_ops():
    x = rand(2, 3, 4, 5)
    np.testing.assert_array_equal(run_core("core.reshape", [x], {"shape": [2, -1, 5]})[0], x.reshape(2, 12, 5))
    np.testing.assert_array_equal(run_core("core.transpose", [x], {"perm": [0, 2, 3, 1]})[0],
                                  onnx_reference("Transpose", [x], perm=[0, 2, 3, 1])[0])
    y = rand(2, 1, 4, 5)
    np.testing.assert_array_equal(run_core("core.concat", [x, y, x], {"axis": 1})[0],
                                  onnx_reference("Concat", [x, y, x], axis=1)[0])
    pads = [0, 1, 2, 0, 0, 3, 0, 1]
    np.testing.assert_array_equal(run_core("core.pad", [x], {"pads": pads, "value": 1.5})[0],
                                  onnx_reference("Pad", [x, np.array(pads, np.int64), np.float32(1.5)])[0])
    starts, ends, steps = [0, 1, -1, 4], [2, 3, -5, 0], [1, 1, -2, -1]
    np.testing.assert_array_equal(
        run_core("core.slice", [x], {"begin": starts, "end": ends, "strides": steps})[0],
        onnx_reference("Slice", [x, *(np.array(v, np.int64) for v in (starts, ends, [0, 1, 2, 3], steps))])[0])
    indices = np.array([[0, -1], [2, 1]], np.int64)
    np.testing.assert_array_equal(run_core("core.gather", [x, indices], {"axis": 2}, const=(1,))[0],
                                  onnx_reference("Gather", [x, indices], axis=2)[0])
    pieces = run_core("core.split", [x], {"axis": 3, "sizes": [2, 3]})
    expected = onnx_reference("Split", [x, np.array([2, 3], np.int64)], num_outputs=2, axis=3)
    for got, want in zip(pieces, expected):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(run_core("core.broadcast_to", [y], {"shape": [3, 2, 6, 4, 5]})[0],
                                  np.broadcast_to(y, (3, 2, 6, 4, 5)))


def _graph_with(kind: str, shapes: list, attrs: dict, result_shape=None):
    graph = Graph()
    operands = [graph.add_input(f"in{i}", TensorType(s, "f32")) for i, s in enumerate(shapes)]
    if result_shape is None:
        op = graph.create(kind, operands, attrs, loc="user_node")
    else:
        op = graph.create(kind, operands, attrs, [TensorType(result_shape, "f32")], loc="user_node")
    graph.set_outputs(op.results)
    return graph


@pytest.mark.parametrize("kind,shapes,attrs,message", [
    ("core.add", [(2, 3), (2, 3)], {"activation": "sigmoid"}, "activation"),
    ("core.add", [(2, 3), (4, 3)], {}, "do not broadcast"),
    ("core.conv2d", [(1, 4, 8, 8), (6, 3, 3, 3)], {"groups": 2, "layout": "NCHW"}, "groups=2"),
    ("core.conv2d", [(1, 4, 8, 8), (6, 3, 3, 3)], {"layout": "NWHC"}, "layout"),
    ("core.conv2d", [(1, 8, 8, 4), (6, 3, 3, 4)], {"padding": [1, 1]}, "padding"),
    ("core.max_pool2d", [(1, 8, 8, 4)], {"kernel": [2, 2], "padding": [2, 0, 0, 0]}, "smaller than the kernel"),
    ("core.transpose", [(1, 2, 3)], {"perm": [0, 0, 1]}, "permutation"),
    ("core.reshape", [(2, 3)], {"shape": [4, 2]}, "cannot reshape"),
    ("core.fully_connected", [(2, 3), (4, 5)], {}, "does not match"),
    ("core.softmax", [(2, 3)], {"axis": 2}, "out of range"),
    ("core.clamp", [(2, 3)], {"min": 2.0, "max": 1.0}, "above max"),
])
def test_bad_attributes_are_one_line_errors_with_loc(kind, shapes, attrs, message):
    with pytest.raises(VerificationError, match=message) as error:
        _graph_with(kind, shapes, attrs)
    assert error.value.location == "user_node" and "\n" not in str(error.value)


def test_verifier_catches_a_declared_result_type_that_disagrees():
    graph = _graph_with("core.max_pool2d", [(1, 8, 8, 4)], {"kernel": [2, 2], "strides": [2, 2]},
                        result_shape=(1, 8, 8, 4))
    with pytest.raises(VerificationError, match="declared 1x8x8x4, but the op computes 1x4x4x4"):
        verify(graph)


def test_gelu_exact_matches_math_erf():
    x = np.linspace(-6, 6, 101, dtype=np.float32)
    expected = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)], np.float32)
    np.testing.assert_array_equal(run_core("core.gelu", [x])[0], expected)


def test_conv2d_without_im2col_matches(monkeypatch):
    """The per-tap path (taken when an im2col matrix would be too large) computes the same convolution."""
    from qcompiler.ops import core_image

    x, w, b = rand(1, 11, 9, 4), rand(6, 3, 2, 2), rand(6)
    attrs = dict(strides=[2, 1], padding=[1, 0, 1, 2], groups=2, dilations=[1, 2])
    with_im2col = run_core("core.conv2d", [x, w, b], attrs, const=(1, 2))[0]
    monkeypatch.setattr(core_image, "IM2COL_MAX_ELEMENTS", 0)
    per_tap = run_core("core.conv2d", [x, w, b], attrs, const=(1, 2))[0]
    np.testing.assert_allclose(per_tap, with_im2col, rtol=1e-5, atol=1e-5)
    expected = onnx_reference("Conv", [x.transpose(0, 3, 1, 2), w.transpose(0, 3, 1, 2), b], strides=[2, 1],
                              pads=[1, 0, 1, 2], group=2, dilations=[1, 2])[0]
    np.testing.assert_allclose(per_tap, nhwc(expected), rtol=1e-4, atol=1e-4)
