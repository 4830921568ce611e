"""Tests for lower-quantized: QDQ patterns become q integer ops with their derived attributes, data movement
runs on quantized values, quantize/dequantize pairs cancel or requantize, the interface stays float, the
integer graph agrees with the fake-quantized one, and its text round trip is exact."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.ir import Graph
from qcompiler.passes.insert_qdq import insert_qdq
from qcompiler.passes.lower_quantized import lower_quantized
from qcompiler.quantize import quantize
from qcompiler.text import parse_graph, print_graph
from qcompiler.types import QuantParams, TensorType
from qcompiler.verifier import verify

from quant_support import DIGITS_MODELS, conv_graph, digits_split, input_with_range, ranged, run_one, sample_input

FEED = {"x": sample_input((1, 6, 6, 3), seed=5)}


def kinds(graph: Graph) -> list[str]:
    return [op.kind for op in graph if op.kind != "const"]


def lowered(graph: Graph, mode: str = "int8", **options) -> Graph:
    insert_qdq(graph, mode, **options)
    qdq = graph.clone()
    assert lower_quantized(graph)
    verify(graph)
    return qdq


def test_conv_graph_becomes_integer_ops_with_derived_attributes():
    graph = conv_graph()
    lowered(graph)
    assert kinds(graph) == ["q.quantize", "q.conv2d", "core.reshape", "q.fully_connected", "q.softmax",
                            "q.dequantize"]
    conv = graph.ops_of_kind("q.conv2d")[0]
    assert conv.definition.derive_attrs(conv) == {k: conv.attrs[k] for k in conv.definition.derive_attrs(conv)}
    assert conv.attrs["act_min"] == conv.result.type.quant.zero_point  # the fused relu clamps at real 0
    assert "range" not in conv.attrs and conv.loc == "conv" and conv.attrs["activation"] == "relu"
    reshape = graph.ops_of_kind("core.reshape")[0]
    assert reshape.operand(0).type.quant == reshape.result.type.quant == conv.result.type.quant
    assert graph.inputs[0].type.element == "f32" and graph.outputs[0].type.element == "f32"


def test_integer_graph_agrees_with_fake_quantization():
    graph = conv_graph()
    qdq = lowered(graph)
    exact, fake = run_one(graph, **FEED)[0], run_one(qdq, **FEED)[0]
    # softmax output steps are 1/256: the integer kernels may differ from float math by a step or two
    np.testing.assert_allclose(exact, fake, atol=2.5 / 256.0)


def test_int16x8_lowers_with_int16_activations():
    graph = conv_graph()
    qdq = lowered(graph, "int16x8")
    conv = graph.ops_of_kind("q.conv2d")[0]
    assert conv.operand(0).type.element == "i16" and conv.operand(2).type.element == "i64"
    np.testing.assert_allclose(run_one(graph, **FEED)[0], run_one(qdq, **FEED)[0], atol=2e-3)


def test_text_round_trip_is_exact():
    graph = conv_graph()
    lowered(graph)
    text = print_graph(graph)
    again = parse_graph(text)
    verify(again)
    assert print_graph(again) == text
    assert np.array_equal(run_one(again, **FEED)[0], run_one(graph, **FEED)[0])


def test_excluded_layer_keeps_float_edges():
    graph = conv_graph()
    lowered(graph, exclude=["fc"])
    assert kinds(graph) == ["q.quantize", "q.conv2d", "core.reshape", "q.dequantize", "core.fully_connected",
                            "q.quantize", "q.softmax", "q.dequantize"]


def quantize_pair_graph(second: QuantParams) -> Graph:
    """x -> quantize(i8 0.1:0) -> dequantize -> quantize(second) -> dequantize -> output."""
    graph = Graph()
    x = graph.add_input("x", TensorType((4,), "f32"))
    first = QuantParams.per_tensor("i8", 0.1, 0)
    q1 = graph.create("q.quantize", [x], {}, [TensorType((4,), "i8", first)]).result
    d1 = graph.create("q.dequantize", [q1], {}, [TensorType((4,), "f32")]).result
    q2 = graph.create("q.quantize", [d1], {}, [TensorType((4,), second.storage, second)]).result
    d2 = graph.create("q.dequantize", [q2], {}, [TensorType((4,), "f32")]).result
    graph.set_outputs([d2], ["y"])
    return graph


def test_quantize_of_dequantize_cancels_or_requantizes():
    same = quantize_pair_graph(QuantParams.per_tensor("i8", 0.1, 0))
    assert lower_quantized(same)
    assert kinds(same) == ["q.quantize", "q.dequantize"]
    other = quantize_pair_graph(QuantParams.per_tensor("i8", 0.25, 3))
    feed = np.array([-1.0, 0.33, 2.0, 12.7], dtype=np.float32)
    expected = run_one(other, x=feed)[0]
    assert lower_quantized(other)
    verify(other)
    assert kinds(other) == ["q.quantize", "q.requantize", "q.dequantize"]
    np.testing.assert_allclose(run_one(other, x=feed)[0], expected, atol=0.25)


def test_concat_of_differing_parameters_is_q_concat_and_of_equal_ones_core_concat():
    graph = Graph()
    a = input_with_range(graph, "a", (1, 4), -1.0, 1.0)
    b = input_with_range(graph, "b", (1, 4), 0.0, 8.0)
    cat = ranged(graph, "core.concat", [a, b], -1.0, 8.0, "cat", axis=1)
    same = ranged(graph, "core.concat", [b, b], 0.0, 8.0, "same", axis=1)
    graph.set_outputs([cat, same], ["cat", "same"])
    feeds = {"a": np.linspace(-1, 1, 4, dtype=np.float32)[None], "b": np.linspace(0, 8, 4, dtype=np.float32)[None]}
    insert_qdq(graph, "int8")
    fake = run_one(graph, **feeds)
    lower_quantized(graph)
    verify(graph)
    assert sorted(k for k in kinds(graph) if "concat" in k) == ["core.concat", "q.concat"]
    for got, want in zip(run_one(graph, **feeds), fake):
        np.testing.assert_allclose(got, want, atol=9.0 / 255.0 + 1e-6)


def test_pad_fills_with_the_zero_point():
    graph = Graph()
    x = input_with_range(graph, "x", (1, 2), 1.0, 3.0)
    padded = ranged(graph, "core.pad", [x], 1.0, 3.0, "pad", pads=[0, 1, 0, 1])
    graph.set_outputs([padded], ["y"])
    insert_qdq(graph, "int8")
    lower_quantized(graph)
    verify(graph)
    pad = graph.ops_of_kind("core.pad")[0]
    assert pad.attrs["value"] == float(pad.result.type.quant.zero_point)
    out = run_one(graph, x=np.array([[1.0, 3.0]], dtype=np.float32))[0]
    np.testing.assert_allclose(out, [[0.0, 1.0, 3.0, 0.0]], atol=3.0 / 255.0)


def test_dynamic_mode_keeps_weight_dequantize_for_hybrid_kernels():
    graph = conv_graph()
    insert_qdq(graph, "dynamic")
    assert not lower_quantized(graph)
    assert "q.dequantize" in kinds(graph) and "q.conv2d" not in kinds(graph)


@pytest.mark.parametrize("model", DIGITS_MODELS)
def test_digits_models_lower_to_integer_kernels(shared_models_dir, model):
    x, _ = digits_split(shared_models_dir, model, "calib", 20)
    graph = quantize(shared_models_dir / f"{model}.onnx", "int8", {"input": x})
    float_ops = {k for k in kinds(graph) if k.startswith("core.")}
    movement = {"core.reshape", "core.transpose", "core.gather"}
    assert float_ops <= movement  # layer norms are decomposed into ops with integer kernels
    for op in graph:
        if op.kind.startswith("core.") and op.kind in movement:
            assert op.operand(0).type.quant is not None
    text = print_graph(graph)
    assert print_graph(parse_graph(text)) == text


@pytest.mark.parametrize("model, mode", [
    (model, mode) for model in DIGITS_MODELS for mode in ("int8", "int16x8")
    # int16x8 keeps the transformer's layer norms and GELUs float (no int16 kernels): float rounding differs
    if (model, mode) != ("digits_transformer", "int16x8")])
def test_lowered_models_match_litert_reference_kernels(shared_models_dir, model, mode):
    """The oracle for exact integer semantics: the .tflite of the lowered graph, run by LiteRT's reference
    kernels, gives exactly our interpreter's outputs (float interface: the dequantized integer outputs)."""
    pytest.importorskip("ai_edge_litert")
    from qcompiler.backends.tflite import export_tflite
    from qcompiler.backends.tflite.runtime import run_tflite

    calib, _ = digits_split(shared_models_dir, model, "calib")
    graph = quantize(shared_models_dir / f"{model}.onnx", mode, {"input": calib})
    data = export_tflite(graph)
    x, _ = digits_split(shared_models_dir, model, "test", 10)
    for image in x:
        ours = run_one(graph, input=image[None])[0]
        theirs = next(iter(run_tflite(data, {"input": image[None]}).values()))
        assert np.array_equal(ours.reshape(theirs.shape), theirs)


def test_qdq_form_saved_as_text_lowers_like_the_direct_pipeline(shared_models_dir, tmp_path):
    from qcompiler.text import save_graph

    calib, _ = digits_split(shared_models_dir, "digits_mobilenet", "calib", 30)
    model = shared_models_dir / "digits_mobilenet.onnx"
    save_graph(quantize(model, "int8", {"input": calib}, lower=False), tmp_path / "qdq.qir")
    from_text = quantize(tmp_path / "qdq.qir")  # already QDQ: only lowered, no calibration needed
    direct = quantize(model, "int8", {"input": calib})
    assert kinds(from_text) == kinds(direct)
    x, _ = digits_split(shared_models_dir, "digits_mobilenet", "test", 3)
    for image in x:
        assert np.array_equal(run_one(from_text, input=image[None])[0], run_one(direct, input=image[None])[0])
