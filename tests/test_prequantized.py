"""Pre-quantized ONNX models (QuantizeLinear/DequantizeLinear from onnxruntime's quantize_static, as a QAT
export has them) import and lower with their own parameters, and compute what onnxruntime computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcompiler.errors import QCompilerError
from qcompiler.passes.import_qdq import recorded_params
from qcompiler.quantize import load, quantize
from qcompiler.samples import run_samples
from qcompiler.text import parse_graph, print_graph
from qcompiler.types import QuantParams

from quant_support import digits_split

ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")


class _Reader(quantization.CalibrationDataReader):
    """Feeds onnxruntime's calibrator one image at a time."""

    def __init__(self, images: np.ndarray) -> None:
        self.feeds = iter([{"input": images[i:i + 1]} for i in range(len(images))])

    def get_next(self):
        return next(self.feeds, None)


def ort_quantized(models_dir: Path, model: str, activations: str, folder: Path) -> Path:
    """``model`` quantized by onnxruntime (QDQ, per-channel int8 weights, ``activations`` QInt8/QUInt8)."""
    calib, _ = digits_split(models_dir, model, "calib", 50)
    path = folder / f"{model}_{activations}.onnx"
    quantization.quantize_static(
        str(models_dir / f"{model}.onnx"), str(path), _Reader(calib), quant_format=quantization.QuantFormat.QDQ,
        activation_type=getattr(quantization.QuantType, activations), weight_type=quantization.QuantType.QInt8,
        per_channel=True)
    return path


def initializers(path: Path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def signed(scale: np.ndarray, zero_point: np.ndarray) -> QuantParams:
    """onnxruntime's per-tensor parameters as int8 ones (uint8 zero points moved by -128)."""
    shift = 128 if zero_point.dtype == np.uint8 else 0
    return QuantParams.per_tensor("i8", float(np.float32(scale)), int(zero_point) - shift)


@pytest.mark.parametrize("activations", ["QInt8", "QUInt8"])
def test_mlp_keeps_onnxruntime_parameters(shared_models_dir, tmp_path, activations):
    path = ort_quantized(shared_models_dir, "digits_mlp", activations, tmp_path)
    stated = initializers(path)
    graph = quantize(path)  # no calibration data: every tensor's parameters come from the model
    layers = graph.ops_of_kind("q.fully_connected")
    assert len(layers) == 3
    for index, layer in enumerate(layers, start=1):
        weight = layer.operand(1)
        assert list(weight.type.quant.scales) == [float(s) for s in stated[f"l{index}.weight_scale"]]
        assert np.array_equal(weight.const_value, stated[f"l{index}.weight_quantized"])
        assert np.array_equal(layer.operand(2).const_value, stated[f"l{index}.bias_quantized"])
    outputs = ["/Relu_output_0", "/Relu_1_output_0", "logits"]
    for layer, name in zip(layers, outputs):
        assert layer.result.type.quant == signed(stated[f"{name}_scale"], stated[f"{name}_zero_point"])


def ort_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    """onnxruntime's outputs for ``x`` with graph optimizations off: the QDQ model's ONNX semantics (float ops
    between dequantize and quantize), not onnxruntime's fused integer kernels."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])


def test_mlp_outputs_match_onnxruntime_to_the_step(shared_models_dir, tmp_path):
    path = ort_quantized(shared_models_dir, "digits_mlp", "QInt8", tmp_path)
    graph = quantize(path)
    x, _ = digits_split(shared_models_dir, "digits_mlp", "test", 100)
    ours = next(iter(run_samples(graph, {"input": x}).values())).reshape(100, -1)
    steps = np.abs(ours - ort_outputs(path, x)) / graph.ops_of_kind("q.fully_connected")[-1].result.type.quant.scale
    # integer requantization vs float rounding: the same value, or one output step apart on rare ties
    assert steps.max() <= 1.0 + 1e-4 and np.mean(steps < 1e-3) >= 0.98


def test_cnn_keeps_activation_parameters_around_folded_batch_norms(shared_models_dir, tmp_path):
    path = ort_quantized(shared_models_dir, "digits_cnn", "QInt8", tmp_path)
    stated = {name[:-len("_scale")]: array for name, array in initializers(path).items() if name.endswith("_scale")}
    activations = {signed(scale, initializers(path)[f"{name}_zero_point"])
                   for name, scale in stated.items() if scale.ndim == 0}
    graph = quantize(path)
    computing = [op for op in graph if op.kind in ("q.conv2d", "q.max_pool2d", "q.mean", "q.fully_connected")]
    assert len(computing) == 6
    assert all(op.result.type.quant in activations for op in computing)
    # onnxruntime quantized the weights before the batch norms that cleanup folds into them: re-quantized
    assert all(op.operand(1).type.quant.axis == 0 for op in computing if op.kind == "q.conv2d")
    x, _ = digits_split(shared_models_dir, "digits_cnn", "test", 100)
    ours = next(iter(run_samples(graph, {"input": x}).values())).reshape(100, -1)
    assert np.mean(ours.argmax(1) == ort_outputs(path, x).argmax(1)) >= 0.95


def test_recorded_parameters_survive_the_text_round_trip(shared_models_dir, tmp_path):
    path = ort_quantized(shared_models_dir, "digits_mlp", "QUInt8", tmp_path)
    graph = load(path)
    from qcompiler.passes.import_qdq import import_qdq

    assert import_qdq(graph)
    assert not [op for op in graph if op.kind.endswith("QuantizeLinear") or op.kind.endswith("DequantizeLinear")]
    table = recorded_params(graph)
    assert table["/Flatten_output_0"].storage == "i8" and table["l1.weight_quantized"].axis == 0
    assert recorded_params(parse_graph(print_graph(graph))) == table


def dequantize_of_input_model(path: Path) -> Path:
    """input (int8) -> DequantizeLinear -> Relu: an integer graph input, which import-qdq does not take."""
    nodes = [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], name="dq"),
             helper.make_node("Relu", ["d"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("q", TensorProto.INT8, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(np.array(0.5, np.float32), "s"),
                               numpy_helper.from_array(np.array(0, np.int8), "z")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_unsupported_qdq_shapes_fail_with_the_node_name(tmp_path):
    with pytest.raises(QCompilerError, match="DequantizeLinear: only QuantizeLinear -> DequantizeLinear") as error:
        quantize(dequantize_of_input_model(tmp_path / "dq_input.onnx"))
    assert error.value.location == "dq"
