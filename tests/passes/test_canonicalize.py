"""The ``canonicalize`` pass: every pattern on a small graph (what it rewrites, what it must leave alone)
and every shared and light model keeping its outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cleanup_support import apply, assert_keeps_meaning, assert_model_keeps_meaning, f32, kinds, new_graph
from qcompiler.types import TensorType

RNG = np.random.default_rng(3)


def weights(*shape: int) -> np.ndarray:
    return RNG.uniform(-1, 1, shape).astype(np.float32)


def scalar(graph, number: float):
    return graph.const(np.array(number, np.float32))


def unary_graph(kind: str, attrs=None, extra=(), shape=(2, 3), out_shape=None, opset: int = 17):
    graph = new_graph(opset)
    x = graph.add_input("x", f32(*shape))
    op = graph.create(kind, [x, *[graph.const(e) for e in extra]], attrs or {},
                      result_types=[f32(*(out_shape or shape))])
    out = graph.create("onnx.Neg", [op.results[0]], result_types=[op.results[0].type]).result
    graph.set_outputs([out], ["out"])
    return graph


# -- forwarding ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,attrs,extra", [
    ("onnx.Identity", {}, ()),
    ("onnx.Dropout", {}, (np.array(0.5, np.float32), np.array(False))),
    ("onnx.Dropout", {}, ()),
    ("onnx.Reshape", {}, (np.array([2, 3], np.int64),)),
    ("onnx.Cast", {"to": 1}, ()),
    ("onnx.Sum", {}, ()),
], ids=["identity", "dropout-inference", "dropout", "noop-reshape", "noop-cast", "sum-of-one"])
def test_forwarding_ops_disappear(kind, attrs, extra):
    result = assert_keeps_meaning(unary_graph(kind, attrs, extra), "canonicalize")
    assert kinds(result) == {"onnx.Neg": 1}


def test_dropout_in_training_mode_or_with_used_mask_stays():
    graph = unary_graph("onnx.Dropout", {}, (np.array(0.5, np.float32), np.array(True)))
    assert not apply(graph, "canonicalize")
    graph = new_graph()
    x = graph.add_input("x", f32(2, 3))
    drop = graph.create("onnx.Dropout", [x], result_types=[f32(2, 3), TensorType((2, 3), "bool")])
    graph.set_outputs(list(drop.results), ["y", "mask"])
    assert not apply(graph, "canonicalize")


def test_real_cast_stays():
    graph = unary_graph("onnx.Cast", {"to": 10}, ())
    graph.ops_of_kind("onnx.Cast")[0].results[0].type = TensorType((2, 3), "f16")
    assert kinds(assert_keeps_meaning(graph, "canonicalize"))["onnx.Cast"] == 1


def test_reshape_chains_merge():
    graph = new_graph()
    x = graph.add_input("x", f32(2, 3, 4))
    flat = graph.create("onnx.Flatten", [x], {"axis": 1}, result_types=[f32(2, 12)]).result
    again = graph.create("onnx.Reshape", [flat, graph.const(np.array([6, 4], np.int64))],
                         result_types=[f32(6, 4)]).result
    last = graph.create("onnx.Reshape", [again, graph.const(np.array([4, -1], np.int64))],
                        result_types=[f32(4, 6)]).result
    graph.set_outputs([last], ["out"])
    result = assert_keeps_meaning(graph, "canonicalize")
    assert kinds(result) == {"onnx.Reshape": 1}
    reshape = result.ops_of_kind("onnx.Reshape")[0]
    assert reshape.operand(0) is result.inputs[0]
    np.testing.assert_array_equal(reshape.operand(1).const_value, [4, 6])


def transpose_pair(first, second, shapes):
    graph = new_graph()
    x = graph.add_input("x", f32(*shapes[0]))
    mid = graph.create("onnx.Transpose", [x], {"perm": first}, result_types=[f32(*shapes[1])]).result
    out = graph.create("onnx.Transpose", [mid], {"perm": second}, result_types=[f32(*shapes[2])]).result
    graph.set_outputs([graph.create("onnx.Neg", [out], result_types=[out.type]).result], ["out"])
    return graph


def test_inverse_transposes_cancel():
    graph = transpose_pair([0, 2, 3, 1], [0, 3, 1, 2], [(1, 2, 3, 4), (1, 3, 4, 2), (1, 2, 3, 4)])
    assert kinds(assert_keeps_meaning(graph, "canonicalize")) == {"onnx.Neg": 1}


def test_transpose_chains_compose():
    graph = transpose_pair([1, 0, 2], [2, 0, 1], [(2, 3, 4), (3, 2, 4), (4, 3, 2)])
    result = assert_keeps_meaning(graph, "canonicalize")
    assert kinds(result) == {"onnx.Transpose": 1, "onnx.Neg": 1}
    assert result.ops_of_kind("onnx.Transpose")[0].attrs["perm"] == [2, 1, 0]


def test_sum_of_two_becomes_add_and_of_three_stays():
    graph = new_graph()
    x, y = graph.add_input("x", f32(2, 3)), graph.add_input("y", f32(3))
    two = graph.create("onnx.Sum", [x, y], result_types=[f32(2, 3)]).result
    three = graph.create("onnx.Sum", [x, y, two], result_types=[f32(2, 3)]).result
    graph.set_outputs([three], ["out"])
    assert kinds(assert_keeps_meaning(graph, "canonicalize")) == {"onnx.Add": 1, "onnx.Sum": 1}


def test_constant_mul_add_chains_gather():
    graph = new_graph()
    x = graph.add_input("x", f32(1, 3, 2, 2))
    value = x
    for kind, constant in (("onnx.Mul", weights(3, 1, 1)), ("onnx.Add", weights(3, 1, 1)),
                           ("onnx.Mul", weights(3, 1, 1)), ("onnx.Add", weights(1))):
        value = graph.create(kind, [value, graph.const(constant)], result_types=[x.type]).result
    graph.set_outputs([value], ["out"])
    assert kinds(assert_keeps_meaning(graph, "canonicalize")) == {"onnx.Mul": 1, "onnx.Add": 1}


# -- fully connected -----------------------------------------------------------------------------------
def test_matmul_and_bias_become_fully_connected():
    graph = new_graph()
    x = graph.add_input("x", f32(2, 4, 5))
    product = graph.create("onnx.MatMul", [x, graph.const(weights(5, 3))], result_types=[f32(2, 4, 3)]).result
    out = graph.create("onnx.Add", [graph.const(weights(3)), product], result_types=[f32(2, 4, 3)]).result
    graph.set_outputs([out], ["out"])
    result = assert_keeps_meaning(graph, "canonicalize")
    assert kinds(result) == {"core.fully_connected": 1}
    fc = result.ops_of_kind("core.fully_connected")[0]
    assert fc.operand(1).type.shape == (3, 5) and fc.operand(2).type.shape == (3,)


def test_matmul_with_runtime_weight_stays():
    graph = new_graph()
    x, w = graph.add_input("x", f32(4, 5)), graph.add_input("w", f32(5, 3))
    graph.set_outputs([graph.create("onnx.MatMul", [x, w], result_types=[f32(4, 3)]).result], ["out"])
    assert not apply(graph, "canonicalize")


@pytest.mark.parametrize("trans_b,alpha,beta,bias_shape", [
    (0, 1.0, 1.0, (3,)), (1, 0.5, 2.0, (1, 3)), (1, 1.0, 1.0, None), (0, 2.0, 0.0, (3,))])
def test_gemm_with_constant_weight_becomes_fully_connected(trans_b, alpha, beta, bias_shape):
    graph = new_graph()
    a = graph.add_input("a", f32(4, 5))
    operands = [a, graph.const(weights(3, 5) if trans_b else weights(5, 3))]
    if bias_shape is not None:
        operands.append(graph.const(weights(*bias_shape)))
    gemm = graph.create("onnx.Gemm", operands, {"transB": trans_b, "alpha": alpha, "beta": beta},
                        result_types=[f32(4, 3)])
    graph.set_outputs([gemm.result], ["out"])
    assert kinds(assert_keeps_meaning(graph, "canonicalize")) == {"core.fully_connected": 1}


def test_gemm_with_per_row_bias_or_transposed_input_stays():
    for attrs, a_shape, bias in (({"transA": 1}, (5, 4), weights(3)), ({}, (4, 5), weights(4, 1))):
        graph = new_graph()
        a = graph.add_input("a", f32(*a_shape))
        gemm = graph.create("onnx.Gemm", [a, graph.const(weights(5, 3)), graph.const(bias)], attrs,
                            result_types=[f32(4, 3)])
        graph.set_outputs([gemm.result], ["out"])
        assert kinds(assert_keeps_meaning(graph, "canonicalize")) == {"onnx.Gemm": 1}


# -- activations ---------------------------------------------------------------------------------------
def test_clip_0_6_becomes_relu6():
    graph = unary_graph("onnx.Clip", {}, (np.array(0, np.float32), np.array(6, np.float32)), shape=(2, 8))
    assert kinds(assert_keeps_meaning(graph, "canonicalize")) == {"core.relu6": 1, "onnx.Neg": 1}
    old = unary_graph("onnx.Clip", {"min": 0.0, "max": 6.0}, (), shape=(2, 8), opset=9)
    assert kinds(assert_keeps_meaning(old, "canonicalize")) == {"core.relu6": 1, "onnx.Neg": 1}


def test_other_clips_stay():
    graph = unary_graph("onnx.Clip", {}, (np.array(0, np.float32), np.array(5, np.float32)))
    assert kinds(assert_keeps_meaning(graph, "canonicalize")) == {"onnx.Clip": 1, "onnx.Neg": 1}


def test_x_times_sigmoid_x_becomes_swish():
    graph = new_graph()
    x, y = graph.add_input("x", f32(2, 3)), graph.add_input("y", f32(2, 3))
    gate = graph.create("onnx.Sigmoid", [x], result_types=[f32(2, 3)]).result
    swish = graph.create("onnx.Mul", [gate, x], result_types=[f32(2, 3)]).result
    other_gate = graph.create("onnx.Sigmoid", [y], result_types=[f32(2, 3)]).result
    not_swish = graph.create("onnx.Mul", [x, other_gate], result_types=[f32(2, 3)]).result
    graph.set_outputs([swish, not_swish], ["swish", "gated"])
    assert kinds(assert_keeps_meaning(graph, "canonicalize")) == {"core.swish": 1, "onnx.Sigmoid": 1,
                                                                 "onnx.Mul": 1}


def gelu_graph(order: str, divisor: float = math.sqrt(2.0)):
    """x * 0.5 * (1 + erf(x / divisor)) associated as ``order`` says."""
    graph = new_graph()
    x = graph.add_input("x", f32(2, 5))
    t = f32(2, 5)
    if order == "mul-inverse":
        scaled = graph.create("onnx.Mul", [scalar(graph, 1 / divisor), x], result_types=[t]).result
    else:
        scaled = graph.create("onnx.Div", [x, scalar(graph, divisor)], result_types=[t]).result
    erf = graph.create("onnx.Erf", [scaled], result_types=[t]).result
    gate = graph.create("onnx.Add", [erf, scalar(graph, 1.0)], result_types=[t]).result
    if order in ("torch", "mul-inverse"):  # (x * gate) * 0.5
        out = graph.create("onnx.Mul", [x, gate], result_types=[t]).result
        out = graph.create("onnx.Mul", [out, scalar(graph, 0.5)], result_types=[t]).result
    elif order == "half-gate":  # x * (gate * 0.5)
        half = graph.create("onnx.Mul", [scalar(graph, 0.5), gate], result_types=[t]).result
        out = graph.create("onnx.Mul", [x, half], result_types=[t]).result
    else:  # gate * (x * 0.5)
        half = graph.create("onnx.Mul", [x, scalar(graph, 0.5)], result_types=[t]).result
        out = graph.create("onnx.Mul", [gate, half], result_types=[t]).result
    graph.set_outputs([out], ["out"])
    return graph


@pytest.mark.parametrize("order", ["torch", "mul-inverse", "half-gate", "half-x"])
def test_erf_gelu_becomes_core_gelu(order):
    result = assert_keeps_meaning(gelu_graph(order), "canonicalize")
    assert kinds(result) == {"core.gelu": 1}
    assert result.ops_of_kind("core.gelu")[0].attrs["approximate"] is False


def test_gelu_with_a_wrong_constant_stays():
    result = assert_keeps_meaning(gelu_graph("torch", divisor=1.5), "canonicalize")
    assert "core.gelu" not in kinds(result) and kinds(result)["onnx.Erf"] == 1


# -- layer norm ----------------------------------------------------------------------------------------
def decomposed_layer_norm(square_with: str = "pow", axes=(-1,), shape=(2, 4, 6)):
    """ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add as PyTorch exports LayerNorm (opset 17: axes attr)."""
    graph = new_graph()
    x = graph.add_input("x", f32(*shape))
    t, kept = f32(*shape), f32(*[1 if i in [a % len(shape) for a in axes] else d for i, d in enumerate(shape)])
    mean = graph.create("onnx.ReduceMean", [x], {"axes": list(axes)}, result_types=[kept]).result
    centered = graph.create("onnx.Sub", [x, mean], result_types=[t]).result
    if square_with == "pow":
        square = graph.create("onnx.Pow", [centered, scalar(graph, 2.0)], result_types=[t]).result
    else:
        square = graph.create("onnx.Mul", [centered, centered], result_types=[t]).result
    variance = graph.create("onnx.ReduceMean", [square], {"axes": list(axes)}, result_types=[kept]).result
    shifted = graph.create("onnx.Add", [variance, scalar(graph, 1e-5)], result_types=[kept]).result
    root = graph.create("onnx.Sqrt", [shifted], result_types=[kept]).result
    normed = graph.create("onnx.Div", [centered, root], result_types=[t]).result
    scaled = graph.create("onnx.Mul", [normed, graph.const(weights(shape[-1]))], result_types=[t]).result
    out = graph.create("onnx.Add", [scaled, graph.const(weights(shape[-1]))], result_types=[t]).result
    graph.set_outputs([out], ["out"])
    return graph


@pytest.mark.parametrize("square_with", ["pow", "mul"])
def test_decomposed_layer_norm_becomes_core_layer_norm(square_with):
    result = assert_keeps_meaning(decomposed_layer_norm(square_with), "canonicalize")
    assert kinds(result) == {"core.layer_norm": 1}
    norm = result.ops_of_kind("core.layer_norm")[0]
    assert norm.attrs["axis"] == -1 and norm.attrs["epsilon"] == pytest.approx(1e-5)
    assert norm.operand(1) is not None and norm.operand(2) is not None


def test_normalization_over_a_middle_axis_stays():
    result = assert_keeps_meaning(decomposed_layer_norm(axes=(1,)), "canonicalize")
    assert "core.layer_norm" not in kinds(result)


def test_onnx_layer_normalization_becomes_core_layer_norm():
    graph = new_graph()
    x = graph.add_input("x", f32(2, 3, 4))
    norm = graph.create("onnx.LayerNormalization", [x, graph.const(weights(3, 4)), graph.const(weights(3, 4))],
                        {"axis": 1, "epsilon": 1e-3}, result_types=[f32(2, 3, 4)])
    graph.set_outputs([norm.result], ["out"])
    result = assert_keeps_meaning(graph, "canonicalize")
    assert kinds(result) == {"core.layer_norm": 1}
    assert result.ops_of_kind("core.layer_norm")[0].attrs["axis"] == -2


# -- models --------------------------------------------------------------------------------------------
def test_shared_models_keep_meaning(shared_model_path):
    assert_model_keeps_meaning(shared_model_path, "canonicalize")
    result = assert_model_keeps_meaning(shared_model_path, "fold-constants,canonicalize")
    assert not result.ops_of_kind("onnx.Identity", "onnx.Dropout", "onnx.LayerNormalization", "onnx.Erf")


def test_light_models_keep_meaning(light_model_path):
    result = assert_model_keeps_meaning(light_model_path, "canonicalize")
    assert not result.ops_of_kind("onnx.Dropout", "onnx.Sum")
