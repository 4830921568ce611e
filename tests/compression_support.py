"""Helpers shared by the pruning, clustering, channel-pruning and sweep tests: the digits models prepared to
core ops, outputs over many samples, and a small hand-built conv graph (data and top-1 come from
quant_support)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from qcompiler.ir import Graph
from qcompiler.onnx_import import import_onnx
from qcompiler.quantize import prepare
from qcompiler.samples import run_samples
from qcompiler.types import TensorType

SHARED = Path(os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models"))


def prepared_model(name: str) -> Graph:
    """A shared digits model imported and prepared (cleanup, legalize, NHWC, fused activations)."""
    path = SHARED / f"{name}.onnx"
    if not path.is_file():
        pytest.skip(f"shared model {path} is missing")
    return prepare(import_onnx(path))


def outputs(graph: Graph, images: np.ndarray) -> np.ndarray:
    """The first output of ``graph`` for every image, stacked along the sample axis."""
    return next(iter(run_samples(graph, {graph.inputs[0].name: images}).values()))


def conv_chain(rng: np.random.Generator, channels: tuple[int, int, int] = (3, 8, 6)) -> Graph:
    """x [1, 6, 6, C0] -> conv3x3 (C1, relu) -> conv1x1 (C2) -> fully_connected over the mean -> 4 logits."""
    c0, c1, c2 = channels
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 6, 6, c0), "f32"))
    w1 = graph.const(rng.standard_normal((c1, 3, 3, c0)).astype(np.float32), "w1")
    b1 = graph.const(rng.standard_normal(c1).astype(np.float32), "b1")
    h = graph.create("core.conv2d", [x, w1, b1], {"padding": [1, 1, 1, 1], "activation": "relu"}, loc="/c1").result
    w2 = graph.const(rng.standard_normal((c2, 1, 1, c1)).astype(np.float32), "w2")
    b2 = graph.const(rng.standard_normal(c2).astype(np.float32), "b2")
    h = graph.create("core.conv2d", [h, w2, b2], {}, loc="/c2").result
    h = graph.create("core.mean", [h], {"axes": [1, 2], "keepdims": False}, loc="/mean").result
    w3 = graph.const(rng.standard_normal((4, c2)).astype(np.float32), "w3")
    y = graph.create("core.fully_connected", [h, w3], {}, loc="/fc").result
    graph.set_outputs([y], ["y"])
    return graph
