"""The ``fold-batchnorm`` pass: BatchNormalization and per-channel Mul/Add fold into Conv, ConvTranspose,
Gemm and MatMul (with or without bias, grouped and depthwise); a lone BatchNormalization becomes Mul + Add;
outputs never change."""

from __future__ import annotations

import numpy as np
import pytest

from cleanup_support import apply, assert_keeps_meaning, assert_model_keeps_meaning, f32, kinds, new_graph
from qcompiler.onnx_import import import_onnx

RNG = np.random.default_rng(7)


def weights(*shape: int) -> np.ndarray:
    return RNG.uniform(-1, 1, shape).astype(np.float32)


def batchnorm(graph, x, channels: int, out_type, epsilon: float = 1e-3):
    """BatchNormalization(x) over axis 1 with random statistics (variance positive)."""
    params = [weights(channels), weights(channels), weights(channels),
              RNG.uniform(0.2, 2.0, channels).astype(np.float32)]
    return graph.create("onnx.BatchNormalization", [x] + [graph.const(p) for p in params],
                        {"epsilon": epsilon}, result_types=[out_type], loc="/bn", result_names=["bn_out"]).result


def conv_graph(in_channels: int, out_channels: int, group: int, bias: bool):
    graph = new_graph()
    x = graph.add_input("x", f32(1, in_channels, 6, 6))
    operands = [x, graph.const(weights(out_channels, in_channels // group, 3, 3))]
    if bias:
        operands.append(graph.const(weights(out_channels)))
    out_type = f32(1, out_channels, 4, 4)
    conv = graph.create("onnx.Conv", operands, {"group": group, "kernel_shape": [3, 3]}, result_types=[out_type],
                        loc="/conv").result
    graph.set_outputs([batchnorm(graph, conv, out_channels, out_type)], ["y"])
    return graph


@pytest.mark.parametrize("in_channels,out_channels,group,bias", [
    (4, 8, 1, True), (4, 8, 1, False), (4, 6, 2, True), (4, 4, 4, False), (4, 8, 4, True)],
    ids=["conv-bias", "conv", "grouped", "depthwise", "depthwise-multiplier"])
def test_batchnorm_folds_into_conv(in_channels, out_channels, group, bias):
    folded = assert_keeps_meaning(conv_graph(in_channels, out_channels, group, bias), "fold-batchnorm")
    assert kinds(folded) == {"onnx.Conv": 1}
    conv = folded.ops_of_kind("onnx.Conv")[0]
    assert conv.loc == "/conv" and conv.result.name == "bn_out" and conv.attrs["group"] == group


def conv_transpose_graph(group: int):
    graph = new_graph()
    x = graph.add_input("x", f32(1, 4, 5, 5))
    out_type = f32(1, 6, 7, 7)
    conv = graph.create("onnx.ConvTranspose", [x, graph.const(weights(4, 6 // group, 3, 3)),
                                               graph.const(weights(6))],
                        {"group": group}, result_types=[out_type]).result
    graph.set_outputs([batchnorm(graph, conv, 6, out_type)], ["y"])
    return graph


def test_batchnorm_folds_into_conv_transpose():
    folded = assert_keeps_meaning(conv_transpose_graph(1), "fold-batchnorm")
    assert kinds(folded) == {"onnx.ConvTranspose": 1}


def test_batchnorm_folds_into_grouped_conv_transpose():
    """onnx.reference cannot run grouped ConvTranspose, so the folded weights are checked element by element:
    weight[i, j] feeds output channel (i // (C_in / group)) * (C_out / group) + j."""
    graph = conv_transpose_graph(2)
    conv, bn = graph.ops_of_kind("onnx.ConvTranspose")[0], graph.ops_of_kind("onnx.BatchNormalization")[0]
    weight, bias = conv.operand(1).const_value, conv.operand(2).const_value
    gamma, beta, mean, var = (bn.operand(i).const_value.astype(np.float64) for i in range(1, 5))
    scale = gamma / np.sqrt(var + 1e-3)
    apply(graph, "fold-batchnorm")
    assert kinds(graph) == {"onnx.ConvTranspose": 1}
    folded = graph.ops_of_kind("onnx.ConvTranspose")[0]
    expected = np.empty_like(weight)
    for i in range(4):
        for j in range(3):
            expected[i, j] = weight[i, j] * scale[(i // 2) * 3 + j]
    np.testing.assert_allclose(folded.operand(1).const_value, expected, rtol=1e-6)
    np.testing.assert_allclose(folded.operand(2).const_value, (bias - mean) * scale + beta, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("trans_b,bias", [(0, True), (1, True), (1, False)])
def test_batchnorm_folds_into_gemm(trans_b, bias):
    graph = new_graph()
    a = graph.add_input("a", f32(3, 5))
    operands = [a, graph.const(weights(4, 5) if trans_b else weights(5, 4))]
    if bias:
        operands.append(graph.const(weights(4)))
    gemm = graph.create("onnx.Gemm", operands, {"transB": trans_b, "alpha": 0.5, "beta": 2.0},
                        result_types=[f32(3, 4)]).result
    graph.set_outputs([batchnorm(graph, gemm, 4, f32(3, 4))], ["y"])
    folded = assert_keeps_meaning(graph, "fold-batchnorm")
    assert kinds(folded) == {"onnx.Gemm": 1}


def test_batchnorm_folds_into_matmul_as_matmul_and_add():
    graph = new_graph()
    a = graph.add_input("a", f32(3, 5))
    product = graph.create("onnx.MatMul", [a, graph.const(weights(5, 4))], result_types=[f32(3, 4)]).result
    graph.set_outputs([batchnorm(graph, product, 4, f32(3, 4))], ["y"])
    folded = assert_keeps_meaning(graph, "fold-batchnorm")
    assert kinds(folded) == {"onnx.MatMul": 1, "onnx.Add": 1}


def test_lone_batchnorm_becomes_mul_and_add():
    graph = new_graph()
    x = graph.add_input("x", f32(2, 3, 4, 4))
    graph.set_outputs([batchnorm(graph, x, 3, f32(2, 3, 4, 4))], ["y"])
    folded = assert_keeps_meaning(graph, "fold-batchnorm")
    assert kinds(folded) == {"onnx.Mul": 1, "onnx.Add": 1}
    assert folded.ops_of_kind("onnx.Mul")[0].operand(1).const_value.shape == (3, 1, 1)


def test_conv_with_another_user_keeps_its_weights():
    graph = new_graph()
    x = graph.add_input("x", f32(1, 2, 5, 5))
    out_type = f32(1, 3, 3, 3)
    conv = graph.create("onnx.Conv", [x, graph.const(weights(3, 2, 3, 3))], result_types=[out_type]).result
    normalized = batchnorm(graph, conv, 3, out_type)
    graph.set_outputs([normalized, conv], ["y", "raw"])
    folded = assert_keeps_meaning(graph, "fold-batchnorm")
    assert kinds(folded) == {"onnx.Conv": 1, "onnx.Mul": 1, "onnx.Add": 1}


def test_conv_with_runtime_weight_is_not_folded_into():
    graph = new_graph()
    x = graph.add_input("x", f32(1, 2, 5, 5))
    w = graph.add_input("w", f32(3, 2, 3, 3))
    out_type = f32(1, 3, 3, 3)
    conv = graph.create("onnx.Conv", [x, w], result_types=[out_type]).result
    graph.set_outputs([batchnorm(graph, conv, 3, out_type)], ["y"])
    folded = assert_keeps_meaning(graph, "fold-batchnorm")
    assert kinds(folded) == {"onnx.Conv": 1, "onnx.Mul": 1, "onnx.Add": 1}


def per_channel_graph(scale_shape, shift_shape):
    """Conv -> Mul(const) -> Add(const), the light models' BN-as-Mul+Add chain."""
    graph = new_graph()
    x = graph.add_input("x", f32(1, 2, 5, 5))
    out_type = f32(1, 4, 3, 3)
    conv = graph.create("onnx.Conv", [x, graph.const(weights(4, 2, 3, 3)), graph.const(weights(4))],
                        result_types=[out_type]).result
    scaled = graph.create("onnx.Mul", [graph.const(weights(*scale_shape)), conv], result_types=[out_type]).result
    shifted = graph.create("onnx.Add", [scaled, graph.const(weights(*shift_shape))], result_types=[out_type]).result
    graph.set_outputs([shifted], ["y"])
    return graph


@pytest.mark.parametrize("scale_shape,shift_shape", [((4, 1, 1), (4, 1, 1)), ((1, 4, 1, 1), (1,)), ((1,), ())])
def test_per_channel_mul_and_add_fold_into_conv(scale_shape, shift_shape):
    folded = assert_keeps_meaning(per_channel_graph(scale_shape, shift_shape), "fold-batchnorm")
    assert kinds(folded) == {"onnx.Conv": 1}


def test_mul_varying_over_space_is_not_folded():
    folded = assert_keeps_meaning(per_channel_graph((4, 3, 3), (4, 1, 1)), "fold-batchnorm")
    assert kinds(folded) == {"onnx.Conv": 1, "onnx.Mul": 1, "onnx.Add": 1}


def test_shared_models_keep_meaning(shared_model_path):
    folded = assert_model_keeps_meaning(shared_model_path, "fold-constants,fold-batchnorm")
    assert not folded.ops_of_kind("onnx.BatchNormalization")
    assert_model_keeps_meaning(shared_model_path, "fold-batchnorm")


def test_light_models_keep_meaning(light_model_path):
    folded = assert_model_keeps_meaning(light_model_path, "fold-batchnorm")  # weights are constants
    assert not folded.ops_of_kind("onnx.BatchNormalization")
    original = import_onnx(light_model_path)
    apply(original, "fold-constants,fold-batchnorm")
    assert not original.ops_of_kind("onnx.BatchNormalization")
