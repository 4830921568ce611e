"""The accuracy tools through ``qcompiler quantize`` / ``qcompiler compile`` and ``quantize()``, end to end on
digits_cnn: bias correction raises the output SQNR, kept-float layers stay float core ops between
dequantize and quantize, int16 layers get int16 types, the automatic mode meets its target, and bad layer
names or flag combinations are one error line."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.layer_names import UnknownLayerError
from qcompiler.onnx_import import import_onnx
from qcompiler.quant_report import sqnr_db
from qcompiler.quantize import AutoPrecision, PrecisionTargetWarning, prepare, quantize
from qcompiler.samples import run_samples
from qcompiler.text import load_graph, print_graph

from quant_support import digits_split, top1
from test_cli import assert_one_line_error, run_cli

MODEL = "digits_cnn"


@pytest.fixture(scope="module")
def cnn(shared_models_dir) -> Path:
    """digits_cnn's ONNX file."""
    return shared_models_dir / f"{MODEL}.onnx"


@pytest.fixture(scope="module")
def float_graph(cnn):
    """digits_cnn prepared, in float: the oracle."""
    return prepare(import_onnx(cnn))


@pytest.fixture(scope="module")
def calib(shared_models_dir) -> np.ndarray:
    """100 calibration images (x_calib) as digits_cnn takes them."""
    return digits_split(shared_models_dir, MODEL, "calib", 100)[0]


@pytest.fixture(scope="module")
def held_out(shared_models_dir) -> tuple[np.ndarray, np.ndarray]:
    """200 test images (x_test) and their labels."""
    return digits_split(shared_models_dir, MODEL, "test", 200)


@pytest.fixture(scope="module")
def files(tmp_path_factory, calib, held_out) -> tuple[Path, Path]:
    """The calibration .npz and an evaluation .npz holding the held-out images and a 'labels' array."""
    folder = tmp_path_factory.mktemp("accuracy")
    np.savez(folder / "calib.npz", input=calib)
    np.savez(folder / "eval.npz", input=held_out[0], labels=held_out[1])
    return folder / "calib.npz", folder / "eval.npz"


def output_sqnr(float_graph, graph, images: np.ndarray) -> float:
    """SQNR (dB) of ``graph``'s logits against the float model's on ``images``."""
    want = run_samples(float_graph, {"input": images})["logits"]
    return sqnr_db(want, run_samples(graph, {"input": images})["logits"])


def quantize_cli(capsys, tmp_path: Path, cnn: Path, calib: Path, *flags: str):
    """Run ``qcompiler quantize`` on digits_cnn with ``flags``; return the graph written and stderr."""
    out = tmp_path / "q.qir"
    code, _, err = run_cli(capsys, "quantize", cnn, "--mode", "int8", "--calibration", calib, "-o", out, *flags)
    assert code == 0, err
    return load_graph(out), err


def test_bias_correction_raises_output_sqnr(capsys, tmp_path, cnn, files, float_graph, calib, held_out):
    plain, _ = quantize_cli(capsys, tmp_path, cnn, files[0])
    corrected, _ = quantize_cli(capsys, tmp_path, cnn, files[0], "--bias-correction")
    # the CLI writes what the API returns
    assert print_graph(corrected) == print_graph(quantize(cnn, "int8", {"input": calib}, bias_correction=True))
    before, after = (output_sqnr(float_graph, g, held_out[0]) for g in (plain, corrected))
    print(f"digits_cnn int8 per-channel output SQNR: {before:.2f} dB, with bias correction {after:.2f} dB")
    assert after > before + 3.0
    assert top1(corrected, *held_out) >= top1(float_graph, *held_out) - 0.01


def test_bias_correction_leaves_float_layers_alone(float_graph, calib):
    kept = quantize(float_graph, "int8", {"input": calib}, keep_float=["/c3/Conv"], bias_correction=True)
    (conv,) = kept.ops_of_kind("core.conv2d")
    (original,) = [op for op in float_graph.ops_of_kind("core.conv2d") if op.loc == "/c3/Conv"]
    assert np.array_equal(conv.operand(2).const_value, original.operand(2).const_value)


