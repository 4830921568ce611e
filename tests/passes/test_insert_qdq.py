"""Tests for insert-qdq: TFLite's parameters (int8 activations from ranges, symmetric per-channel weights,
bias scale = input scale * weight scale, fixed softmax outputs, shared data-movement parameters), every mode,
exclusions, errors, and that the QDQ graph computes what the float graph does within quantization error."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler import quant_math
from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Value
from qcompiler.pass_manager import PassManager, parse_pipeline
from qcompiler.passes.insert_qdq import insert_qdq
from qcompiler.quantize import load, prepare
from qcompiler.types import QuantParams
from qcompiler.passes.calibrate import calibrate
from qcompiler.verifier import verify

from quant_support import conv_graph, digits_split, input_with_range, ranged, run_one, sample_input


def quantized_operand(op, index: int) -> Value:
    """The quantized value that operand ``index`` of ``op`` dequantizes (asserting the QDQ shape)."""
    value = op.operand(index)
    assert value.producer is not None and value.producer.kind == "q.dequantize", f"operand {index} of {op.kind}"
    return value.producer.operand(0)


def result_params(graph: Graph, loc: str) -> QuantParams:
    """The parameters of the q.quantize that quantizes the result of the op at ``loc``."""
    op = next(o for o in graph if o.loc == loc and o.kind.startswith("core."))
    (use,) = op.result.uses
    assert use.op.kind == "q.quantize"
    return use.op.result.type.quant


def op_at(graph: Graph, loc: str):
    """The core op whose loc is ``loc``."""
    return next(o for o in graph if o.loc == loc and o.kind.startswith("core."))


def f32(x: float) -> float:
    return float(np.float32(x))


def test_int8_conv_parameters_follow_tflite():
    graph = conv_graph()
    weights = op_at(graph, "conv").operand(1).const_value
    bias = op_at(graph, "conv").operand(2).const_value
    assert insert_qdq(graph, "int8")
    verify(graph)
    conv = op_at(graph, "conv")
    source = quantized_operand(conv, 0).type.quant
    assert source == QuantParams.per_tensor("i8", f32(2.0 / 255.0), -1)  # [-1, 1]: zero point -0.5 rounds away
    weight = quantized_operand(conv, 1)
    wq = weight.type.quant
    assert wq.storage == "i8" and wq.axis == 0 and wq.zero_points == (0,) * 4
    expected = [f32(np.abs(weights[c]).max() / 127.0) for c in range(4)]
    assert list(wq.scales) == expected
    stored = weight.const_value
    assert stored.dtype == np.int8 and stored.min() >= -127 and stored.max() <= 127
    assert np.array_equal(stored, quant_math.quantize(weights, wq))
    bq = quantized_operand(conv, 2)
    assert bq.type.quant.storage == "i32" and bq.type.quant.axis == 0
    assert list(bq.type.quant.scales) == [f32(source.scale * s) for s in wq.scales]
    assert np.array_equal(bq.const_value, np.round(bias / np.float32(bq.type.quant.scales)).astype(np.int32))
    assert result_params(graph, "conv") == quant_math.choose_quant_params(0.0, 3.0, "i8")


def test_data_movement_keeps_its_operand_parameters_and_softmax_is_fixed():
    graph = conv_graph()
    insert_qdq(graph, "int8")
    assert result_params(graph, "flat") == result_params(graph, "conv")
    assert result_params(graph, "softmax") == QuantParams.per_tensor("i8", 1.0 / 256.0, -128)
    graph16 = conv_graph()
    insert_qdq(graph16, "int16x8")
    assert result_params(graph16, "softmax") == QuantParams.per_tensor("i16", 1.0 / 32768.0, 0)


def test_depthwise_weights_are_per_channel_along_axis_3():
    graph = conv_graph(depthwise=True)
    weights = op_at(graph, "conv").operand(1).const_value
    insert_qdq(graph, "int8")
    wq = quantized_operand(op_at(graph, "conv"), 1).type.quant
    assert wq.axis == 3 and list(wq.scales) == [f32(np.abs(weights[..., c]).max() / 127.0) for c in range(3)]


def test_per_tensor_weights_when_per_channel_is_off():
    graph = conv_graph()
    weights = op_at(graph, "conv").operand(1).const_value
    insert_qdq(graph, "int8", per_channel=False)
    conv = op_at(graph, "conv")
    wq = quantized_operand(conv, 1).type.quant
    assert not wq.is_per_axis and wq.scale == f32(np.abs(weights).max() / 127.0)
    assert not quantized_operand(conv, 2).type.quant.is_per_axis


def test_int16x8_activations_symmetric_and_int64_bias():
    graph = conv_graph()
    insert_qdq(graph, "int16x8")
    verify(graph)
    conv = op_at(graph, "conv")
    assert quantized_operand(conv, 0).type.quant == QuantParams.per_tensor("i16", f32(1.0 / 32767.0), 0)
    assert quantized_operand(conv, 1).type.quant.storage == "i8"
    bias = quantized_operand(conv, 2)
    assert bias.type.quant.storage == "i64" and bias.const_value.dtype == np.int64
    assert result_params(graph, "conv") == QuantParams.per_tensor("i16", f32(3.0 / 32767.0), 0)


@pytest.mark.parametrize("mode", ["dynamic", "weight-only"])
def test_weight_modes_quantize_weights_only(mode):
    graph = conv_graph()
    before = run_one(graph, x=sample_input((1, 6, 6, 3)))
    insert_qdq(graph, mode)
    verify(graph)
    kinds = [op.kind for op in graph]
    assert "q.quantize" not in kinds
    for loc in ("conv", "fc"):
        op = op_at(graph, loc)
        weight = quantized_operand(op, 1)
        assert weight.type.quant.storage == "i8" and weight.type.quant.axis == 0
        assert op.operand(2).is_const and op.operand(2).type.element == "f32"  # biases stay float
    after = run_one(graph, x=sample_input((1, 6, 6, 3)))
    np.testing.assert_allclose(after[0], before[0], atol=0.02)


def test_float16_stores_every_constant_as_f16():
    graph = conv_graph()
    before = run_one(graph, x=sample_input((1, 6, 6, 3)))
    insert_qdq(graph, "float16")
    verify(graph)
    for loc in ("conv", "fc"):
        op = op_at(graph, loc)
        for index in (1, 2):
            stored = op.operand(index).producer.operand(0)
            assert op.operand(index).producer.kind == "q.dequantize" and stored.const_value.dtype == np.float16
    assert "q.quantize" not in [op.kind for op in graph]
    after = run_one(graph, x=sample_input((1, 6, 6, 3)))
    np.testing.assert_allclose(after[0], before[0], atol=2e-3)


def test_excluded_layers_stay_float_between_dequantize_and_quantize():
    graph = conv_graph()
    insert_qdq(graph, "int8", exclude=["fc"], exclude_types=["core.softmax"])
    verify(graph)
    fc = op_at(graph, "fc")
    assert fc.operand(1).is_const and fc.operand(1).type.element == "f32"  # float weight kept
    assert fc.operand(0).producer.kind == "q.dequantize"  # it reads the quantized reshape's value
    assert [u.op.kind for u in fc.result.uses] == ["core.softmax"]  # nothing integer reads it: no quantize
    softmax = op_at(graph, "softmax")
    assert [u.op.kind for u in softmax.result.uses] == ["return"]


def test_exclude_by_result_name_and_unknown_names_fail():
    graph = conv_graph()
    insert_qdq(graph, "int8", exclude=["softmax"])
    assert [u.op.kind for u in op_at(graph, "softmax").result.uses] == ["return"]
    with pytest.raises(QCompilerError, match="exclude names no op or tensor: nope"):
        insert_qdq(conv_graph(), "int8", exclude=["nope"])


def test_missing_range_names_the_tensor_and_the_node():
    graph = conv_graph()
    op_at(graph, "fc").attrs.pop("range")
    with pytest.raises(QCompilerError, match="%fc has no calibrated range") as error:
        insert_qdq(graph, "int8")
    assert error.value.location == "fc"


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(QCompilerError, match="unknown mode 'int4'"):
        insert_qdq(conv_graph(), "int4")


def test_concat_inputs_keep_their_own_parameters():
    graph = Graph()
    a = input_with_range(graph, "a", (1, 4), -1.0, 1.0)
    b = input_with_range(graph, "b", (1, 4), 0.0, 8.0)
    cat = ranged(graph, "core.concat", [a, b], -1.0, 8.0, "cat", axis=1)
    graph.set_outputs([cat])
    insert_qdq(graph, "int8")
    op = op_at(graph, "cat")
    assert [quantized_operand(op, i).type.quant for i in (0, 1)] == [
        quant_math.choose_quant_params(-1.0, 1.0), quant_math.choose_quant_params(0.0, 8.0)]
    assert result_params(graph, "cat") == quant_math.choose_quant_params(-1.0, 8.0)


def test_pipeline_string_options():
    graph = conv_graph()
    PassManager(parse_pipeline("insert-qdq{mode=int8 per-channel=false exclude=fc exclude-types=core.softmax}"),
                verify_each=True).run(graph)
    assert not quantized_operand(op_at(graph, "conv"), 1).type.quant.is_per_axis
    assert op_at(graph, "fc").operand(1).type.element == "f32"


def test_qdq_graph_tracks_the_float_graph():
    graph = conv_graph()
    feed = sample_input((1, 6, 6, 3), seed=3)
    expected = run_one(graph, x=feed)[0]
    insert_qdq(graph, "int8")
    got = run_one(graph, x=feed)[0]
    np.testing.assert_allclose(got, expected, atol=2.0 / 256.0 + 0.02)


def test_digits_cnn_qdq_names_and_constant_sharing(shared_models_dir):
    graph = prepare(load(shared_models_dir / "digits_cnn.onnx"))
    x, _ = digits_split(shared_models_dir, "digits_cnn", "calib", 40)
    calibrate(graph, {"input": x})
    float_graph = graph.clone()
    insert_qdq(graph, "int8")
    verify(graph)
    names = [v.name for v in graph.values() if v.name]
    assert len(names) == len(set(names))
    quantized = [op.result.name for op in graph if op.kind == "q.quantize"]
    assert all(name is None or name.endswith(".q") for name in quantized)
    feed = x[:1]
    a, b = run_one(float_graph, input=feed)[0], run_one(graph, input=feed)[0]
    assert np.argmax(a) == np.argmax(b)
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()
