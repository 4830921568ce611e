"""``qcompiler quantize`` end to end: the IR it writes equals the Python API's, the report, and every bad-input
case as one error line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qcompiler.quantize import quantize
from qcompiler.text import load_graph, print_graph

from quant_support import digits_split, top1
from test_cli import assert_one_line_error, run_cli


@pytest.fixture()
def mlp_files(shared_models_dir, tmp_path) -> tuple[Path, Path]:
    """digits_mlp and an .npz of 60 of its calibration images."""
    calib, _ = digits_split(shared_models_dir, "digits_mlp", "calib", 60)
    samples = tmp_path / "calib.npz"
    np.savez(samples, input=calib)
    return shared_models_dir / "digits_mlp.onnx", samples


def test_quantize_writes_the_same_ir_as_the_api(capsys, tmp_path, mlp_files, shared_models_dir):
    model, samples = mlp_files
    out = tmp_path / "q.qir"
    code, stdout, err = run_cli(capsys, "quantize", model, "--mode", "int8", "--calibration", samples, "-o", out)
    assert code == 0, err
    graph = load_graph(out)
    calib = dict(np.load(samples))
    assert print_graph(graph) == print_graph(quantize(model, "int8", calib))
    assert graph.ops_of_kind("q.fully_connected")
    x, y = digits_split(shared_models_dir, "digits_mlp", "test", 100)
    assert top1(graph, x, y) >= 0.95


def test_options_reach_the_pipeline(capsys, tmp_path, mlp_files):
    model, samples = mlp_files
    out = tmp_path / "q.qir"
    code, _, err = run_cli(capsys, "quantize", model, "--calibration", samples, "--method", "percentile",
                           "--no-per-channel", "--exclude", "/l3/Gemm", "-o", out)
    assert code == 0, err
    graph = load_graph(out)
    layers = graph.ops_of_kind("q.fully_connected")
    assert len(layers) == 2 and not any(op.operand(1).type.quant.is_per_axis for op in layers)
    assert [op.loc for op in graph.ops_of_kind("core.fully_connected")] == ["/l3/Gemm"]


def test_weight_modes_need_no_calibration(capsys, mlp_files):
    model, _ = mlp_files
    code, stdout, err = run_cli(capsys, "quantize", model, "--mode", "float16", "--elide-constants")
    assert code == 0, err
    assert "xf16>" in stdout and "q.dequantize" in stdout


def test_report_is_written(capsys, tmp_path, mlp_files):
    model, samples = mlp_files
    report = tmp_path / "report"
    code, _, err = run_cli(capsys, "quantize", model, "--calibration", samples, "-o", tmp_path / "q.qir",
                           "--report", report)
    assert code == 0, err
    data = json.loads((report / "report.json").read_text())
    assert data and (report / "report.md").is_file()


@pytest.mark.parametrize("argv, code, fragments", [
    (["--mode", "int8"], 2, ["--mode int8 needs --calibration"]),
    (["--mode", "dynamic", "--report", "r"], 2, ["--report", "--calibration"]),
    (["--calibration", "{samples}", "--exclude", "nope"], 1, ["exclude names no op or tensor: nope"]),
    (["--calibration", "{missing}"], 1, ["missing.npz"]),
])
def test_bad_input_is_one_error_line(capsys, tmp_path, mlp_files, argv, code, fragments):
    model, samples = mlp_files
    argv = [a.format(samples=samples, missing=tmp_path / "missing.npz") for a in argv]
    got, _, err = run_cli(capsys, "quantize", model, *argv, "-o", tmp_path / "q.qir")
    assert got == code
    assert_one_line_error(err, *fragments)
    assert not (tmp_path / "q.qir").exists()
