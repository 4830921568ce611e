"""Tests of ``bias-correction``: the shift it folds into a bias is the mean output change of int8 weight
rounding (numpy oracle), it cancels that change on the layer it corrects, and it runs as a pass."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.ir import Graph
from qcompiler.onnx_import import import_onnx
from qcompiler.pass_manager import PassManager, parse_pipeline
from qcompiler.passes.bias_correction import bias_correction, restore_biases
from qcompiler.passes.insert_qdq import insert_qdq
from qcompiler.types import TensorType

PREPARE = "cleanup,legalize,to-nhwc,fuse-activations"


def int8_weights(weight: np.ndarray, per_channel: bool) -> np.ndarray:
    """Symmetric int8 rounding of a weight as TFLite does it, in numpy: scale max|w|/127 (float32), round
    half away from zero, clamp to [-127, 127], dequantize."""
    weight = weight.astype(np.float64)
    peak = np.abs(weight).max(axis=tuple(range(1, weight.ndim)), keepdims=True) if per_channel \
        else np.abs(weight).max()
    scale = np.float32(peak / 127.0).astype(np.float64)
    ratio = weight / scale
    stored = np.clip(np.sign(ratio) * np.floor(np.abs(ratio) + 0.5), -127, 127)
    return (stored * scale).astype(np.float32).astype(np.float64)  # DEQUANTIZE gives float32


def fc_graph(weight: np.ndarray, bias: np.ndarray | None) -> Graph:
    """x[1, K] -> fully_connected(weight[N, K], bias?) -> y."""
    graph = Graph()
    x = graph.add_input("x", TensorType((1, weight.shape[1]), "f32"))
    operands = [x, graph.const(weight, "w")] + ([graph.const(bias, "b")] if bias is not None else [])
    y = graph.create("core.fully_connected", operands, loc="fc", result_names=["y"]).result
    graph.set_outputs([y], ["y"])
    return graph


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_fully_connected_shift_matches_numpy(per_channel, with_bias):
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((5, 7)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32) if with_bias else None
    samples = (rng.random((40, 1, 7)) * 2 + 0.5).astype(np.float32)  # mean far from 0: a visible shift
    graph = fc_graph(weight, bias)
    shifts = bias_correction(graph, {"x": samples}, per_channel=per_channel)
    expected = samples.astype(np.float64).mean(axis=0)[0] @ (int8_weights(weight, per_channel) - weight).T
    assert shifts["fc"] == pytest.approx(expected, rel=1e-5, abs=1e-7)
    fc = graph.ops_of_kind("core.fully_connected")[0]
    corrected = fc.operand(2).const_value
    assert corrected == pytest.approx((bias if with_bias else 0.0) - expected, rel=1e-5, abs=1e-6)
    assert [op.kind for op in graph].count("const") == 2  # the old bias is gone


def linear_cnn(shared_models_dir) -> Graph:
    """digits_cnn prepared, with every fused activation removed so that layer means are linear."""
    graph = import_onnx(shared_models_dir / "digits_cnn.onnx")
    PassManager(parse_pipeline(PREPARE)).run(graph)
    for op in graph:
        if "activation" in op.attrs:
            op.attrs["activation"] = "none"
    return graph


def first_layer_means(graph: Graph, images: np.ndarray) -> np.ndarray:
    """Per-channel mean of the first conv's output over ``images``."""
    conv = graph.ops_of_kind("core.conv2d")[0].result
    total = []
    run_feeds = [{"input": image[None]} for image in images]
    for feed in run_feeds:
        run(graph, feed, observe=lambda v, a: total.append(a) if v is conv else None)
    return np.mean(np.stack(total), axis=(0, 1, 2, 3))


@pytest.mark.parametrize("per_channel", [True, False])
def test_first_conv_mean_shift_is_cancelled(shared_models_dir, digits, per_channel):
    images = np.repeat(np.repeat(digits["x_calib"][:40], 2, 1), 2, 2)[:, None].astype(np.float32)
    float_graph = linear_cnn(shared_models_dir)
    corrected = float_graph.clone()
    bias_correction(corrected, {"input": images}, per_channel=per_channel)
    plain_q, corrected_q = float_graph.clone(), corrected.clone()
    for graph in (plain_q, corrected_q):
        insert_qdq(graph, "weight-only", per_channel=per_channel)
    want = first_layer_means(float_graph, images)
    plain_error = np.abs(first_layer_means(plain_q, images) - want)
    corrected_error = np.abs(first_layer_means(corrected_q, images) - want)
    assert plain_error.max() > 1e-4
    assert corrected_error.max() < 1e-5 + 1e-3 * plain_error.max()


