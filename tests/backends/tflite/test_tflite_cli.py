"""``qcompiler compile`` and ``qcompiler inspect`` end to end: float and quantized .tflite files that LiteRT
runs, the summary line, atomic output, and one-line errors for bad input."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from qcompiler import interpreter
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.layer_weights import layer_weights
from qcompiler.onnx_import import import_onnx
from qcompiler.quantize import prepare

from test_cli import CNN, SAMPLES, assert_one_line_error, run_cli
from tflite_checks import operator_codes, read_model

Op = schema.BuiltinOperator


def test_compile_float_model_runs_like_the_interpreter(tmp_path, capsys):
    out = tmp_path / "cnn.tflite"
    code, stdout, err = run_cli(capsys, "compile", CNN, "--target", "tflite", "-o", out)
    assert (code, err) == (0, "")
    data = out.read_bytes()
    graph = prepare(import_onnx(CNN))
    weights = [w.array for w in layer_weights(graph)]
    zeros = 100 * sum(int(np.count_nonzero(w == 0)) for w in weights) / sum(w.size for w in weights)
    assert stdout == f"{out}: {len(data)} bytes (gzip {len(gzip.compress(data, 9, mtime=0))}), 8 operator(s) " \
                     f"(CONV_2D x3, FULLY_CONNECTED, MAX_POOL_2D, MEAN, PAD, RESHAPE), weights {zeros:.1f}% zeros\n"
    with np.load(SAMPLES) as samples:
        feed = {"input": samples["input"][:1]}
    np.testing.assert_allclose(run_tflite(data, feed)["logits"], interpreter.run(graph, feed)["logits"],
                               rtol=1e-5, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["cnn.tflite"], "no temporary file may remain"


def test_compile_int8_with_int8_io(tmp_path, capsys):
    out = tmp_path / "cnn_int8.tflite"
    code, stdout, err = run_cli(capsys, "compile", CNN, "--quantize", "int8", "--calibration", SAMPLES,
                                "--io-type", "int8", "-o", out)
    assert (code, err) == (0, ""), err
    data = out.read_bytes()
    assert Op.QUANTIZE not in operator_codes(data) and Op.DEQUANTIZE not in operator_codes(data)
    subgraph = read_model(data).subgraphs[0]
    assert subgraph.tensors[subgraph.inputs[0]].type == schema.TensorType.INT8
    assert subgraph.tensors[subgraph.outputs[0]].type == schema.TensorType.INT8


@pytest.mark.parametrize("mode, weight_type", [("float16", schema.TensorType.FLOAT16),
                                               ("dynamic", schema.TensorType.INT8),
                                               ("weight-only", schema.TensorType.INT8)])
def test_compile_weight_modes(tmp_path, capsys, mode, weight_type):
    out = tmp_path / f"{mode}.tflite"
    code, _, err = run_cli(capsys, "compile", CNN, "--quantize", mode, "-o", out)
    assert (code, err) == (0, ""), err
    data = out.read_bytes()
    model = read_model(data)
    convs = [op for op in model.subgraphs[0].operators
             if model.operatorCodes[op.opcodeIndex].builtinCode == Op.CONV_2D]
    weight_readers = {"dynamic": "CONV_2D"}.get(mode, "DEQUANTIZE")
    tensors = model.subgraphs[0].tensors
    if weight_readers == "CONV_2D":
        assert all(tensors[op.inputs[1]].type == weight_type for op in convs)
    else:
        assert Op.DEQUANTIZE in operator_codes(data)
        assert any(t.type == weight_type and t.buffer for t in tensors)
    with np.load(SAMPLES) as samples:
        assert run_tflite(data, {"input": samples["input"][:1]})["logits"].shape == (1, 10)


def test_compile_a_quantized_qir_with_int8_io(tmp_path, capsys):
    qir, out = tmp_path / "cnn_int8.qir", tmp_path / "cnn_int8.tflite"
    assert run_cli(capsys, "quantize", CNN, "--mode", "int8", "--calibration", SAMPLES, "-o", qir)[0] == 0
    code, _, err = run_cli(capsys, "compile", qir, "--io-type", "int8", "-o", out)
    assert (code, err) == (0, ""), err
    direct = tmp_path / "direct.tflite"
    assert run_cli(capsys, "compile", CNN, "--quantize", "int8", "--calibration", SAMPLES, "--io-type", "int8",
                   "-o", direct)[0] == 0
    via_qir, direct_data = out.read_bytes(), direct.read_bytes()  # tensor names differ: the .qir renames values
    assert operator_codes(via_qir) == operator_codes(direct_data)
    with np.load(SAMPLES) as samples:
        images = np.clip(np.round(samples["input"][:3] / (1 / 255)) - 128, -128, 127).astype(np.int8)
    for image in images:
        feed = {"input": image[None]}
        np.testing.assert_array_equal(run_tflite(via_qir, feed)["logits"], run_tflite(direct_data, feed)["logits"])


def test_inspect_prints_operators_tensors_and_quantization(tmp_path, capsys):
    out = tmp_path / "cnn.tflite"
    assert run_cli(capsys, "compile", CNN, "--quantize", "int8", "--calibration", SAMPLES, "-o", out)[0] == 0
    code, stdout, err = run_cli(capsys, "inspect", out)
    assert (code, err) == (0, "")
    assert "metadata min_runtime_version: 1.14.0" in stdout  # CONV_2D v3 (int8), QUANTIZE v1
    assert "CONV_2D v3" in stdout and " QUANTIZE v1" in stdout and "DEQUANTIZE v2" in stdout
    assert "input: 1x1x16x16 FLOAT32" in stdout
    assert re.search(r"INT8 buffer \d+ \(\d+ bytes\) per-axis dim=0 scales=\[", stdout)
    assert re.search(r"INT32 buffer \d+ \(32 bytes\) per-axis dim=0", stdout)
    assert re.fullmatch(r"compression: \d+ bytes \(gzip \d+\), weights \d+\.\d% zeros \(\d+ of 6152\)",
                        stdout.splitlines()[-1])


@pytest.mark.parametrize("argv, fragments", [
    (["compile", CNN, "--quantize", "int8", "-o", "{tmp}/x.tflite"], ["--quantize int8 needs --calibration"]),
    (["compile", CNN, "--calibration", SAMPLES, "-o", "{tmp}/x.tflite"], ["--calibration applies to"]),
    (["compile", CNN, "--io-type", "int8", "--quantize", "float16", "-o", "{tmp}/x.tflite"],
     ["--io-type int8 needs an int8 model, not --quantize float16"]),
    (["compile", CNN, "--io-type", "int8", "-o", "{tmp}/x.tflite"], ["io_type int8 needs graph input 'input'",
                                                                      "is the model quantized?"]),
    (["compile", "{tmp}/missing.onnx", "-o", "{tmp}/x.tflite"], ["missing.onnx: no such file"]),
    (["compile", CNN, "-o", CNN], ["refusing to overwrite the input"]),
    (["compile", CNN, "-o", "{tmp}/no/such/dir/x.tflite"], ["the folder", "does not exist"]),
    (["inspect", "{tmp}/missing.tflite"], ["missing.tflite: no such file"]),
    (["inspect", CNN], ["digits_cnn.onnx: not a .tflite model"]),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, fragments):
    code, _, err = run_cli(capsys, *[str(a).replace("{tmp}", str(tmp_path)) for a in argv])
    assert code in (1, 2)
    assert_one_line_error(err, *fragments)


def test_an_op_the_backend_cannot_lower_is_named(tmp_path, capsys):
    from onnx import TensorProto, helper

    from test_cli import save_model

    model = save_model(tmp_path / "erf.onnx", [helper.make_node("Erf", ["x"], ["y"], name="my_erf")],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    code, _, err = run_cli(capsys, "compile", model, "-o", tmp_path / "erf.tflite")
    assert code == 1
    assert_one_line_error(err, "cannot lower 1 op(s)", "at 'my_erf'")
    assert not (tmp_path / "erf.tflite").exists()





def multichannel_cnn(path) -> None:
    """A 3-channel NCHW CNN with a 4-D output (conv, relu, conv), saved as ONNX at ``path``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)
               for name, shape in (("w1", (4, 3, 3, 3)), ("w2", (5, 4, 1, 1)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["h"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 8, 8])], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_input_layout_nhwc_leaves_no_transpose(tmp_path, capsys):
    model = tmp_path / "cnn3.onnx"
    multichannel_cnn(model)
    files = {}
    for layout in ("nchw", "nhwc"):
        files[layout] = tmp_path / f"{layout}.tflite"
        code, _, err = run_cli(capsys, "compile", model, "--input-layout", layout, "-o", files[layout])
        assert (code, err) == (0, ""), err
    nchw, nhwc = files["nchw"].read_bytes(), files["nhwc"].read_bytes()
    assert operator_codes(nchw) == [Op.TRANSPOSE, Op.CONV_2D, Op.CONV_2D, Op.TRANSPOSE]
    assert operator_codes(nhwc) == [Op.CONV_2D, Op.CONV_2D]
    subgraph = read_model(nhwc).subgraphs[0]
    assert list(subgraph.tensors[subgraph.inputs[0]].shape) == [1, 8, 8, 3]
    x = np.random.default_rng(1).random((1, 3, 8, 8), dtype=np.float32)
    expected = run_tflite(nchw, {"x": x})["y"]
    got = run_tflite(nhwc, {"x": x.transpose(0, 2, 3, 1)})["y"]
    np.testing.assert_allclose(got, expected.transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("extra", [(), ("--quantize", "int8", "--calibration", SAMPLES),
                                   ("--quantize", "int16x8", "--calibration", SAMPLES), ("--quantize", "dynamic")])
def test_compiling_twice_gives_identical_bytes(tmp_path, capsys, extra):
    outputs = [tmp_path / "first.tflite", tmp_path / "second.tflite"]
    for out in outputs:
        code, _, err = run_cli(capsys, "compile", CNN, *extra, "-o", out)
        assert (code, err) == (0, ""), err
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
