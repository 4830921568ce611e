"""``qcompiler compile --post-quantize-pipeline``: cluster-int8 (which runs on the quantized graph) applied by
the MCU compile; the library stores codebooks and its host build computes what ``qcompiler run`` computes on
the same quantized, clustered IR (``qcompiler quantize`` then ``qcompiler opt``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qcompiler.cli import main

from conftest import SHARED_MODELS_DIR
from mcu_checks import require_board
from quant_support import digits_split

#: bench/mcu_compressed.py's best layout without calibration data: 16 clusters per tensor, first layer plain.
CLUSTER = "cluster-int8{clusters=16 exclude=/c1/Conv}"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cluster_int8_after_quantization_matches_run(capsys, tmp_path):
    require_board("host")
    calibration, _ = digits_split(SHARED_MODELS_DIR, "digits_cnn", "calib")
    test, _ = digits_split(SHARED_MODELS_DIR, "digits_cnn", "test", 20)
    np.savez(tmp_path / "calib.npz", input=calibration)
    np.savez(tmp_path / "test.npz", input=test)
    model = SHARED_MODELS_DIR / "digits_cnn.onnx"
    code, _, err = run_cli(capsys, "compile", model, "--target", "mcu", "--quantize", "int8", "--calibration",
                           tmp_path / "calib.npz", "--post-quantize-pipeline", CLUSTER, "-o", tmp_path / "out")
    assert code == 0, err
    layers = json.loads((tmp_path / "out" / "report.json").read_text())["layers"]
    storage = {row["name"].replace("%2F", "/"): row["storage"] for row in layers if row["storage"]}
    assert storage.pop("/c1/Conv") == "dense"  # excluded
    assert storage and set(storage.values()) == {"codebook"}, storage

    for argv in (("quantize", model, "--calibration", tmp_path / "calib.npz", "-o", tmp_path / "q.qir"),
                 ("opt", tmp_path / "q.qir", "-p", CLUSTER, "-o", tmp_path / "c.qir"),
                 ("run", tmp_path / "c.qir", "--inputs", tmp_path / "test.npz", "-o", tmp_path / "run.npz"),
                 ("run", tmp_path / "q.qir", "--inputs", tmp_path / "test.npz", "-o", tmp_path / "plain.npz"),
                 ("emulate", tmp_path / "out", "--board", "host", "--inputs", tmp_path / "test.npz",
                  "-o", tmp_path / "emulated.npz")):
        code, _, err = run_cli(capsys, *argv)
        assert code == 0, (argv[0], err)
    want = np.load(tmp_path / "run.npz")["logits"]
    got = np.load(tmp_path / "emulated.npz")["logits"]
    assert got.shape == want.shape and np.array_equal(got, want)
    assert not np.array_equal(np.load(tmp_path / "plain.npz")["logits"], want)  # clustering changed the model


@pytest.mark.parametrize("argv, message", [
    (("--quantize", "int8", "--post-quantize-pipeline", "cluster-int9"), "cluster-int9"),
    (("--quantize", "float16", "--post-quantize-pipeline", CLUSTER), "needs --quantize int8"),
])
def test_bad_post_quantize_pipeline_is_one_line(capsys, tmp_path, argv, message):
    np.savez(tmp_path / "calib.npz", input=np.zeros((2, 1, 16, 16), np.float32))
    extra = ("--calibration", tmp_path / "calib.npz") if "int8" in argv else ()
    code, _, err = run_cli(capsys, "compile", SHARED_MODELS_DIR / "digits_cnn.onnx", *argv, *extra,
                           "-o", tmp_path / "out.tflite")
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err