def test_output_mean_error_shrinks_on_held_out_images(shared_models_dir, digits):
    calib = np.repeat(np.repeat(digits["x_calib"][:100], 2, 1), 2, 2)[:, None].astype(np.float32)
    held_out = np.repeat(np.repeat(digits["x_train"][:100], 2, 1), 2, 2)[:, None].astype(np.float32)
    float_graph = import_onnx(shared_models_dir / "digits_cnn.onnx")
    PassManager(parse_pipeline(PREPARE)).run(float_graph)
    corrected = float_graph.clone()
    bias_correction(corrected, {"input": calib}, per_channel=False)
    plain_q, corrected_q = float_graph.clone(), corrected.clone()
    for graph in (plain_q, corrected_q):
        insert_qdq(graph, "weight-only", per_channel=False)

    def logits(graph: Graph) -> np.ndarray:
        return np.stack([run(graph, {"input": image[None]})["logits"][0] for image in held_out])

    want = logits(float_graph)
    plain = np.abs((logits(plain_q) - want).mean(axis=0)).mean()
    fixed = np.abs((logits(corrected_q) - want).mean(axis=0)).mean()
    print(f"mean logit bias: weight-only per-tensor {plain:.5f}, with bias correction {fixed:.5f}")
    assert fixed < plain


def test_runs_as_a_pass(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, 4)).astype(np.float32)
    samples = tmp_path / "calib.npz"
    np.savez(samples, x=(rng.random((10, 1, 4)) + 1).astype(np.float32))
    graph = fc_graph(weight, None)
    assert PassManager(parse_pipeline(f"bias-correction{{data={samples} per-channel=false}}"),
                       verify_each=True).run(graph)
    assert graph.ops_of_kind("core.fully_connected")[0].operand(2) is not None
    with pytest.raises(QCompilerError, match="needs calibration data"):
        PassManager(parse_pipeline("bias-correction"), verify_each=True).run(fc_graph(weight, None))
    with pytest.raises(QCompilerError, match="no input of that name"):
        bias_correction(fc_graph(weight, None), {"images": np.ones((2, 1, 4), np.float32)})


@pytest.mark.parametrize("kind, weight_shape", [("core.depthwise_conv2d", (1, 3, 3, 4)),
                                                ("core.conv2d", (4, 3, 3, 4))])
def test_conv_shift_is_the_mean_output_change(kind, weight_shape):
    """With padding the mean input differs per position; the shift must still equal the mean change of the
    layer's output when its weights are int8-rounded (measured by running both versions)."""
    rng = np.random.default_rng(5)
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 6, 6, 4), "f32"))
    weight = rng.standard_normal(weight_shape).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    y = graph.create(kind, [x, graph.const(weight, "w"), graph.const(bias, "b")],
                     {"padding": [1, 1, 1, 1], "layout": "NHWC"}, loc="conv", result_names=["y"]).result
    graph.set_outputs([y], ["y"])
    samples = (rng.random((30, 1, 6, 6, 4)) + np.linspace(0, 2, 4)).astype(np.float32)
    rounded = graph.clone()
    axis = 3 if kind == "core.depthwise_conv2d" else 0
    moved = np.moveaxis(weight, axis, 0)
    rounded_weight = np.moveaxis(int8_weights(moved, per_channel=True), 0, axis).astype(np.float32)
    rounded.ops_of_kind(kind)[0].operand(1).producer.attrs["value"] = rounded_weight

    def mean_output(g: Graph) -> np.ndarray:
        return np.mean([run(g, {"x": s})["y"] for s in samples], axis=(0, 1, 2, 3))

    float_mean = mean_output(graph)
    expected = mean_output(rounded) - float_mean
    shifts = bias_correction(graph, {"x": samples})
    assert shifts["conv"] == pytest.approx(expected, rel=1e-3, abs=2e-5)  # float32 runs: ~1e-6 cancellation
    # rounded weights with the corrected bias keep the float mean output
    graph.ops_of_kind(kind)[0].operand(1).producer.attrs["value"] = rounded_weight
    assert np.abs(mean_output(graph) - float_mean).max() < 2e-5 < np.abs(expected).max()


@pytest.mark.parametrize("with_bias", [True, False])
def test_excluded_layers_keep_their_bias_and_restore_undoes_the_correction(with_bias):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((3, 4)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32) if with_bias else None
    samples = {"x": (rng.random((10, 1, 4)) + 1).astype(np.float32)}

    def fc_bias(graph: Graph):
        value = graph.ops_of_kind("core.fully_connected")[0].operand(2)
        return None if value is None else value.const_value

    for exclude in (["fc"], ["y"]):  # by loc or by result name
        untouched = fc_graph(weight, bias)
        assert bias_correction(untouched, samples, exclude=exclude) == {}
        assert np.array_equal(fc_bias(untouched), bias) if with_bias else fc_bias(untouched) is None
    assert bias_correction(fc_graph(weight, bias), samples, exclude_types=["core.fully_connected"]) == {}
    original, corrected = fc_graph(weight, bias), fc_graph(weight, bias)
    shift = bias_correction(corrected, samples)["fc"]
    assert np.abs(shift).max() > 0
    assert restore_biases(corrected, original, ["other"]) == 0
    assert restore_biases(corrected, original, ["fc"]) == 1
    assert np.array_equal(fc_bias(corrected), bias) if with_bias else fc_bias(corrected) is None
    assert restore_biases(corrected, original, ["fc"]) == 0
