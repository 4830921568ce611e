"""to-nhwc: image ops become NHWC with re-laid weights, transposes sink and cancel so that none remains
inside a CNN (io-layout=nchw: only right after inputs / before outputs; io-layout=nhwc: none at all, the
interface changes), and the models compute what they computed before."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from qcompiler import interpreter
from qcompiler.onnx_import import import_onnx

from core_pass_checks import (assert_close, digits_feeds, import_model, inner_transposes, kinds, onnx_model,
                              onnxruntime_outputs, randomize_weights, random_feeds, run_pipeline,
                              transform_keeps_outputs)

RNG = np.random.default_rng(11)


def rand(*shape: int) -> np.ndarray:
    """Random float32 data."""
    return RNG.standard_normal(shape).astype(np.float32)


def nhwc_feed(name: str, array: np.ndarray) -> np.ndarray:
    """A 4-D NCHW feed in NHWC."""
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1)) if array.ndim == 4 else array


def image_layouts(graph) -> set:
    """The layouts of the graph's image ops."""
    return {op.attr("layout") for op in graph if op.kind in ("core.conv2d", "core.depthwise_conv2d",
                                                             "core.max_pool2d", "core.avg_pool2d")}


@pytest.mark.parametrize("io_layout", ["nchw", "nhwc"])
def test_shared_models_keep_outputs(shared_model_path, digits, io_layout):
    graph = import_onnx(shared_model_path)
    run_pipeline(graph, "fold-constants,legalize")
    feeds = digits_feeds(graph, digits)
    transform_keeps_outputs(graph, f"to-nhwc{{io-layout={io_layout}}}", feeds,
                            nhwc_feed if io_layout == "nhwc" else None)
    assert image_layouts(graph) <= {"NHWC"}
    if shared_model_path.stem in ("digits_cnn", "digits_mobilenet", "digits_mlp"):
        transposes = graph.ops_of_kind("core.transpose")
        assert not inner_transposes(graph)
        if io_layout == "nhwc":
            assert not transposes and graph.inputs[0].type.shape[3] == 1  # NHWC, one channel


def test_digits_cnn_weights_are_relaid_at_compile_time():
    graph = import_onnx("/work/shared/models/digits_cnn.onnx")
    run_pipeline(graph, "fold-constants,legalize,to-nhwc{io-layout=nhwc}")
    for conv in graph.ops_of_kind("core.conv2d"):
        weight = conv.operand(1)
        assert weight.is_const and conv.attr("layout") == "NHWC"
        assert weight.type.shape[3] == conv.operand(0).type.shape[3]  # OHWI: I last
    assert "core.transpose" not in kinds(graph)


def test_light_models_without_own_transpose_keep_none_inside(light_model_path):
    graph = import_onnx(light_model_path)
    run_pipeline(graph, "fold-constants")
    had_transpose = bool(graph.ops_of_kind("onnx.Transpose"))
    randomize_weights(graph)
    transform_keeps_outputs(graph, "legalize,to-nhwc", random_feeds(graph))
    assert image_layouts(graph) == {"NHWC"}
    if not had_transpose:
        assert not inner_transposes(graph), [op.loc for op in inner_transposes(graph)]


def run_against_onnxruntime(model, pipeline: str, io_nhwc: bool = False):
    """Import ``model``, run ``pipeline``, and compare with onnxruntime on random inputs; returns the graph."""
    feeds = {v.name: rand(*[d.dim_value for d in v.type.tensor_type.shape.dim]) for v in model.graph.input}
    expected = onnxruntime_outputs(model, feeds)
    graph = import_model(model)
    run_pipeline(graph, pipeline)
    if io_nhwc:
        feeds = {name: nhwc_feed(name, array) for name, array in feeds.items()}
    got = interpreter.run(graph, feeds)
    for (name, array), reference in zip(got.items(), expected):
        assert_close(array, nhwc_feed(name, reference) if io_nhwc else reference, name, rtol=1e-5)
    return graph


def test_classifier_flatten_folds_the_layout_into_the_weight():
    # conv -> relu -> flatten of a 3x3 map -> gemm: the NCHW flatten order moves into the gemm's weight
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fb"], ["y"], transB=1)]
    model = onnx_model(nodes, {"x": (1, 3, 6, 6)}, {"w": rand(4, 3, 3, 3), "fc": rand(5, 36), "fb": rand(5)})
    graph = run_against_onnxruntime(model, "legalize,to-nhwc{io-layout=nhwc}", io_nhwc=True)
    assert kinds(graph) == ["core.conv2d", "core.relu", "core.reshape", "core.fully_connected"]