def test_keep_float_layer_is_a_float_op_between_dequantize_and_quantize(capsys, tmp_path, cnn, files, float_graph,
                                                                         held_out):
    graph, err = quantize_cli(capsys, tmp_path, cnn, files[0], "--keep-float", "/c2/Conv")
    (conv,) = graph.ops_of_kind("core.conv2d")
    assert conv.loc == "/c2/Conv" and conv.result.type.element == "f32"
    assert conv.operand(0).producer.kind == "q.dequantize"
    assert conv.operand(1).is_const and conv.operand(1).type.element == "f32"  # float weights
    assert {use.op.kind for use in conv.result.uses} == {"q.quantize"}
    assert {op.loc for op in graph.ops_of_kind("q.conv2d")} == {"/c1/Conv", "/c3/Conv"}
    assert "float layers: /c2/Conv; int16 layers: none" in err
    assert output_sqnr(float_graph, graph, held_out[0]) > 20.0


def test_int16_layers_get_int16_types(capsys, tmp_path, cnn, files, calib, float_graph, held_out):
    graph, err = quantize_cli(capsys, tmp_path, cnn, files[0], "--int16", "/c2/Conv", "--int16", "/fc/Gemm")
    storage = {op.loc: (op.operand(0).type.element, op.operand(2).type.element, op.result.type.element)
               for op in graph.ops_of_kind("q.conv2d", "q.fully_connected")}
    assert storage == {"/c1/Conv": ("i8", "i32", "i8"), "/c2/Conv": ("i16", "i64", "i16"),
                       "/c3/Conv": ("i8", "i32", "i8"), "/fc/Gemm": ("i16", "i64", "i16")}
    assert "int16 layers: /c2/Conv, /fc/Gemm" in err
    api = quantize(cnn, "int8", {"input": calib}, int16_layers=["/c2/Conv", "/fc/Gemm"])
    assert print_graph(graph) == print_graph(api)
    assert top1(graph, *held_out) >= top1(float_graph, *held_out) - 0.01


def test_auto_precision_meets_an_sqnr_target(capsys, tmp_path, cnn, files, float_graph, held_out):
    plain, _ = quantize_cli(capsys, tmp_path, cnn, files[0])
    start = output_sqnr(float_graph, plain, held_out[0])
    target = start + 3.0
    graph, err = quantize_cli(capsys, tmp_path, cnn, files[0], "--auto-precision", "--target-sqnr", f"{target}",
                              "--eval", files[1], "--lift", "float")
    reached = output_sqnr(float_graph, graph, held_out[0])
    print(f"auto precision: int8 {start:.2f} dB -> {reached:.2f} dB (target {target:.2f}); {err.strip()}")
    assert reached >= target
    assert graph.ops_of_kind("core.conv2d", "core.fully_connected")  # something was lifted to float
    assert "warning" not in err


def test_auto_precision_after_bias_correction_gives_float_layers_their_own_bias(cnn, calib, float_graph,
                                                                                   held_out):
    images = held_out[0][:100]
    corrected = quantize(cnn, "int8", {"input": calib}, bias_correction=True)
    target = output_sqnr(float_graph, corrected, images) + 2.0
    auto = AutoPrecision(target_sqnr_db=target, evaluation={"input": images}, lift="float")
    graph = quantize(cnn, "int8", {"input": calib}, bias_correction=True, auto_precision=auto)
    assert output_sqnr(float_graph, graph, images) >= target
    original = {op.loc: op.operand(2).const_value for op in float_graph.ops_of_kind("core.conv2d")}
    lifted = graph.ops_of_kind("core.conv2d")
    assert lifted and all(np.array_equal(op.operand(2).const_value, original[op.loc]) for op in lifted)


def test_auto_precision_meets_an_accuracy_target_through_the_api(cnn, calib, float_graph, held_out):
    # labels = the float model's own predictions: accuracy is agreement with float, which int8 misses
    images = held_out[0]
    agreement = run_samples(float_graph, {"input": images})["logits"].reshape(len(images), -1).argmax(axis=1)
    assert top1(quantize(cnn, "int8", {"input": calib}), images, agreement) < 1.0
    auto = AutoPrecision(target_accuracy=1.0, evaluation={"input": images}, labels=agreement, lift="float")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionTargetWarning)
        graph = quantize(cnn, "int8", {"input": calib}, auto_precision=auto)
    assert top1(graph, images, agreement) == 1.0
    assert graph.ops_of_kind("q.conv2d", "q.fully_connected")  # not everything had to go float


