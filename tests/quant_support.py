"""Test support for insert-qdq, lower-quantized and the quantize API: the digits data preprocessed per model
(as shared/models/README.md says), top-1 accuracy in the reference interpreter, and small hand-built graphs
with calibrated ranges."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from qcompiler.interpreter import run
from qcompiler.ir import Graph, Value
from qcompiler.samples import run_samples
from qcompiler.types import TensorType
from qcompiler.value_ranges import set_range

#: The four digits models and the float top-1 accuracy the README states on x_test.
DIGITS_MODELS = ("digits_cnn", "digits_mobilenet", "digits_mlp", "digits_transformer")


def digits_inputs(model: str, images: np.ndarray) -> np.ndarray:
    """8x8 digit images as ``model`` takes them."""
    if model in ("digits_cnn", "digits_mobilenet"):  # each pixel repeated 2x2, a channel axis added
        return np.repeat(np.repeat(images, 2, 1), 2, 2)[:, None].astype(np.float32)
    if model == "digits_mlp":
        return images[:, None].astype(np.float32)
    return images.astype(np.float32)


def digits_split(models_dir: Path, model: str, split: str, count: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``split`` images (``calib``, ``test``) preprocessed for ``model``, and their labels."""
    data = np.load(models_dir / "digits.npz")
    x, y = data[f"x_{split}"], data[f"y_{split}"]
    if count is not None:
        x, y = x[:count], y[:count]
    return digits_inputs(model, x), y


def top1(graph: Graph, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``graph`` (one input, one output of class scores) on ``images``."""
    outputs = run_samples(graph, {graph.inputs[0].name: images})
    scores = next(iter(outputs.values())).reshape(len(labels), -1)
    return float(np.mean(scores.argmax(axis=1) == labels))


def run_one(graph: Graph, **feeds: np.ndarray) -> list[np.ndarray]:
    """The outputs of ``graph`` on one feed, in order."""
    return list(run(graph, feeds).values())


def input_with_range(graph: Graph, name: str, shape: Sequence[int], low: float, high: float) -> Value:
    """A float graph input with a calibrated range."""
    value = graph.add_input(name, TensorType(tuple(shape), "f32"))
    set_range(graph, value, (low, high))
    return value


def ranged(graph: Graph, kind: str, operands: list, low: float, high: float, name: str, **attrs) -> Value:
    """A core op (types inferred) whose result has the calibrated range [low, high]; its loc is ``name``."""
    value = graph.create(kind, operands, dict(attrs), loc=name, result_names=[name]).result
    set_range(graph, value, (low, high))
    return value


def conv_graph(seed: int = 0, depthwise: bool = False) -> Graph:
    """x[1,6,6,3] -> conv2d (or depthwise) 3x3 relu -> reshape -> fully_connected -> softmax, NHWC, ranges set."""
    rng = np.random.default_rng(seed)
    graph = Graph()
    x = input_with_range(graph, "x", (1, 6, 6, 3), -1.0, 1.0)
    if depthwise:
        weight = graph.const(rng.normal(0, 0.5, (1, 3, 3, 3)).astype(np.float32), "w")
        kind = "core.depthwise_conv2d"
    else:
        weight = graph.const(rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32), "w")
        kind = "core.conv2d"
    channels = 3 if depthwise else 4
    bias = graph.const(rng.normal(0, 0.1, (channels,)).astype(np.float32), "b")
    conv = ranged(graph, kind, [x, weight, bias], 0.0, 3.0, "conv", activation="relu", padding=[1, 1, 1, 1])
    flat = ranged(graph, "core.reshape", [conv], 0.0, 3.0, "flat", shape=[1, 36 * channels])
    fc_w = graph.const(rng.normal(0, 0.2, (5, 36 * channels)).astype(np.float32), "fc_w")
    fc_b = graph.const(rng.normal(0, 0.1, (5,)).astype(np.float32), "fc_b")
    logits = ranged(graph, "core.fully_connected", [flat, fc_w, fc_b], -4.0, 4.0, "fc")
    probs = ranged(graph, "core.softmax", [logits], 0.0, 1.0, "softmax")
    graph.set_outputs([probs], ["probs"])
    return graph


def sample_input(shape: Sequence[int], seed: int = 1, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Uniform random f32 values in [low, high] of ``shape``."""
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)
