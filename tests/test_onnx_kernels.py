"""The fast onnx kernels against ``onnx.reference`` on random inputs over grids of attributes.

Each check builds a one-op graph (so the op carries inferred result types, as after import), calls the
fast kernel directly (it must not hand the case back with ``NotImplemented``), and compares with ONNX's
reference implementation run on the same node. Where ``onnx.reference`` itself is wrong (pooling with
trailing pads or ``ceil_mode``, int8 MaxPool, LRN's channel window, opset-9 BatchNormalization, opset-11
Softmax, 3-D GlobalMaxPool) the oracle is onnxruntime, and the test says so.
"""

from __future__ import annotations

import itertools
from typing import Optional, Sequence

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from qcompiler.ir import Graph, Op
from qcompiler.ops.onnx_dialect import onnx_node_for
from qcompiler.ops.onnx_kernels import FAST_KERNELS
from qcompiler.types import TensorType

RNG = np.random.default_rng(1234)


def random(*shape: int, dtype=np.float32) -> np.ndarray:
    """Random values in [-1, 1) (or small integers for integer dtypes)."""
    if np.dtype(dtype).kind in "iu":
        low = 0 if np.dtype(dtype).kind == "u" else -50
        return RNG.integers(low, 50, size=shape).astype(dtype)
    return (RNG.random(shape) * 2 - 1).astype(dtype)


def one_op(op_type: str, inputs: Sequence[Optional[np.ndarray]], attrs: dict, opset: int = 17,
           num_results: Optional[int] = None) -> Op:
    """A graph with one ``onnx.<op_type>`` op on graph inputs; its result types come from ONNX inference."""
    graph = Graph()
    graph.attrs["onnx.opset"] = opset
    values = [None if x is None else graph.add_input(f"in{i}", TensorType.of(x)) for i, x in enumerate(inputs)]
    if num_results is None:
        op = graph.create(f"onnx.{op_type}", values, attrs)
    else:
        from qcompiler.ops.registry import get_op_def

        probe = Op(f"onnx.{op_type}", values, [TensorType(None, "f32")] * num_results, attrs)
        types = get_op_def(probe.kind).infer(probe)
        probe.drop_operands()
        op = graph.create(f"onnx.{op_type}", values, attrs, result_types=types)
    graph.set_outputs(op.results, [f"out{i}" for i in range(len(op.results))])
    return op


def one_node_model(op: Op, inputs: Sequence[Optional[np.ndarray]]) -> tuple[onnx.ModelProto, dict]:
    """A one-node ONNX model equivalent to ``op`` and its feeds."""
    names = [f"in{i}" if x is not None else "" for i, x in enumerate(inputs)]
    outputs = [f"out{i}" for i in range(len(op.results))]
    node = onnx_node_for(op, names, outputs)
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
                    for n, x in zip(names, inputs) if x is not None]
    graph_outputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.type.dtype), None)
                     for n, v in zip(outputs, op.results)]
    model = helper.make_model(helper.make_graph([node], "g", graph_inputs, graph_outputs),
                              opset_imports=[helper.make_opsetid("", op.graph.opset)])
    model.ir_version = 8
    return model, {n: x for n, x in zip(names, inputs) if x is not None}


def reference(op: Op, inputs: Sequence[Optional[np.ndarray]]) -> list[np.ndarray]:
    """The op's outputs from ``onnx.reference``."""
    model, feeds = one_node_model(op, inputs)
    return [np.asarray(y) for y in ReferenceEvaluator(model).run(None, feeds)]


def onnxruntime(op: Op, inputs: Sequence[Optional[np.ndarray]]) -> list[np.ndarray]:
    """The op's outputs from onnxruntime: the oracle where ``onnx.reference`` itself is wrong."""
    ort = pytest.importorskip("onnxruntime")
    model, feeds = one_node_model(op, inputs)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(y) for y in session.run(None, feeds)]