def test_transposes_sink_through_layout_agnostic_ops():
    # per-channel mul/add constants, concat, pad, mean without keepdims, softmax over channels
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["a", "scale"], ["m"]), helper.make_node("Add", ["m", "shift"], ["s"]),
             helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Concat", ["s", "p"], ["cat"], axis=1),
             helper.make_node("Sigmoid", ["cat"], ["sig"]),
             helper.make_node("Pad", ["sig", "pads"], ["pad"]),
             helper.make_node("Conv", ["pad", "w2"], ["b"], group=6),
             helper.make_node("Softmax", ["b"], ["soft"], axis=1),
             helper.make_node("ReduceMean", ["soft", "axes"], ["y"], keepdims=0)]
    initializers = {"w1": rand(4, 2, 3, 3), "scale": rand(4, 1, 1), "shift": rand(1, 4, 1, 1),
                    "pads": np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "w2": rand(6, 1, 2, 2),
                    "axes": np.array([2, 3], np.int64)}
    model = onnx_model(nodes, {"x": (1, 2, 5, 5)}, initializers, opset=18)
    graph = run_against_onnxruntime(model, "legalize,to-nhwc")
    assert not inner_transposes(graph)
    graph = run_against_onnxruntime(model, "legalize,to-nhwc{io-layout=nhwc}", io_nhwc=True)
    assert "core.transpose" not in kinds(graph)


def test_split_slice_and_residual_add_with_an_nhwc_interface():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Split", ["c", "sizes"], ["a", "b"], axis=1),
             helper.make_node("Slice", ["a", "st", "en", "ax"], ["sa"]),
             helper.make_node("Slice", ["b", "st", "en", "ax"], ["sb"]),
             helper.make_node("Add", ["sa", "sb"], ["y"])]
    initializers = {"w": rand(6, 3, 3, 3), "sizes": np.array([3, 3], np.int64), "st": np.array([1, 0], np.int64),
                    "en": np.array([4, 5], np.int64), "ax": np.array([2, 3], np.int64)}
    model = onnx_model(nodes, {"x": (1, 3, 5, 5)}, initializers)
    graph = run_against_onnxruntime(model, "legalize,to-nhwc{io-layout=nhwc}", io_nhwc=True)
    assert "core.transpose" not in kinds(graph)


def test_a_non_constant_weight_is_transposed_in_the_graph():
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 1, 0, 1])]
    model = onnx_model(nodes, {"x": (1, 2, 4, 4), "w": (3, 2, 2, 2)}, {})
    graph = run_against_onnxruntime(model, "legalize,to-nhwc")
    weight = graph.ops_of_kind("core.conv2d")[0].operand(1)
    assert weight.producer.kind == "core.transpose" and weight.producer.attr("perm") == [0, 2, 3, 1]


def test_nchw_io_keeps_the_interface_types():
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    model = onnx_model(nodes, {"x": (1, 2, 4, 4)}, {"w": rand(3, 2, 3, 3)})
    graph = run_against_onnxruntime(model, "legalize,to-nhwc")
    assert graph.inputs[0].type.shape == (1, 2, 4, 4) and graph.outputs[0].type.shape == (1, 3, 4, 4)
    assert [op.kind for op in graph.ops_of_kind("core.transpose")] == ["core.transpose"] * 2
    assert not inner_transposes(graph)


def test_a_symbolic_batch_dim_is_kept():
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]
    model = onnx_model(nodes, {"x": ("N", 3, 8, 8)}, {"w": rand(4, 3, 3, 3), "b": rand(4)})
    feeds = {"x": rand(2, 3, 8, 8)}
    expected = onnxruntime_outputs(model, feeds)[0]
    graph = import_model(model)
    run_pipeline(graph, "legalize{strict=true},to-nhwc{io-layout=nhwc}")
    assert graph.inputs[0].type.shape == ("N", 8, 8, 3) and graph.outputs[0].type.shape == ("N", 2, 2, 4)
    assert "core.transpose" not in kinds(graph)
    got = interpreter.run(graph, {"x": nhwc_feed("x", feeds["x"])})["y"]
    assert_close(got, nhwc_feed("y", expected), "y", rtol=1e-5)
