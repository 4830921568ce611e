"""Data-aware int8 weight rounding (the ``round-weights`` pass, ``quantize(round_weights=True)``): weights land
on the grid the quantizer picks, the layer error beats rounding to nearest, zeros stay zero, the int8 model
carries the rounded weights exactly, and 50% pruning of every layer plus int8 keeps the digits accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler import weight_rounding
from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.layer_weights import layer_weights, replace_const_operand
from qcompiler.pass_manager import PassManager, get_pass, parse_pipeline
from qcompiler.passes.bias_correction import weight_error
from qcompiler.quant_math import dequantize
from qcompiler.quantize import quantize
from qcompiler.types import TensorType
from qcompiler.verifier import verify

from compression_support import SHARED, conv_chain, outputs, prepared_model
from quant_support import digits_split, top1

QUANTIZED_LAYERS = ("q.conv2d", "q.depthwise_conv2d", "q.fully_connected")


def dense_layer(rng: np.random.Generator, rows: int = 6, size: int = 24) -> tuple[Graph, np.ndarray, np.ndarray]:
    """x [1, size] -> fully_connected (rows outputs); returns the graph, its weight and bias."""
    graph = Graph()
    x = graph.add_input("x", TensorType((1, size), "f32"))
    weight = (rng.standard_normal((rows, size)) * 0.3).astype(np.float32)
    bias = rng.standard_normal(rows).astype(np.float32)
    y = graph.create("core.fully_connected", [x, graph.const(weight, "w"), graph.const(bias, "b")], {},
                     loc="/fc").result
    graph.set_outputs([y], ["y"])
    return graph, weight, bias


def correlated_samples(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """Inputs whose features are strongly correlated, where choosing rounding directions jointly pays most."""
    return (rng.standard_normal((count, size)) @ rng.standard_normal((size, size))).astype(np.float32)


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("one_at_a_time", [True, False], ids=["one-at-a-time", "gptq-columns"])
def test_weights_land_on_the_quantizers_grid_and_beat_nearest_rounding(per_channel: bool, one_at_a_time: bool,
                                                                      monkeypatch) -> None:
    """Both algorithms (the one-weight-at-a-time one for small layers, GPTQ's column order for large ones)."""
    if not one_at_a_time:
        monkeypatch.setattr(weight_rounding, "EXACT_BUDGET", 0)
    rng = np.random.default_rng(3)
    graph, weight, bias = dense_layer(rng)
    samples = correlated_samples(rng, 400, weight.shape[1])
    get_pass("round-weights")(calibration={"x": samples}, per_channel=per_channel).run(graph)
    verify(graph)
    fc = graph.ops_of_kind("core.fully_connected")[0]
    rounded = fc.operand(1).const_value
    bounds = np.abs(weight).max(axis=1, keepdims=True) if per_channel else np.abs(weight).max()
    scale = np.abs(rounded).max(axis=1, keepdims=True) / 127 if per_channel else np.abs(rounded).max() / 127
    steps = rounded / scale
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-4)
    assert np.abs(np.round(steps)).max() == 127
    np.testing.assert_allclose(scale * 127, bounds, rtol=0.05)  # the grid stays the layer's own
    target = samples.astype(np.float64) @ weight.T + bias
    error = np.square(outputs(graph, samples[:, None]).reshape(target.shape) - target).mean()
    nearest = weight + weight_error(weight, 0 if per_channel else None)
    nearest_error = np.square(samples @ nearest.T + bias - target).mean()
    assert error < 0.8 * nearest_error


@pytest.mark.parametrize("one_at_a_time", [True, False], ids=["one-at-a-time", "gptq-columns"])
def test_the_int8_model_keeps_the_rounded_weights_exactly_and_zeros_stay_zero(one_at_a_time: bool,
                                                                             monkeypatch) -> None:
    if not one_at_a_time:
        monkeypatch.setattr(weight_rounding, "EXACT_BUDGET", 0)
    rng = np.random.default_rng(5)
    graph = conv_chain(rng)
    samples = rng.standard_normal((30, 1, 6, 6, 3)).astype(np.float32)
    get_pass("prune")(sparsity=0.5, calibration={"x": samples}).run(graph)
    masks = [w.array == 0 for w in layer_weights(graph)]
    get_pass("round-weights")(calibration={"x": samples}).run(graph)
    for mask, weight in zip(masks, layer_weights(graph)):
        assert np.all(weight.array[mask] == 0)
    rounded = [w.array for w in layer_weights(graph)]
    quantized = quantize(graph, "int8", {"x": samples})
    layers = [op for op in quantized if op.kind in QUANTIZED_LAYERS]
    assert len(layers) == len(rounded)
    for op, float_weight in zip(layers, rounded):
        stored = op.operand(1)
        restored = dequantize(stored.const_value, stored.type.quant)
        np.testing.assert_allclose(restored, float_weight, rtol=1e-6, atol=1e-9)