def check(op_type: str, inputs: Sequence[Optional[np.ndarray]], attrs: dict, opset: int = 17,
          rtol: float = 1e-4, atol: float = 1e-5, oracle=reference) -> np.ndarray:
    """Assert that the fast kernel handles the case and matches the oracle; returns the kernel's result."""
    op = one_op(op_type, inputs, attrs, opset)
    result = FAST_KERNELS[op_type](op, *inputs)
    assert result is not NotImplemented, f"{op_type} {attrs} fell back to the reference implementation"
    result = np.asarray(result)
    expected = oracle(op, inputs)[0]
    assert result.shape == expected.shape
    assert result.dtype == op.result.type.dtype
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(result, expected, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(result, expected)
    return result


# -- convolution -------------------------------------------------------------------------------------

CONV_GRID = list(itertools.product(
    (1, 2, 3),                                            # spatial rank
    ((1, 4, 6), (2, 4, 4), (4, 4, 8)),                    # (group, in channels, out channels); 4 = depthwise
    (1, 2),                                               # stride
    (1, 2),                                               # dilation
    ("explicit", "SAME_UPPER", "SAME_LOWER", "VALID"),    # padding
))


def conv_case(rank: int, size: int, channels: int, weight_dims: tuple[int, int], group: int, stride: int,
              dilation: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Input, weight (leading dims ``weight_dims``, then a 3x2x3 kernel cut to ``rank``) and attributes."""
    x = random(2, channels, *([size] * rank))
    w = random(*weight_dims, *[3, 2, 3][:rank])
    return x, w, {"group": group, "strides": [stride] * rank, "dilations": [dilation] * rank}


@pytest.mark.parametrize("rank,groups,stride,dilation,padding", CONV_GRID)
def test_conv(rank, groups, stride, dilation, padding):
    group, channels, out_channels = groups
    x, w, attrs = conv_case(rank, {1: 11, 2: 9, 3: 6}[rank], channels, (out_channels, channels // group), group,
                            stride, dilation)
    if padding == "explicit":
        attrs["pads"] = [1, 0, 2][:rank] + [2, 1, 0][:rank]
    else:
        attrs["auto_pad"] = padding
        if padding != "VALID" and dilation != 1:
            attrs["dilations"] = [1] * rank  # ONNX defines SAME padding without dilation
    bias = random(out_channels) if stride == 1 else None
    check("Conv", [x, w] if bias is None else [x, w, bias], attrs)


@pytest.mark.parametrize("stride,pads", ((1, [0, 0, 0, 0]), (2, [0, 0, 0, 0]), (2, [1, 0, 0, 1])))
def test_pointwise_conv(stride, pads):
    check("Conv", [random(2, 6, 7, 8), random(4, 3, 1, 1), random(4)], {"group": 2, "strides": [stride] * 2,
                                                                          "pads": pads})


def test_conv_kernel_shape_attribute_and_float64():
    x, w = random(1, 3, 7, 7, dtype=np.float64), random(5, 3, 3, 3, dtype=np.float64)
    check("Conv", [x, w], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, rtol=1e-10, atol=1e-12)


def test_conv_falls_back_for_4d_spatial():
    x, w = random(1, 1, 3, 3, 3, 3), random(1, 1, 2, 2, 2, 2)
    op = one_op("Conv", [x, w], {})
    assert FAST_KERNELS["Conv"](op, x, w) is NotImplemented


# -- pooling -----------------------------------------------------------------------------------------

POOL_GRID = list(itertools.product(
    (1, 2, 3),                                            # spatial rank
    (2, 3),                                               # kernel
    (1, 2),                                               # stride
    ("none", "explicit", "SAME_UPPER", "SAME_LOWER", "VALID"),
    (0, 1),                                               # ceil_mode
))


def _pool_attrs(rank: int, kernel: int, stride: int, padding: str, ceil_mode: int) -> dict:
    attrs = {"kernel_shape": [kernel] * rank, "strides": [stride] * rank, "ceil_mode": ceil_mode}
    if padding == "explicit":
        attrs["pads"] = ([1] * rank) + ([kernel // 2] * rank)
    elif padding != "none":
        attrs["auto_pad"] = padding
    return attrs


@pytest.mark.parametrize("rank,kernel,stride,padding,ceil_mode", POOL_GRID)
def test_max_pool(rank, kernel, stride, padding, ceil_mode):
    # onnx.reference indexes past the input when trailing pads are present: onnxruntime is the oracle
    size = {1: 10, 2: 8, 3: 6}[rank]
    check("MaxPool", [random(2, 3, *([size] * rank))], _pool_attrs(rank, kernel, stride, padding, ceil_mode),
          oracle=onnxruntime)


@pytest.mark.parametrize("rank,kernel,stride,padding,ceil_mode", POOL_GRID)
@pytest.mark.parametrize("count_include_pad", (0, 1))
def test_average_pool(rank, kernel, stride, padding, ceil_mode, count_include_pad):
    # onnx.reference divides ceil_mode's partial windows differently from onnxruntime: onnxruntime is the oracle
    size = {1: 10, 2: 8, 3: 6}[rank]
    attrs = _pool_attrs(rank, kernel, stride, padding, ceil_mode)
    attrs["count_include_pad"] = count_include_pad
    check("AveragePool", [random(2, 3, *([size] * rank))], attrs, oracle=onnxruntime)


@pytest.mark.parametrize("op_type", ("MaxPool", "AveragePool"))
@pytest.mark.parametrize("rank", (1, 2, 3))
@pytest.mark.parametrize("stride,pads", ((1, 0), (2, 0), (1, 1), (2, 1)))
def test_pooling_matches_reference(op_type, rank, stride, pads):
    if op_type == "MaxPool" and pads and stride == 1 and rank != 2:
        pytest.skip("onnx.reference's MaxPool indexes past its padded input here (covered against onnxruntime)")
    size = {1: 9, 2: 7, 3: 5}[rank]
    attrs = {"kernel_shape": [3] * rank, "strides": [stride] * rank, "pads": [pads] * (2 * rank)}
    check(op_type, [random(2, 3, *([size] * rank))], attrs)


@pytest.mark.parametrize("op_type", ("MaxPool", "AveragePool"))
@pytest.mark.parametrize("dilation", (2, 3))
def test_pool_dilations(op_type, dilation):
    x = random(1, 2, 11, 12)
    check(op_type, [x], {"kernel_shape": [2, 3], "dilations": [dilation, 2], "pads": [1, 0, 1, 2]}, opset=19,
          oracle=onnxruntime)


def test_max_pool_int8():
    check("MaxPool", [random(1, 2, 7, 7, dtype=np.int8)], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
          oracle=onnxruntime)  # onnx.reference pads integers with NaN and fails


@pytest.mark.parametrize("rank,kernel,stride,padding,ceil_mode", POOL_GRID)
def test_max_pool_indices(rank, kernel, stride, padding, ceil_mode):
    size = {1: 10, 2: 8, 3: 6}[rank]
    x = random(2, 3, *([size] * rank))
    op = one_op("MaxPool", [x], _pool_attrs(rank, kernel, stride, padding, ceil_mode), num_results=2)
    values, indices = FAST_KERNELS["MaxPool"](op, x)
    expected_values, expected_indices = onnxruntime(op, [x])
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(indices, expected_indices)


def test_max_pool_indices_column_major_falls_back():
    x = random(1, 1, 4, 4)
    op = one_op("MaxPool", [x], {"kernel_shape": [2, 2], "storage_order": 1}, num_results=2)
    assert FAST_KERNELS["MaxPool"](op, x) is NotImplemented


@pytest.mark.parametrize("op_type", ("GlobalAveragePool", "GlobalMaxPool"))
@pytest.mark.parametrize("shape", ((2, 3, 5), (1, 4, 6, 7), (1, 2, 3, 4, 5)))
def test_global_pools(op_type, shape):
    # onnx.reference's GlobalMaxPool drops an axis of 3-D inputs
    check(op_type, [random(*shape)], {}, oracle=onnxruntime if op_type == "GlobalMaxPool" else reference)


@pytest.mark.parametrize("p", (1, 2, 3))
def test_global_lp_pool(p):
    # onnx.reference has no GlobalLpPool, so the oracle is the definition itself
    x = random(2, 3, 4, 5)
    op = one_op("GlobalLpPool", [x], {"p": p})
    expected = (np.abs(x.astype(np.float64)) ** p).sum(axis=(2, 3), keepdims=True) ** (1 / p)
    np.testing.assert_allclose(FAST_KERNELS["GlobalLpPool"](op, x), expected, rtol=1e-5)


# -- matrix products ---------------------------------------------------------------------------------

@pytest.mark.parametrize("trans_a,trans_b", itertools.product((0, 1), (0, 1)))
@pytest.mark.parametrize("alpha,beta", ((1.0, 1.0), (0.5, 2.0), (1.0, 0.0)))
@pytest.mark.parametrize("c_shape", (None, (), (5,), (3, 5), (3, 1)))
def test_gemm(trans_a, trans_b, alpha, beta, c_shape):
    a = random(4, 3) if trans_a else random(3, 4)
    b = random(5, 4) if trans_b else random(4, 5)
    inputs = [a, b] if c_shape is None else [a, b, random(*c_shape)]
    check("Gemm", inputs, {"transA": trans_a, "transB": trans_b, "alpha": alpha, "beta": beta})


@pytest.mark.parametrize("shapes", (((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                                    ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,))))
@pytest.mark.parametrize("dtype", (np.float32, np.int32))
def test_matmul(shapes, dtype):
    check("MatMul", [random(*shapes[0], dtype=dtype), random(*shapes[1], dtype=dtype)], {})


# -- normalization and activations -------------------------------------------------------------------

@pytest.mark.parametrize("shape", ((4, 3), (2, 3, 5), (2, 3, 4, 5), (1, 3, 2, 3, 4)))
@pytest.mark.parametrize("opset", (9, 15))
def test_batch_normalization(shape, opset):
    channels = shape[1]
    inputs = [random(*shape), random(channels), random(channels), random(channels), RNG.random(channels).astype(np.float32)]
    # onnx.reference ignores epsilon at opset 9
    check("BatchNormalization", inputs, {"epsilon": 1e-3}, opset=opset, oracle=onnxruntime if opset < 14 else reference)


def test_batch_normalization_training_falls_back():
    inputs = [random(2, 3, 4), random(3), random(3), random(3), RNG.random(3).astype(np.float32)]
    op = one_op("BatchNormalization", inputs, {"training_mode": 1}, opset=15, num_results=3)
    assert FAST_KERNELS["BatchNormalization"](op, *inputs) is NotImplemented


@pytest.mark.parametrize("size", (1, 2, 3, 4, 5))
def test_lrn(size):
    # onnx.reference loops over the batch instead of the channels, and onnxruntime takes odd sizes only:
    # the oracle is the operator's definition, and onnxruntime where it applies
    x = random(2, 7, 4, 5)
    attrs = {"size": size, "alpha": 0.01, "beta": 0.6, "bias": 1.5}
    result = check("LRN", [x], attrs, oracle=onnxruntime) if size % 2 else FAST_KERNELS["LRN"](one_op("LRN", [x], attrs), x)
    squares = np.zeros_like(x)
    for c in range(x.shape[1]):
        lo, hi = max(0, c - (size - 1) // 2), min(x.shape[1], c + size // 2 + 1)
        squares[:, c] = (x[:, lo:hi] ** 2).sum(axis=1)
    np.testing.assert_allclose(result, x / (1.5 + 0.01 / size * squares) ** 0.6, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op_type", ("Softmax", "LogSoftmax", "Hardmax"))
@pytest.mark.parametrize("axis", (None, 0, 1, -1, 2))
@pytest.mark.parametrize("opset", (11, 13))
def test_softmax(op_type, axis, opset):
    attrs = {} if axis is None else {"axis": axis}
    # onnx.reference applies opset-13 semantics (one axis) at every opset; onnxruntime flattens before 13
    check(op_type, [random(2, 3, 4) * 10], attrs, opset=opset, oracle=reference if opset >= 13 else onnxruntime)


# -- elementwise -------------------------------------------------------------------------------------

@pytest.mark.parametrize("op_type", ("Add", "Sub", "Mul"))
@pytest.mark.parametrize("dtype", (np.float32, np.int64, np.uint8))
@pytest.mark.parametrize("shapes", (((2, 3), (2, 3)), ((2, 1, 4), (3, 1)), ((), (2, 2))))
def test_binary(op_type, dtype, shapes):
    check(op_type, [random(*shapes[0], dtype=dtype), random(*shapes[1], dtype=dtype)], {})


@pytest.mark.parametrize("op_type", ("Sum", "Max", "Min"))
@pytest.mark.parametrize("count", (1, 2, 3))
def test_variadic(op_type, count):
    shapes = [(2, 3), (3,), (1, 3)][:count]
    check(op_type, [random(*s) for s in shapes], {})


@pytest.mark.parametrize("dtype", (np.float32, np.float16, np.int32))
def test_relu(dtype):
    check("Relu", [random(3, 4, dtype=dtype)], {})


def test_mixed_dtypes_fall_back():
    a, b = random(2, dtype=np.float32), random(2, dtype=np.float32)
    op = one_op("Add", [a, b], {})
    assert FAST_KERNELS["Add"](op, a, b.astype(np.float64)) is NotImplemented


# -- transposed convolution --------------------------------------------------------------------------

CONV_TRANSPOSE_GRID = list(itertools.product(
    (1, 2, 3),                                            # spatial rank
    ((1, 4, 3), (2, 4, 2), (4, 4, 1)),                    # (group, in channels, out channels per group)
    (1, 2),                                               # stride
    (1, 2),                                               # dilation
    ("none", "explicit", "output_padding", "output_shape", "SAME_UPPER", "SAME_LOWER", "VALID"),
))


@pytest.mark.parametrize("rank,groups,stride,dilation,padding", CONV_TRANSPOSE_GRID)
def test_conv_transpose(rank, groups, stride, dilation, padding):
    group, channels, per_group = groups
    size = {1: 7, 2: 5, 3: 4}[rank]
    x, w, attrs = conv_case(rank, size, channels, (channels, per_group), group, stride, dilation)
    if padding == "explicit":
        attrs["pads"] = [1, 0, 1][:rank] + [0, 1, 1][:rank]
    elif padding == "output_padding":
        attrs["output_padding"] = [stride - 1] * rank
        attrs["pads"] = [1] * (2 * rank)
    elif padding == "output_shape":
        attrs["output_shape"] = [size * stride + 1] * rank
    elif padding != "none":
        attrs["auto_pad"] = padding
    bias = random(group * per_group) if stride == 2 else None
    # onnx.reference mishandles groups (bias per group, several channels per group) and most output_shape
    # cases: onnxruntime is the oracle there
    oracle = reference if group == 1 and padding != "output_shape" else onnxruntime
    check("ConvTranspose", [x, w] if bias is None else [x, w, bias], attrs, oracle=oracle)


# -- ops expanded from schema function bodies, built by hand (types inferred at the graph's opset) -----

FUNCTION_OP_CASES = [
    ("MeanVarianceNormalization", 9, lambda: [random(2, 3, 4, 5)], {}),
    ("MeanVarianceNormalization", 13, lambda: [random(2, 3, 4, 5)], {}),
    ("HardSwish", 14, lambda: [random(3, 4) * 4], {}),
    ("Mish", 18, lambda: [random(3, 4) * 3], {}),
    ("Gelu", 20, lambda: [random(3, 4) * 3], {"approximate": "tanh"}),
    ("GroupNormalization", 18, lambda: [random(2, 4, 3, 3), random(2), random(2)], {"num_groups": 2}),
    ("GroupNormalization", 21, lambda: [random(2, 4, 3, 3), random(4), random(4)], {"num_groups": 2}),
]


@pytest.mark.parametrize("op_type,opset,make_inputs,attrs", FUNCTION_OP_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in FUNCTION_OP_CASES])
def test_function_ops_infer_and_evaluate(op_type, opset, make_inputs, attrs):
    from qcompiler.ops.registry import evaluate_op

    inputs = make_inputs()
    op = one_op(op_type, inputs, attrs, opset)
    assert op.result.type.shape == inputs[0].shape
    expected = onnxruntime(op, inputs)[0]
    np.testing.assert_allclose(evaluate_op(op, inputs)[0], expected, rtol=1e-4, atol=1e-5)
