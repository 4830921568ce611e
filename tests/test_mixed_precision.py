"""Tests of mixed precision: named layers kept float or lifted to int16x8 (QDQ and lowered forms agree, the
integer graph has the expected types), and the automatic search against an SQNR / accuracy target."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.mixed_precision import (PrecisionPlan, auto_mixed_precision, calibrated_graph, lift_to_int16,
                                       output_layers, quantize_mixed)
from qcompiler.onnx_import import import_onnx
from qcompiler.quant_report import build_report, sqnr_db
from qcompiler.quantize import prepare, quantize


def cnn_images(digits: dict, key: str, count: int) -> dict[str, np.ndarray]:
    """``count`` images of ``digits[key]`` as digits_cnn's input samples."""
    images = digits[key][:count].astype(np.float32)
    return {"input": np.repeat(np.repeat(images, 2, 1), 2, 2)[:, None]}


@pytest.fixture(scope="module")
def cnn(shared_models_dir):
    """digits_cnn prepared for quantization."""
    return prepare(import_onnx(shared_models_dir / "digits_cnn.onnx"))


@pytest.fixture(scope="module")
def calibrated(cnn, digits):
    """digits_cnn calibrated (MinMax) on 100 x_calib images."""
    return calibrated_graph(cnn, cnn_images(digits, "x_calib", 100))