def test_auto_precision_warns_when_the_target_is_out_of_reach(capsys, tmp_path, cnn, files, calib):
    graph, err = quantize_cli(capsys, tmp_path, cnn, files[0], "--auto-precision", "--target-sqnr", "90",
                              "--max-lifts", "2")
    assert len(graph.ops_of_kind("q.conv2d", "q.fully_connected", "q.mean")) >= 2
    warning = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and "missed its target after lifting 2 layer(s)" in warning[0]
    with pytest.warns(PrecisionTargetWarning, match="missed its target"):
        quantize(cnn, "int8", {"input": calib}, auto_precision=AutoPrecision(target_sqnr_db=90.0, max_lifts=1))


def test_compile_takes_the_same_flags(capsys, tmp_path, cnn, files):
    out = tmp_path / "m.tflite"
    code, stdout, err = run_cli(capsys, "compile", cnn, "--quantize", "int8", "--calibration", files[0],
                                "--bias-correction", "--int16", "/c2/Conv", "-o", out)
    assert code == 0, err
    # int8 -> int16 before the int16 conv, int16 -> int8 after it: two QUANTIZE ops beside the input's one
    assert "QUANTIZE x3" in stdout and out.is_file()


@pytest.mark.parametrize("argv, code, fragments", [
    (["--keep-float", "/c2/Con"], 1, ["keep-float names no op or tensor: /c2/Con", "close matches: /c2/Conv"]),
    (["--int16", "/c9/Conv"], 1, ["int16 names no op or tensor: /c9/Conv", "close matches:", "/c3/Conv"]),
    (["--exclude", "zzzzzz"], 1, ["exclude names no op or tensor: zzzzzz (no close match)"]),
    (["--keep-float", "/c2/Conv", "--int16", "/c2/Conv"], 1, ["both float and int16: /c2/Conv"]),
    (["--target-sqnr", "30"], 2, ["--target-sqnr only apply with --auto-precision"]),
    (["--auto-precision"], 2, ["needs a target"]),
    (["--auto-precision", "--target-accuracy", "0.9"], 2, ["--target-accuracy needs --eval"]),
    (["--auto-precision", "--target-accuracy", "95"], 2, ["fraction in [0, 1]"]),
    (["--auto-precision", "--target-accuracy", "0.9", "--eval", "{calib}"], 2, ["has no 'labels' array"]),
    (["--mode", "int16x8", "--int16", "/c2/Conv"], 1, ["mode int16x8 has none"]),
    (["--mode", "dynamic", "--bias-correction"], 1, ["bias correction needs mode int8 or int16x8"]),
])
def test_bad_names_and_flags_are_one_error_line(capsys, tmp_path, cnn, files, argv, code, fragments):
    argv = [a.format(calib=files[0]) for a in argv]
    got, _, err = run_cli(capsys, "quantize", cnn, "--calibration", files[0], *argv, "-o", tmp_path / "q.qir")
    assert got == code
    assert_one_line_error(err, *fragments)
    assert not (tmp_path / "q.qir").exists()


def test_compile_rejects_accuracy_flags_without_quantization(capsys, tmp_path, cnn):
    code, _, err = run_cli(capsys, "compile", cnn, "--keep-float", "/c2/Conv", "-o", tmp_path / "m.tflite")
    assert code == 2
    assert_one_line_error(err, "need --quantize int8 or int16x8")


def test_api_bad_names(float_graph, calib):
    with pytest.raises(UnknownLayerError, match=r"int16 names no op or tensor: /fc/gemm \(close matches: /fc/Gemm"):
        quantize(float_graph, "int8", {"input": calib}, int16_layers=["/fc/gemm"])
    with pytest.raises(QCompilerError, match="automatic mixed precision needs mode int8"):
        quantize(float_graph, "int16x8", {"input": calib}, auto_precision=AutoPrecision(target_sqnr_db=30.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(QCompilerError, match="needs a target"):
            quantize(float_graph, "int8", {"input": calib}, auto_precision=AutoPrecision())
