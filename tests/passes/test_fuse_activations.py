"""fuse-activations: relu / relu6 / relu_n1_to_1 and matching clamps fold into the producing core op when it
is their only user; models keep their outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qcompiler import interpreter
from qcompiler.ir import Graph
from qcompiler.onnx_import import import_onnx
from qcompiler.types import TensorType

from core_pass_checks import digits_feeds, kinds, run_pipeline, transform_keeps_outputs

RNG = np.random.default_rng(3)

ACTIVATIONS = ("core.relu", "core.relu6", "core.relu_n1_to_1", "core.clamp")


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mobilenet", "digits_mlp"])
def test_shared_models_fuse_every_activation(shared_models_dir, digits, name):
    graph = import_onnx(shared_models_dir / f"{name}.onnx")
    run_pipeline(graph, "fold-constants,fold-batchnorm,legalize,to-nhwc")
    standalone = [k for k in kinds(graph) if k in ACTIVATIONS]
    assert standalone, "the model should have activations to fuse"
    transform_keeps_outputs(graph, "fuse-activations", digits_feeds(graph, digits))
    assert not [k for k in kinds(graph) if k in ACTIVATIONS]
    fused = {op.attr("activation") for op in graph if "activation" in op.attrs}
    assert fused <= {"none", "relu", "relu6"} and fused - {"none"}


def conv_graph(activation_kind: str, attrs: dict | None = None, extra_use: bool = False,
               producer_activation: str = "none") -> Graph:
    """input -> conv2d (NHWC) -> activation -> output (optionally the conv result is an output too)."""
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 5, 5, 2), "f32"))
    w = graph.const(RNG.standard_normal((3, 3, 3, 2)).astype(np.float32) * 2)
    b = graph.const(RNG.standard_normal(3).astype(np.float32))
    conv = graph.create("core.conv2d", [x, w, b], {"padding": [1, 1, 1, 1], "activation": producer_activation},
                        loc="conv")
    act = graph.create(activation_kind, [conv.result], attrs or {}, loc="act")
    outputs = [act.result, conv.result] if extra_use else [act.result]
    graph.set_outputs(outputs, ["y", "c"][:len(outputs)])
    return graph


@pytest.mark.parametrize("kind,attrs,expected", [
    ("core.relu", {}, "relu"), ("core.relu6", {}, "relu6"), ("core.relu_n1_to_1", {}, "relu_n1_to_1"),
    ("core.clamp", {"min": 0.0, "max": 6.0}, "relu6"), ("core.clamp", {"min": 0.0, "max": math.inf}, "relu"),
    ("core.clamp", {"min": -1.0, "max": 1.0}, "relu_n1_to_1"),
])
def test_activation_folds_into_its_producer(kind, attrs, expected):
    graph = conv_graph(kind, attrs)
    feed = {"x": RNG.standard_normal((1, 5, 5, 2)).astype(np.float32)}
    before = interpreter.run(graph, feed)["y"]
    run_pipeline(graph, "fuse-activations")
    assert kinds(graph) == ["core.conv2d"]
    conv = graph.ops_of_kind("core.conv2d")[0]
    assert conv.attr("activation") == expected and conv.loc == "conv"
    np.testing.assert_array_equal(interpreter.run(graph, feed)["y"], before)


@pytest.mark.parametrize("case", ["clamp_not_tflite", "producer_has_other_use", "producer_already_fused"])
def test_activation_stays_when_it_cannot_fold(case):
    if case == "clamp_not_tflite":
        graph = conv_graph("core.clamp", {"min": 0.0, "max": 5.0})
    elif case == "producer_has_other_use":
        graph = conv_graph("core.relu", extra_use=True)
    else:
        graph = conv_graph("core.relu", producer_activation="relu6")
    before = kinds(graph)
    run_pipeline(graph, "fuse-activations")
    assert kinds(graph) == before


def test_activation_after_a_non_fusing_op_stays():
    graph = Graph()
    x = graph.add_input("x", TensorType((2, 4), "f32"))
    soft = graph.create("core.softmax", [x], {"axis": 1})
    relu = graph.create("core.relu", [soft.result])
    graph.set_outputs([relu.result], ["y"])
    run_pipeline(graph, "fuse-activations")
    assert kinds(graph) == ["core.softmax", "core.relu"]
