"""Accuracy of the quantized digits models (qcompiler.quantize.quantize, calibrated on the 200 x_calib images)
against the float models on x_test, in the reference interpreter (integer kernels for int8 and int16x8).

Allowed top-1 drops in points: int8 full-integer per-channel 0.5, int16x8 0.2, dynamic 0.3, float16 0.1.
The full 597-image runs are marked slow; a 150-image check on two models runs always. ``pytest -s`` prints
the accuracies."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from qcompiler.ir import Graph
from qcompiler.quantize import load, prepare, quantize
from qcompiler.samples import run_samples
from qcompiler.text import parse_graph, print_graph

from quant_support import DIGITS_MODELS, digits_split, top1

#: Allowed top-1 accuracy drop (points) per mode.
MAX_DROP = {"int8": 0.5, "int16x8": 0.2, "dynamic": 0.3, "float16": 0.1}
#: The float top-1 accuracies shared/models/README.md states on the 597 test images.
README_FLOAT = {"digits_cnn": 0.9749, "digits_mobilenet": 0.9883, "digits_mlp": 0.9816, "digits_transformer": 0.9832}


@lru_cache(maxsize=None)
def float_graph(models_dir: Path, model: str) -> Graph:
    return prepare(load(models_dir / f"{model}.onnx"))


@lru_cache(maxsize=None)
def quantized_graph(models_dir: Path, model: str, mode: str) -> Graph:
    calib, _ = digits_split(models_dir, model, "calib")
    return quantize(float_graph(models_dir, model), mode, {"input": calib})


@lru_cache(maxsize=None)
def float_top1(models_dir: Path, model: str, count: int) -> float:
    """The float model's top-1 accuracy on the first ``count`` test images (shared by the four modes)."""
    x, y = digits_split(models_dir, model, "test", count)
    return top1(float_graph(models_dir, model), x, y)


def check_drop(models_dir: Path, model: str, mode: str, count: int) -> None:
    x, y = digits_split(models_dir, model, "test", count)
    reference = float_top1(models_dir, model, count)
    if count >= 597:
        assert abs(reference - README_FLOAT[model]) < 1e-3
    accuracy = top1(quantized_graph(models_dir, model, mode), x, y)
    drop = 100.0 * (reference - accuracy)
    print(f"\n{model} {mode}: float {reference:.4f}, quantized {accuracy:.4f}, drop {drop:+.2f} points "
          f"({count} images)")
    assert drop <= MAX_DROP[mode] + 1e-9


@pytest.mark.parametrize("model", ["digits_cnn", "digits_mlp"])
@pytest.mark.parametrize("mode", ["int8", "float16"])
def test_accuracy_on_150_test_images(shared_models_dir, model, mode):
    check_drop(shared_models_dir, model, mode, 150)


@pytest.mark.slow
@pytest.mark.parametrize("model", DIGITS_MODELS)
@pytest.mark.parametrize("mode", list(MAX_DROP))
def test_accuracy_on_the_597_test_images(shared_models_dir, model, mode):
    check_drop(shared_models_dir, model, mode, 597)


@pytest.mark.parametrize("model", ["digits_cnn", "digits_mobilenet"])
def test_int8_ir_round_trips_through_text_exactly(shared_models_dir, model):
    graph = quantized_graph(shared_models_dir, model, "int8")
    text = print_graph(graph)
    again = parse_graph(text)
    assert print_graph(again) == text
    x, _ = digits_split(shared_models_dir, model, "test", 20)
    first, second = (next(iter(run_samples(g, {"input": x}).values())) for g in (graph, again))
    assert np.array_equal(first, second)