def test_rounding_preserves_the_models_meaning() -> None:
    """The float model before and after the pass gives nearly the same logits and the same classes."""
    graph = prepared_model("digits_cnn")
    calib, _ = digits_split(SHARED, "digits_cnn", "calib", 100)
    images, _ = digits_split(SHARED, "digits_cnn", "test", 200)
    before = outputs(graph, images)
    rounded = graph.clone()
    get_pass("round-weights")(calibration={"input": calib}).run(rounded)
    verify(rounded)
    after = outputs(rounded, images)
    nearest = graph.clone()
    for weight in layer_weights(nearest):
        replace_const_operand(weight.op, weight.index, weight.array + weight_error(weight.array, weight.out_axis))
    assert np.mean(after.argmax(-1) == before.argmax(-1)) >= 0.98
    assert np.abs(after - before).mean() < np.abs(outputs(nearest, images) - before).mean()


def test_quantize_option_and_the_pass_agree_and_bad_requests_fail_in_one_line(tmp_path) -> None:
    rng = np.random.default_rng(11)
    graph, _, _ = dense_layer(rng)
    samples = correlated_samples(rng, 50, 24)
    np.savez(tmp_path / "calib.npz", x=samples)
    by_option = quantize(graph, "int8", {"x": samples}, round_weights=True)
    by_pass = graph.clone()
    PassManager(parse_pipeline(f"round-weights{{data={tmp_path / 'calib.npz'}}}"), verify_each=True).run(by_pass)
    by_pass = quantize(by_pass, "int8", {"x": samples})
    for a, b in zip((op for op in by_option if op.kind in QUANTIZED_LAYERS),
                    (op for op in by_pass if op.kind in QUANTIZED_LAYERS)):
        np.testing.assert_array_equal(a.operand(1).const_value, b.operand(1).const_value)
    untouched = graph.clone()
    get_pass("round-weights")(calibration={"x": samples}, exclude_types=["core.fully_connected"]).run(untouched)
    np.testing.assert_array_equal(untouched.ops_of_kind("core.fully_connected")[0].operand(1).const_value,
                                  graph.ops_of_kind("core.fully_connected")[0].operand(1).const_value)
    with pytest.raises(QCompilerError, match="weight rounding needs mode int8 or int16x8"):
        quantize(graph, "dynamic", round_weights=True)
    with pytest.raises(QCompilerError, match="needs calibration data"):
        PassManager(parse_pipeline("round-weights")).run(graph.clone())


@pytest.mark.slow
@pytest.mark.parametrize("model", ["digits_cnn", "digits_mobilenet"])
def test_half_of_every_layer_pruned_then_int8_loses_at_most_a_point(model: str) -> None:
    """Issue 7: 50% unstructured pruning of every layer (re-fitted on x_calib) and int8 with data-aware
    rounding lose at most one point of top-1 on the whole x_test against the plain int8 model."""
    graph = prepared_model(model)
    calib, _ = digits_split(SHARED, model, "calib")
    images, labels = digits_split(SHARED, model, "test")
    baseline = top1(quantize(graph, "int8", {"input": calib}), images, labels)
    get_pass("prune")(sparsity=0.5, calibration={"input": calib}).run(graph)
    weights = list(layer_weights(graph))
    assert sum(np.count_nonzero(w.array == 0) for w in weights) >= 0.5 * sum(w.array.size for w in weights) - 2
    quantized = quantize(graph, "int8", {"input": calib}, round_weights=True)
    assert top1(quantized, images, labels) >= baseline - 0.01
