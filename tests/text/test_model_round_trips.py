"""Round trips of imported models: the four shared digits models and ONNX's nine light architecture models
print, parse back to an equal graph, print to the same text, and (digits models) compute the same outputs."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

from qcompiler.text import parse_graph, print_graph

onnx_import = pytest.importorskip("qcompiler.onnx_import", reason="qcompiler.onnx_import is not in the repo yet")

SHARED = "/work/shared/models"
LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
DIGITS_MODELS = ["digits_cnn", "digits_mlp", "digits_mobilenet", "digits_transformer"]
LIGHT_MODELS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
                "squeezenet", "vgg19", "zfnet512"]


def import_or_skip(path: str):
    if not os.path.exists(path):
        pytest.skip(f"{path} is not on this machine")
    return onnx_import.import_onnx(path)


@pytest.mark.parametrize("name", DIGITS_MODELS)
def test_digits_models_round_trip_and_compute_the_same(name, assert_round_trip):
    from qcompiler.interpreter import run

    graph = import_or_skip(os.path.join(SHARED, f"{name}.onnx"))
    parsed = assert_round_trip(graph)
    images = np.load(os.path.join(SHARED, "digits.npz"))["x_test"][:1].astype(np.float32)
    if name == "digits_mlp":
        feed = images[:, None]
    elif name == "digits_transformer":
        feed = images
    else:
        feed = np.repeat(np.repeat(images, 2, 1), 2, 2)[:, None]
    feeds = {graph.inputs[0].name: feed}
    expected, got = run(graph, feeds), run(parsed, feeds)
    assert expected.keys() == got.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_models_round_trip(name, assert_round_trip):
    graph = import_or_skip(os.path.join(LIGHT, f"light_{name}.onnx"))
    assert_round_trip(graph)
    assert_round_trip(graph, large_constant_elements=1 << 30)  # everything inline


def test_elided_dump_of_a_model_is_readable():
    graph = import_or_skip(os.path.join(SHARED, "digits_cnn.onnx"))
    text = print_graph(graph, elide_constants=True)
    assert "dense_resource<__elided__>" in text and "{-#" not in text
    assert len(text) < len(print_graph(graph)) / 2
    assert parse_graph(print_graph(graph)) is not None
