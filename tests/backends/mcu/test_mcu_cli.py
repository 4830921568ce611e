"""``qcompiler compile --target mcu`` and ``qcompiler emulate``: the user's commands from the issue, on a shared
model, and the one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.cli import main

from conftest import SHARED_MODELS_DIR
from mcu_checks import require_board
from quant_support import digits_split


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def mlp_library(tmp_path_factory) -> tuple[Path, Path, Path]:
    """digits_mlp compiled with the CLI: the library folder, calibration samples and 20 test samples."""
    root = tmp_path_factory.mktemp("mcu_cli")
    calibration, _ = digits_split(SHARED_MODELS_DIR, "digits_mlp", "calib")
    test, _ = digits_split(SHARED_MODELS_DIR, "digits_mlp", "test", 20)
    np.savez(root / "calib.npz", input=calibration)
    np.savez(root / "test.npz", input=test)
    code = main(["compile", str(SHARED_MODELS_DIR / "digits_mlp.onnx"), "--target", "mcu", "--quantize", "int8",
                 "--calibration", str(root / "calib.npz"), "-o", str(root / "out")])
    assert code == 0
    return root / "out", root / "calib.npz", root / "test.npz"


def test_compile_writes_the_library(mlp_library):
    folder = mlp_library[0]
    for name in ("digits_mlp.h", "digits_mlp.c", "digits_mlp_weights.c", "Makefile", "CMakeLists.txt",
                 "README.md", "report.txt", "report.json", "digits_mlp.tflite", "harness/main.c",
                 "harness/cm4_startup.c", "harness/cm4.ld", "kernels/qc_fully_connected_s8.c"):
        assert (folder / name).is_file(), name
    assert not (folder / "kernels" / "qc_conv2d_s8.c").exists()  # only the kernels the model uses
    assert "#define DIGITS_MLP_ARENA_SIZE" in (folder / "digits_mlp.h").read_text()


@pytest.mark.parametrize("board", ["host", "mps2-an386"])
def test_emulate_matches_litert(capsys, mlp_library, board, tmp_path):
    require_board(board)
    folder, _, samples = mlp_library
    code, out, err = run_cli(capsys, "emulate", folder, "--board", board, "--inputs", samples,
                             "-o", tmp_path / "outputs.npz")
    assert code == 0, err
    assert f"20 sample(s) run on {board}" in out
    got = np.load(tmp_path / "outputs.npz")["logits"]
    model = (folder / "digits_mlp.tflite").read_bytes()
    images = np.load(samples)["input"]
    want = np.stack([run_tflite(model, {"input": image[None]})["logits"] for image in images])
    assert got.shape == want.shape and np.array_equal(got, want)


def test_emulate_errors_are_one_line(capsys, mlp_library, tmp_path):
    folder, _, samples = mlp_library
    code, _, err = run_cli(capsys, "emulate", tmp_path, "--inputs", samples, "-o", tmp_path / "o.npz")
    assert code == 1 and "not a generated MCU library" in err and len(err.strip().splitlines()) == 1
    np.savez(tmp_path / "bad.npz", input=np.zeros((2, 3, 3), np.float32))
    code, _, err = run_cli(capsys, "emulate", folder, "--inputs", tmp_path / "bad.npz", "-o", tmp_path / "o.npz")
    assert code == 1 and "expected" in err and len(err.strip().splitlines()) == 1


def test_compile_mcu_needs_int8(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compile", SHARED_MODELS_DIR / "digits_mlp.onnx", "--target", "mcu",
                           "-o", tmp_path / "out")
    assert code == 2 and "--quantize int8" in err


def test_unsupported_op_names_the_node():
    from qcompiler.backends.mcu import generate
    from qcompiler.errors import UnsupportedOpError
    from qcompiler.ir import Graph
    from qcompiler.types import TensorType

    graph = Graph()
    x = graph.add_input("x", TensorType((1, 4, 4, 2), "f32"))
    y = graph.create("core.conv2d", [x, graph.const(np.ones((3, 1, 1, 2), np.float32)), None], {},
                     loc="my/float_conv").result
    graph.set_outputs([y], ["y"])
    with pytest.raises(UnsupportedOpError) as error:
        generate(graph, "float_model")
    assert error.value.location == "my/float_conv" and "core.conv2d" in str(error.value)
    assert "\n" not in str(error.value)
