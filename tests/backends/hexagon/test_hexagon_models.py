"""Every shared model compiled to int8 and to the Hexagon library: the HVX build and the scalar-only build under
qemu-hexagon and the host build give outputs bit-identical to LiteRT's reference kernels running the .tflite of
the same compile, on 100 test images; the generated code compiles with -Wall -Wextra -Werror (the Makefile's
flags) for Hexagon and for the host; compiling twice gives the same files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_MODELS_DIR
from qcompiler.backends.hexagon.emit import generate, write_library
from qcompiler.backends.hexagon.runner import run_library
from qcompiler.backends.hexagon.toolchain import Tools
from qcompiler.backends.mcu.target import write_target
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.cli.model_io import load_model
from qcompiler.quantize import prepare, quantize
from hexagon_support import tools  # noqa: F401 (tools: fixture)
from quant_support import digits_split

MODELS = ("digits_cnn", "digits_mobilenet", "digits_mlp", "digits_transformer")
#: Test images per model.
IMAGES = 100


def compiled(name: str):
    """The shared model through the int8 pipeline, calibrated on the calibration split."""
    graph = prepare(load_model(str(SHARED_MODELS_DIR / f"{name}.onnx")))
    calibration, _ = digits_split(SHARED_MODELS_DIR, name, "calib")
    return quantize(graph, "int8", {graph.inputs[0].name: calibration})


@pytest.fixture(scope="module", params=MODELS)
def library(request, tools: Tools, tmp_path_factory):
    """(folder, samples, LiteRT's outputs) of one model's Hexagon library."""
    name = request.param
    graph = compiled(name)
    folder = tmp_path_factory.mktemp(name)
    _, model = write_target(graph, str(folder), name, "float", write_library)
    images, _ = digits_split(SHARED_MODELS_DIR, name, "test", IMAGES)
    samples = {graph.inputs[0].name: images[:, None]}
    runs = [run_tflite(model, {key: array[i] for key, array in samples.items()}) for i in range(IMAGES)]
    expected = {key: np.stack([run[key] for run in runs]) for key in runs[0]}
    return folder, samples, expected


@pytest.mark.slow
@pytest.mark.parametrize("build", ["hvx", "scalar", "host"])
def test_model_bit_exact_with_litert(library, build: str) -> None:
    folder, samples, expected = library
    got = run_library(folder, build, samples)
    assert list(got) == list(expected)
    for key, want in expected.items():
        assert got[key].dtype == want.dtype and got[key].shape == want.shape, key
        differing = int(np.sum(np.any(got[key] != want, axis=tuple(range(1, want.ndim)))))
        assert differing == 0, f"{build}: {differing} of {len(want)} samples differ from LiteRT in {key}"


def test_heavy_layers_run_on_hvx() -> None:
    """The convolutions, pooling, mean and dense layers of digits_cnn get HVX kernels; the float edges stay
    scalar."""
    report = generate(compiled("digits_cnn"), "digits_cnn").report
    kernels = {layer.op: layer.kernel for layer in report.layers}
    assert kernels["q.conv2d"] == "hvx_conv2d" and kernels["q.max_pool2d"] == "hvx_max_pool"
    assert kernels["q.fully_connected"] == "hvx_fully_connected" and kernels["q.mean"] == "hvx_mean"
    assert kernels["q.quantize"] == "quantize" and kernels["q.dequantize"] == "dequantize"


def test_generation_is_deterministic_and_aligned() -> None:
    graph = compiled("digits_mobilenet")
    first, second = generate(graph, "m"), generate(graph, "m")
    assert first.files == second.files
    assert first.report.arena_bytes % 128 == 0
    assert "aligned(128)" in first.files["m_weights.c"]
    assert all(layer.writes[0].offset % 128 == 0 for layer in first.report.layers if layer.writes[0].where == "arena")


def test_cli_compiles_and_emulates(tools: Tools, tmp_path: Path) -> None:
    """qcompiler compile --target hexagon, then qcompiler emulate --board hexagon-v67, equals the host build."""
    from qcompiler.cli import main

    calibration, _ = digits_split(SHARED_MODELS_DIR, "digits_mlp", "calib")
    images, _ = digits_split(SHARED_MODELS_DIR, "digits_mlp", "test", 8)
    np.savez(tmp_path / "calib.npz", input=calibration)
    np.savez(tmp_path / "samples.npz", input=images)
    out = tmp_path / "out"
    assert main(["compile", str(SHARED_MODELS_DIR / "digits_mlp.onnx"), "--target", "hexagon", "--quantize", "int8",
                 "--calibration", str(tmp_path / "calib.npz"), "-o", str(out)]) == 0
    assert (out / "digits_mlp.tflite").is_file() and (out / "runtime" / "qc_hexagon_start.S").is_file()
    for board in ("hexagon-v67", "host"):
        assert main(["emulate", str(out), "--board", board, "--inputs", str(tmp_path / "samples.npz"),
                     "-o", str(tmp_path / f"{board}.npz")]) == 0
    hexagon, host = np.load(tmp_path / "hexagon-v67.npz"), np.load(tmp_path / "host.npz")
    for key in host:
        np.testing.assert_array_equal(hexagon[key], host[key])


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mobilenet"])
def test_int8_interface_matches_litert(tools: Tools, name: str, tmp_path: Path) -> None:
    """--io-type int8: the HVX build takes and returns the int8 tensors (the first convolution then reads the
    caller's buffer), as the .tflite of the same compile does."""
    graph = compiled(name)
    _, model = write_target(graph, str(tmp_path), name, "int8", write_library)
    rng = np.random.default_rng(0)
    samples = {graph.inputs[0].name: rng.integers(-128, 128, (20, 1, 1, 16, 16)).astype(np.int8)}
    got = run_library(tmp_path, "hvx", samples)
    for i in range(20):
        want = run_tflite(model, {key: array[i] for key, array in samples.items()})
        for key, value in want.items():
            assert value.dtype == np.int8
            np.testing.assert_array_equal(got[key][i], value, err_msg=f"sample {i}")
