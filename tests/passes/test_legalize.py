"""legalize: every op of the shared and light models becomes core (after fold-constants), outputs stay the
same; single ONNX ops with their attribute variants legalize exactly (onnxruntime is the oracle); ops without
a core form stay onnx.*, or fail with every loc listed under strict=true."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from qcompiler import interpreter
from qcompiler.errors import UnsupportedOpError
from qcompiler.onnx_import import import_onnx

from core_pass_checks import (assert_close, digits_feeds, import_model, kinds, onnx_model, onnxruntime_outputs,
                              randomize_weights, random_feeds, run_pipeline, transform_keeps_outputs)

RNG = np.random.default_rng(7)


def rand(*shape: int) -> np.ndarray:
    """Random float32 data."""
    return RNG.standard_normal(shape).astype(np.float32)


def test_shared_models_become_core(shared_model_path, digits):
    graph = import_onnx(shared_model_path)
    run_pipeline(graph, "fold-constants")
    transform_keeps_outputs(graph, "legalize{strict=true}", digits_feeds(graph, digits))
    assert all(kind.startswith("core.") for kind in kinds(graph)), kinds(graph)


def test_light_models_become_core(light_model_path):
    graph = import_onnx(light_model_path)
    run_pipeline(graph, "fold-constants")
    randomize_weights(graph)
    transform_keeps_outputs(graph, "legalize{strict=true}", random_feeds(graph))
    assert all(kind.startswith("core.") for kind in kinds(graph)), kinds(graph)


def node(op_type: str, inputs: list, **attrs):
    """An ONNX node producing ``y``."""
    return helper.make_node(op_type, inputs, ["y"], name=f"my_{op_type.lower()}", **attrs)


# (id, nodes, input shapes, initializers, opset, expected core kinds)
CASES = [
    ("conv_same_upper_stride2", [node("Conv", ["x", "w", "b"], auto_pad="SAME_UPPER", strides=[2, 2])],
     {"x": (1, 3, 9, 8)}, {"w": rand(4, 3, 3, 3), "b": rand(4)}, 17, ["core.conv2d"]),
    ("conv_same_lower", [node("Conv", ["x", "w"], auto_pad="SAME_LOWER", strides=[1, 2])],
     {"x": (1, 3, 9, 8)}, {"w": rand(4, 3, 2, 4)}, 17, ["core.conv2d"]),
    ("conv_dilated", [node("Conv", ["x", "w"], dilations=[2, 1], pads=[2, 1, 1, 0])],
     {"x": (1, 3, 9, 8)}, {"w": rand(4, 3, 3, 2)}, 17, ["core.conv2d"]),
    ("conv_valid", [node("Conv", ["x", "w"], auto_pad="VALID", strides=[2, 1])],
     {"x": (1, 2, 7, 7)}, {"w": rand(5, 2, 3, 3)}, 11, ["core.conv2d"]),
    ("conv_grouped", [node("Conv", ["x", "w", "b"], group=2, pads=[1, 0, 1, 2])],
     {"x": (2, 4, 6, 6)}, {"w": rand(6, 2, 3, 3), "b": rand(6)}, 17, ["core.conv2d"]),
    ("conv_depthwise_multiplier2", [node("Conv", ["x", "w", "b"], group=3, pads=[1, 1, 1, 1], strides=[2, 2])],
     {"x": (1, 3, 8, 8)}, {"w": rand(6, 1, 3, 3), "b": rand(6)}, 17, ["core.depthwise_conv2d"]),
    ("maxpool_ceil_mode", [node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)],
     {"x": (1, 2, 8, 8)}, {}, 17, ["core.max_pool2d"]),
    ("maxpool_same_upper", [node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")],
     {"x": (1, 2, 7, 7)}, {}, 9, ["core.max_pool2d"]),
    ("avgpool_excluding_pad", [node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
     {"x": (1, 2, 6, 6)}, {}, 17, ["core.avg_pool2d"]),
    ("avgpool_including_pad", [node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                    count_include_pad=1, strides=[2, 2])],
     {"x": (1, 2, 7, 7)}, {}, 17, ["core.pad", "core.avg_pool2d"]),
    ("global_average_pool", [node("GlobalAveragePool", ["x"])], {"x": (2, 3, 5, 4)}, {}, 17, ["core.mean"]),
    ("global_max_pool", [node("GlobalMaxPool", ["x"])], {"x": (2, 3, 5, 4)}, {}, 17, ["core.reduce_max"]),
    ("reduce_mean_axes_input", [node("ReduceMean", ["x", "axes"], keepdims=0)], {"x": (2, 3, 4)},
     {"axes": np.array([-1, 0], np.int64)}, 18, ["core.mean"]),
    ("reduce_sum_all", [node("ReduceSum", ["x"])], {"x": (2, 3, 4)}, {}, 13, ["core.sum"]),
    ("reduce_max_attr", [node("ReduceMax", ["x"], axes=[1])], {"x": (2, 3, 4)}, {}, 13, ["core.reduce_max"]),
    ("gemm_transposes_alpha_beta", [node("Gemm", ["x", "w", "c"], transA=1, transB=0, alpha=0.5, beta=2.0)],
     {"x": (6, 3)}, {"w": rand(6, 5), "c": rand(1, 5)}, 17, ["core.transpose", "core.fully_connected"]),
    ("gemm_full_c", [node("Gemm", ["x", "w", "c"], transB=1)], {"x": (3, 6)}, {"w": rand(5, 6), "c": rand(3, 5)},
     17, ["core.fully_connected", "core.add"]),
    ("gemm_no_c", [node("Gemm", ["x", "w"], alpha=3.0)], {"x": (3, 6)}, {"w": rand(6, 5)}, 11,
     ["core.fully_connected"]),
    ("matmul_const", [node("MatMul", ["x", "w"])], {"x": (2, 3, 6)}, {"w": rand(6, 4)}, 17,
     ["core.fully_connected"]),
    ("matmul_batched", [node("MatMul", ["x", "z"])], {"x": (2, 3, 6), "z": (2, 6, 4)}, {}, 17,
     ["core.batch_matmul"]),
    ("clip_relu6_inputs", [node("Clip", ["x", "lo", "hi"])], {"x": (2, 8)},
     {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}, 13, ["core.relu6"]),
    ("clip_relu_min_only", [node("Clip", ["x", "lo"])], {"x": (2, 8)}, {"lo": np.array(0, np.float32)}, 13,
     ["core.relu"]),
    ("clip_attrs_opset9", [node("Clip", ["x"], min=-1.0, max=1.0)], {"x": (2, 8)}, {}, 9, ["core.relu_n1_to_1"]),
    ("clip_clamp", [node("Clip", ["x", "lo", "hi"])], {"x": (2, 8)},
     {"lo": np.array(-0.5, np.float32), "hi": np.array(0.25, np.float32)}, 13, ["core.clamp"]),
    ("softmax_opset11_coerced", [node("Softmax", ["x"], axis=1)], {"x": (2, 3, 4)}, {}, 11,
     ["core.reshape", "core.softmax", "core.reshape"]),
    ("softmax_opset13_axis", [node("Softmax", ["x"], axis=-2)], {"x": (2, 3, 4)}, {}, 13, ["core.softmax"]),
    ("sum_of_three", [node("Sum", ["x", "z", "x"])], {"x": (2, 3), "z": (3,)}, {}, 13, ["core.add", "core.add"]),
    ("binary_ops", [helper.make_node("Sub", ["x", "z"], ["s"]), helper.make_node("Div", ["s", "z"], ["d"]),
                    helper.make_node("Max", ["d", "x"], ["m"]), node("Mul", ["m", "z"])],
     {"x": (2, 3), "z": (2, 3)}, {}, 13, ["core.sub", "core.div", "core.maximum", "core.mul"]),
    ("prelu_per_channel", [node("PRelu", ["x", "slope"])], {"x": (2, 3, 4, 4)}, {"slope": rand(3, 1, 1)}, 17,
     ["core.prelu"]),
    ("reciprocal", [node("Reciprocal", ["x"])], {"x": (2, 3)}, {}, 13, ["core.div"]),
    ("unary_chain", [helper.make_node("Sigmoid", ["x"], ["a"]), helper.make_node("Tanh", ["a"], ["b"]),
                     helper.make_node("HardSwish", ["b"], ["c"]),
                     helper.make_node("LeakyRelu", ["c"], ["d"], alpha=0.3),
                     helper.make_node("Erf", ["d"], ["e"]), node("Abs", ["e"])],
     {"x": (4, 5)}, {}, 17,
     ["core.sigmoid", "core.tanh", "core.hard_swish", "core.leaky_relu", "core.erf", "core.abs"]),
    ("flatten", [node("Flatten", ["x"], axis=2)], {"x": (2, 3, 4, 5)}, {}, 17, ["core.reshape"]),
    ("squeeze_unsqueeze", [helper.make_node("Unsqueeze", ["x", "ax"], ["u"]), node("Squeeze", ["u", "ax"])],
     {"x": (2, 3)}, {"ax": np.array([0, 3], np.int64)}, 17, ["core.reshape", "core.reshape"]),
    ("transpose_default", [node("Transpose", ["x"])], {"x": (2, 3, 4)}, {}, 17, ["core.transpose"]),
    ("concat_negative_axis", [node("Concat", ["x", "z"], axis=-1)], {"x": (2, 3), "z": (2, 5)}, {}, 17,
     ["core.concat"]),
    ("pad_inputs", [node("Pad", ["x", "pads", "v"])], {"x": (2, 3)},
     {"pads": np.array([1, 0, 2, 3], np.int64), "v": np.array(0.5, np.float32)}, 17, ["core.pad"]),
    ("pad_attrs_opset9", [node("Pad", ["x"], pads=[0, 1, 1, 0], value=-1.0)], {"x": (2, 3)}, {}, 9, ["core.pad"]),
    ("slice_negative_steps", [node("Slice", ["x", "st", "en", "ax", "sp"])], {"x": (5, 6, 7)},
     {"st": np.array([-1, 1, 100], np.int64), "en": np.array([-100, 5, -8], np.int64),
      "ax": np.array([0, 1, 2], np.int64), "sp": np.array([-2, 3, -1], np.int64)}, 17, ["core.slice"]),
    ("slice_attrs_opset9", [node("Slice", ["x"], starts=[1], ends=[1000], axes=[-1])], {"x": (3, 6)}, {}, 9,
     ["core.slice"]),
    ("gather_negative_axis", [node("Gather", ["x", "i"], axis=-1)], {"x": (3, 6)},
     {"i": np.array([[0, -1], [2, 3]], np.int64)}, 17, ["core.gather"]),
    ("split_uneven", [helper.make_node("Split", ["x", "sz"], ["a", "b"], axis=1), node("Add", ["a", "b"])],
     {"x": (2, 6)}, {"sz": np.array([3, 3], np.int64)}, 17, ["core.split", "core.add"]),
    ("batchnorm_alone", [node("BatchNormalization", ["x", "g", "bb", "m", "v"], epsilon=1e-3)], {"x": (2, 3, 4, 4)},
     {"g": rand(3), "bb": rand(3), "m": rand(3), "v": np.abs(rand(3)) + 0.5}, 15, ["core.mul", "core.add"]),
    ("layer_norm", [node("LayerNormalization", ["x", "g", "bb"], epsilon=1e-3)], {"x": (2, 3, 8)},
     {"g": rand(8), "bb": rand(8)}, 17, ["core.layer_norm"]),
    ("lrn", [node("LRN", ["x"], size=3, alpha=0.01, beta=0.6, bias=1.5)], {"x": (1, 6, 3, 3)}, {}, 13,
     ["core.local_response_norm"]),
    ("expand", [node("Expand", ["x", "s"])], {"x": (3, 1)}, {"s": np.array([2, 3, 4], np.int64)}, 17,
     ["core.broadcast_to"]),
    ("identity_dropout", [helper.make_node("Identity", ["x"], ["i"]), node("Dropout", ["i"])], {"x": (2, 3)}, {},
     13, []),
    ("cast_to_int", [node("Cast", ["x"], to=6)], {"x": (2, 3)}, {}, 17, ["core.cast"]),
]


@pytest.mark.parametrize("nodes,inputs,initializers,opset,expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_single_ops_legalize_exactly(nodes, inputs, initializers, opset, expected):
    model = onnx_model(nodes, inputs, initializers, opset)
    feeds = {name: rand(*shape) * 3 for name, shape in inputs.items()}
    expected_outputs = onnxruntime_outputs(model, feeds)
    graph = import_model(model)
    run_pipeline(graph, "legalize{strict=true}")
    assert kinds(graph) == expected
    got = interpreter.run(graph, feeds)
    for (name, array), reference in zip(got.items(), expected_outputs):
        assert array.dtype == reference.dtype
        assert_close(array, reference, name, rtol=1e-5)
    assert all(op.loc is not None for op in graph if op.kind != "const")


def test_ops_without_core_form_stay_onnx_and_strict_lists_them():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv1d"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Tile", ["r", "reps"], ["y"], name="tile")]
    model = onnx_model(nodes, {"x": (1, 2, 9)}, {"w": rand(3, 2, 3), "reps": np.array([1, 2, 1], np.int64)})
    graph = import_model(model)
    run_pipeline(graph, "legalize")
    assert kinds(graph) == ["onnx.Conv", "core.relu", "onnx.Tile"]
    with pytest.raises(UnsupportedOpError) as error:
        run_pipeline(import_model(model), "legalize{strict=true}")
    message = str(error.value)
    assert "2 op(s) have no core form" in message and "onnx.Conv at 'conv1d'" in message
    assert "onnx.Tile at 'tile'" in message and "\n" not in message
    assert error.value.location == "conv1d"


def test_core_ops_keep_the_onnx_node_location():
    model = onnx_model([helper.make_node("Gemm", ["x", "w"], ["y"], name="/classifier/Gemm", transA=1)],
                       {"x": (6, 3)}, {"w": rand(6, 5)})
    graph = import_model(model)
    run_pipeline(graph, "legalize")
    assert {op.loc for op in graph if op.kind.startswith("core.")} == {"/classifier/Gemm"}
