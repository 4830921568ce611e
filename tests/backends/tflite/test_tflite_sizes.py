"""Sizes of the .tflite files: int8 is at most 0.27x and float16 at most 0.52x the float32 file on models with
real weight volume (the light models after constant folding, with their constant-fill weights and with seeded
random ones, which do not dedupe), and the shared models' int8 files are no larger than the TFLite
converter's (ONNX -> onnx2tf -> converter, same calibration data, measured once)."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.backends.tflite import export_tflite
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.onnx_import import import_onnx
from qcompiler.quantize import prepare, quantize

from quant_support import digits_split
from tflite_checks import randomize_weights

#: int8 .tflite bytes the converter made from the shared models (digits_transformer does not convert that way).
CONVERTER_INT8_BYTES = {"digits_cnn": 12184, "digits_mobilenet": 25456, "digits_mlp": 25144}


@pytest.mark.parametrize("model", sorted(CONVERTER_INT8_BYTES) + ["digits_transformer"])
def test_int8_files_are_no_larger_than_the_converters(model, shared_models_dir):
    calibration, _ = digits_split(shared_models_dir, model, "calib")
    data = export_tflite(quantize(shared_models_dir / f"{model}.onnx", "int8", {"input": calibration}))
    assert len(data) <= CONVERTER_INT8_BYTES.get(model, len(data))
    images, _ = digits_split(shared_models_dir, model, "test", 1)
    assert run_tflite(data, {"input": images})["logits"].shape[-1] == 10


def light_sizes(light_models_dir, name: str, randomized: bool) -> dict[str, int]:
    """Bytes of the light model in float32, float16 and int8 (calibrated on 4 random inputs)."""
    graph = prepare(import_onnx(light_models_dir / f"{name}.onnx"))
    if randomized:
        graph = randomize_weights(graph)
    source = graph.inputs[0]
    samples = np.random.default_rng(0).random((4,) + tuple(source.type.shape[1:]), dtype=np.float32)
    return {"float32": len(export_tflite(graph)),
            "float16": len(export_tflite(quantize(graph.clone(), "float16"))),
            "int8": len(export_tflite(quantize(graph.clone(), "int8", {source.name: samples})))}


def assert_ratios(sizes: dict[str, int]) -> None:
    assert sizes["int8"] <= 0.27 * sizes["float32"]
    assert sizes["float16"] <= 0.52 * sizes["float32"]


@pytest.mark.parametrize("randomized", [False, True])
def test_light_squeezenet_size_ratios(light_models_dir, randomized):
    assert_ratios(light_sizes(light_models_dir, "light_squeezenet", randomized))


@pytest.mark.slow
@pytest.mark.parametrize("randomized", [False, True])
def test_light_resnet50_size_ratios(light_models_dir, randomized):
    assert_ratios(light_sizes(light_models_dir, "light_resnet50", randomized))