def outputs(graph, samples: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([run(graph, {"input": x[None]})["logits"] for x in samples["input"]])


def test_empty_plan_is_plain_int8(cnn, calibrated, digits):
    samples = cnn_images(digits, "x_train", 10)
    plain = quantize(cnn, "int8", cnn_images(digits, "x_calib", 100))
    assert np.array_equal(outputs(quantize_mixed(calibrated, PrecisionPlan()), samples), outputs(plain, samples))


def test_int16_layers_lower_to_int16x8_kernels(cnn, calibrated, digits):
    plan = PrecisionPlan(int16_layers=("/c2/Conv", "/c3/Conv"))
    lowered = quantize_mixed(calibrated, plan)
    convs = lowered.ops_of_kind("q.conv2d")
    storage = {op.loc: (op.operand(0).type.element, op.operand(2).type.element, op.result.type.element)
               for op in convs}
    assert storage == {"/c1/Conv": ("i8", "i32", "i8"), "/c2/Conv": ("i16", "i64", "i16"),
                       "/c3/Conv": ("i16", "i64", "i16")}
    # int16 flows through the max pool between the two int16 convs; requantizations only at the edges
    assert lowered.ops_of_kind("q.max_pool2d")[0].result.type.element == "i16"
    requantized = [(op.operand(0).type.element, op.result.type.element) for op in lowered.ops_of_kind("q.requantize")]
    assert sorted(requantized) == [("i16", "i8"), ("i8", "i16")]
    # the integer graph computes what its QDQ form describes
    samples = cnn_images(digits, "x_train", 10)
    qdq = quantize_mixed(calibrated, plan, lower=False)
    assert sqnr_db(outputs(qdq, samples), outputs(lowered, samples)) > 35
    # and the report sees the lifted layers as int16
    rows = {row.layer: row.storage for row in build_report(cnn, lowered, samples).activations}
    assert rows["/c2/Conv"] == "i16" and rows["/c3/Conv"] == "i16" and rows["/c1/Conv"] == "i8"


def test_all_layers_int16_is_close_to_int16x8_mode(cnn, calibrated, digits):
    layers = tuple(op.loc for op in cnn.ops_of_kind("core.conv2d", "core.fully_connected", "core.mean"))
    mixed = quantize_mixed(calibrated, PrecisionPlan(int16_layers=layers))
    whole = quantize(cnn, "int16x8", cnn_images(digits, "x_calib", 100))
    samples = cnn_images(digits, "x_train", 10)
    reference = outputs(cnn, samples)
    mixed_sqnr, whole_sqnr = sqnr_db(reference, outputs(mixed, samples)), sqnr_db(reference, outputs(whole, samples))
    print(f"all layers int16: {mixed_sqnr:.2f} dB; int16x8 mode: {whole_sqnr:.2f} dB")
    assert abs(mixed_sqnr - whole_sqnr) < 1.0


def test_float_layers_stay_float(calibrated):
    lowered = quantize_mixed(calibrated, PrecisionPlan(float_layers=("/c3/Conv",)))
    assert [op.loc for op in lowered.ops_of_kind("core.conv2d")] == ["/c3/Conv"]
    assert {op.loc for op in lowered.ops_of_kind("q.conv2d")} == {"/c1/Conv", "/c2/Conv"}


def test_bad_layer_names(calibrated):
    with pytest.raises(QCompilerError, match="name no op or tensor: /nope"):
        quantize_mixed(calibrated, PrecisionPlan(int16_layers=("/nope",)))
    with pytest.raises(QCompilerError, match="both float and int16: /c3/Conv"):
        quantize_mixed(calibrated, PrecisionPlan(float_layers=("/c3/Conv",), int16_layers=("/c3/Conv",)))
    # the same layer by its result's name: it stays float, so it cannot run in int16
    with pytest.raises(QCompilerError, match="cannot run in int16: /b3/BatchNormalization_output_0"):
        quantize_mixed(calibrated, PrecisionPlan(float_layers=("/c3/Conv",),
                                                 int16_layers=("/b3/BatchNormalization_output_0",)))
    graph = calibrated.clone()
    with pytest.raises(QCompilerError, match="cannot run in int16"):
        lift_to_int16(graph, ["/c1/Conv"])  # not in QDQ form yet


def test_automatic_float_lifting_meets_an_sqnr_target(cnn, digits):
    calib, held_out = cnn_images(digits, "x_calib", 100), cnn_images(digits, "x_train", 40)
    result = auto_mixed_precision(cnn, calib, evaluation=held_out, target_sqnr_db=32.0, lift="float")
    first = build_report(cnn, quantize_mixed(calibrated_graph(cnn, calib), PrecisionPlan()), held_out)
    print("steps:", [(round(s.sqnr_db, 2), s.worst_layer) for s in result.steps])
    assert result.met and result.steps[-1].sqnr_db >= 32.0 > result.steps[0].sqnr_db
    assert result.plan.float_layers[0] == first.worst_layers(1)[0].layer
    assert result.plan.int16_layers == () and len(result.plan.float_layers) == len(result.steps) - 1
    assert sqnr_db(outputs(cnn, held_out), outputs(result.graph, held_out)) == pytest.approx(result.steps[-1].sqnr_db)


def test_automatic_int16_lifting_stops_when_nothing_is_left(shared_models_dir, digits):
    mlp = prepare(import_onnx(shared_models_dir / "digits_mlp.onnx"))
    calib = {"input": digits["x_calib"][:60, None].astype(np.float32)}
    held_out = {"input": digits["x_train"][:30, None].astype(np.float32)}
    result = auto_mixed_precision(mlp, calib, evaluation=held_out, labels=digits["y_train"][:30],
                                  target_sqnr_db=80.0, target_accuracy=1.0, lift="int16")
    # int8 weights stay, so 80 dB is out of reach: every dense layer gets lifted, then the search stops
    assert not result.met
    assert sorted(result.plan.int16_layers) == sorted(op.loc for op in mlp.ops_of_kind("core.fully_connected"))
    assert all(step.accuracy is not None for step in result.steps)
    assert {op.result.type.element for op in result.graph.ops_of_kind("q.fully_connected")} == {"i16"}


def test_automatic_mode_needs_a_target(cnn, digits):
    with pytest.raises(QCompilerError, match="needs a target"):
        auto_mixed_precision(cnn, cnn_images(digits, "x_calib", 2))
    with pytest.raises(QCompilerError, match="needs the labels"):
        auto_mixed_precision(cnn, cnn_images(digits, "x_calib", 2), target_accuracy=0.9)


def test_int16_output_layer_feeds_the_output_directly(shared_models_dir, digits):
    mlp = prepare(import_onnx(shared_models_dir / "digits_mlp.onnx"))
    assert output_layers(mlp) == ["/l3/Gemm"]
    calibrated = calibrated_graph(mlp, {"input": digits["x_calib"][:, None].astype(np.float32)})
    int8, lifted = (quantize_mixed(calibrated, PrecisionPlan(int16_layers=tuple(layers)))
                    for layers in ((), output_layers(mlp)))
    last = lifted.outputs[0].producer
    assert last.kind == "q.dequantize" and last.operand(0).type.element == "i16"
    assert last.operand(0).producer.kind == "q.fully_connected"
    held_out = digits["x_train"][:100, None].astype(np.float32)
    reference = np.stack([run(mlp, {"input": x[None]})["logits"] for x in held_out])

    def sqnr(graph) -> float:
        return sqnr_db(reference, np.stack([run(graph, {"input": x[None]})["logits"] for x in held_out]))

    print(f"digits_mlp int8 {sqnr(int8):.2f} dB, int16 output layer {sqnr(lifted):.2f} dB")
    assert sqnr(lifted) > sqnr(int8) + 2.0
