"""The compression figures of a .tflite (gzip size and weight sparsity) that ``qcompiler compile`` and
``qcompiler inspect`` report: digits_cnn pruned to 50% with ``qcompiler opt`` against the unpruned model, checked
against ``gzip.compress`` and a numpy count of zeros over the weight buffers read with the schema module."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from qcompiler.backends.tflite import export_tflite
from qcompiler.backends.tflite.inspect import compression_figures
from qcompiler.cli.compile_command import summary_line
from qcompiler.layer_weights import layer_weights
from qcompiler.text import load_graph

from compression_support import SHARED
from quant_support import digits_split
from test_cli import run_cli
from tflite_checks import build_graph, read_model

Op = schema.BuiltinOperator
WEIGHT_OPS = (Op.CONV_2D, Op.DEPTHWISE_CONV_2D, Op.FULLY_CONNECTED)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """digits_cnn (``dense``) and digits_cnn pruned by ``qcompiler opt -p prune{sparsity=0.5}`` (``pruned``,
    a .qir), with 50 calibration images (``calib``) in an .npz."""
    from qcompiler.cli import main

    cnn = SHARED / "digits_cnn.onnx"
    if not (cnn.is_file() and (SHARED / "digits.npz").is_file()):
        pytest.skip(f"shared model or data missing in {SHARED}")
    folder = tmp_path_factory.mktemp("compression")
    calib = folder / "calib.npz"
    np.savez(calib, input=digits_split(SHARED, "digits_cnn", "calib", 50)[0])
    assert main(["opt", str(cnn), "-p", "prune{sparsity=0.5}", "-o", str(folder / "pruned.qir")]) == 0
    return {"dense": cnn, "pruned": folder / "pruned.qir", "calib": calib}


def compile_tflite(capsys, models: dict[str, Path], name: str, tmp_path: Path, *extra: str) -> tuple[bytes, str]:
    """Compile ``models[name]`` with ``extra`` flags; return the .tflite bytes and the summary line."""
    out = tmp_path / f"{name}.tflite"
    code, stdout, err = run_cli(capsys, "compile", models[name], *extra, "-o", out)
    assert (code, err) == (0, ""), err
    return out.read_bytes(), stdout


def int8_weights_by_schema(data: bytes) -> list[np.ndarray]:
    """Oracle: the int8 constant weight (input 1) of every conv / depthwise / fully-connected operator."""
    model = read_model(data)
    subgraph = model.subgraphs[0]
    weights = []
    for op in subgraph.operators:
        if model.operatorCodes[op.opcodeIndex].builtinCode in WEIGHT_OPS:
            tensor = subgraph.tensors[op.inputs[1]]
            assert tensor.type == schema.TensorType.INT8
            weights.append(np.asarray(model.buffers[tensor.buffer].data, dtype=np.uint8).view(np.int8))
    return weights


def int8(capsys, models, name, tmp_path) -> tuple[bytes, str]:
    """``models[name]`` compiled to a full-integer .tflite calibrated on the digits images."""
    return compile_tflite(capsys, models, name, tmp_path, "--quantize", "int8", "--calibration", models["calib"])


def test_pruned_int8_model_reports_half_zeros_and_a_smaller_gzip(capsys, models, tmp_path) -> None:
    dense, dense_line = int8(capsys, models, "dense", tmp_path)
    pruned, pruned_line = int8(capsys, models, "pruned", tmp_path)
    figures = {}
    for name, data, line in (("dense", dense, dense_line), ("pruned", pruned, pruned_line)):
        weights = int8_weights_by_schema(data)
        assert len(weights) == 4  # three convolutions and the classifier
        elements = sum(w.size for w in weights)
        zeros = sum(int(np.count_nonzero(w == 0)) for w in weights)
        figures[name] = compression_figures(data)
        assert figures[name] == {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9, mtime=0)),
                                 "weight_elements": elements, "weight_zeros": zeros}
        path = tmp_path / f"{name}.tflite"
        assert line.startswith(f"{path}: {len(data)} bytes (gzip {figures[name]['gzip_bytes']}), 10 operator(s) (")
        assert line.endswith(f", weights {100 * zeros / elements:.1f}% zeros\n")
    assert 0.5 <= figures["pruned"]["weight_zeros"] / figures["pruned"]["weight_elements"] < 0.52
    assert figures["dense"]["weight_zeros"] / figures["dense"]["weight_elements"] < 0.05
    assert figures["pruned"]["bytes"] == figures["dense"]["bytes"]  # same layout, only the values differ
    assert figures["pruned"]["gzip_bytes"] < 0.9 * figures["dense"]["gzip_bytes"]


@pytest.mark.parametrize("extra", [(), ("--quantize", "float16")], ids=["float32", "float16"])
def test_float_weights_count_exactly_the_pruned_zeros(capsys, models, tmp_path, extra) -> None:
    # float16 weights reach the operators through DEQUANTIZE: they are counted in their stored form
    data, line = compile_tflite(capsys, models, "pruned", tmp_path, *extra)
    arrays = [w.array for w in layer_weights(load_graph(models["pruned"]))]
    figures = compression_figures(data)
    assert figures["weight_elements"] == sum(a.size for a in arrays)
    assert figures["weight_zeros"] == sum(int(np.count_nonzero(a == 0)) for a in arrays)
    assert line.endswith(", weights 50.0% zeros\n")


def test_inspect_shows_the_same_figures(capsys, models, tmp_path) -> None:
    data, _ = int8(capsys, models, "pruned", tmp_path)
    code, stdout, err = run_cli(capsys, "inspect", tmp_path / "pruned.tflite")
    assert (code, err) == (0, "")
    figures = compression_figures(data)
    assert stdout.splitlines()[-1] == (
        f"compression: {len(data)} bytes (gzip {len(gzip.compress(data, 9, mtime=0))}), weights "
        f"{100 * figures['weight_zeros'] / figures['weight_elements']:.1f}% zeros "
        f"({figures['weight_zeros']} of {figures['weight_elements']})")


def test_a_model_without_weights_has_no_sparsity() -> None:
    graph = build_graph([(2, 3), (2, 3)], lambda g, xs: [g.create("core.add", xs, {}).result])
    data = export_tflite(graph)
    figures = compression_figures(data)
    assert figures == {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9, mtime=0)),
                       "weight_elements": 0, "weight_zeros": 0}
    assert summary_line("add.tflite", data) == \
        f"add.tflite: {len(data)} bytes (gzip {figures['gzip_bytes']}), 1 operator(s) (ADD)"


def test_weights_stored_after_the_flatbuffer_are_read_at_their_offset() -> None:
    from qcompiler.backends.tflite.inspect import buffer_bytes
    from qcompiler.errors import QCompilerError

    data = b"\0" * 16 + bytes([0, 1, 0, 2])
    assert buffer_bytes(data, schema.BufferT(offset=16, size=4)) == bytes([0, 1, 0, 2])
    assert buffer_bytes(data, schema.BufferT(offset=1, size=0)) == b""
    with pytest.raises(QCompilerError, match="past the end of the 20-byte file"):
        buffer_bytes(data, schema.BufferT(offset=16, size=8))
