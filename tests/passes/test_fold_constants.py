"""The ``fold-constants`` pass: folds constant-only ops and the exporters' shape chains, bounded in size,
re-infers types it makes known, and keeps every model's outputs."""

from __future__ import annotations

import numpy as np
import pytest

from cleanup_support import (apply, assert_keeps_meaning, assert_model_keeps_meaning, constant_only_ops, f32, kinds,
                             new_graph, random_feeds)
from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.onnx_import import import_onnx
from qcompiler.types import TensorType


def test_folds_arithmetic_keeping_name_and_loc():
    graph = new_graph()
    x = graph.add_input("x", f32(2, 3))
    a = graph.const(np.arange(6, dtype=np.float32).reshape(2, 3), "a")
    b = graph.const(np.full((2, 3), 0.5, np.float32), "b")
    total = graph.create("onnx.Add", [a, b], result_types=[f32(2, 3)], loc="/add", result_names=["sum"]).result
    scaled = graph.create("onnx.Mul", [total, total], result_types=[f32(2, 3)], loc="/mul",
                          result_names=["square"]).result
    out = graph.create("onnx.Sub", [x, scaled], result_types=[f32(2, 3)], result_names=["out"]).result
    graph.set_outputs([out])
    assert apply(graph, "fold-constants")
    assert kinds(graph) == {"onnx.Sub": 1}
    folded = graph.ops_of_kind("onnx.Sub")[0].operand(1)
    assert folded.name == "square" and folded.producer.loc == "/mul"
    np.testing.assert_array_equal(folded.const_value, (np.arange(6, dtype=np.float32).reshape(2, 3) + 0.5) ** 2)


def shape_chain_graph() -> tuple:
    """x[2,3,4] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])); the Reshape result type unknown."""
    graph = new_graph()
    x = graph.add_input("x", f32(2, 3, 4))
    shape = graph.create("onnx.Shape", [x], result_types=[TensorType((3,), "i64")]).result
    batch = graph.create("onnx.Gather", [shape, graph.const(np.array(0, np.int64))], {"axis": 0},
                         result_types=[TensorType((), "i64")]).result
    batch = graph.create("onnx.Unsqueeze", [batch, graph.const(np.array([0], np.int64))],
                         result_types=[TensorType((1,), "i64")]).result
    target = graph.create("onnx.Concat", [batch, graph.const(np.array([-1], np.int64))], {"axis": 0},
                          result_types=[TensorType((2,), "i64")]).result
    flat = graph.create("onnx.Reshape", [x, target], result_types=[TensorType(("?", "?"), "f32")]).result
    out = graph.create("onnx.Relu", [flat], result_types=[TensorType(("?", "?"), "f32")]).result
    graph.set_outputs([out], ["out"])
    return graph, flat, out


def test_shape_chain_folds_and_types_become_known():
    graph, flat, out = shape_chain_graph()
    feeds = random_feeds(graph)
    reference = run(graph, feeds)
    assert apply(graph, "fold-constants")
    assert kinds(graph) == {"onnx.Reshape": 1, "onnx.Relu": 1}
    reshape = graph.ops_of_kind("onnx.Reshape")[0]
    np.testing.assert_array_equal(reshape.operand(1).const_value, [2, -1])
    assert reshape.result.type == f32(2, 12)
    assert graph.outputs[0].type == f32(2, 12)  # re-inferred downstream too
    np.testing.assert_array_equal(run(graph, feeds)["out"], reference["out"])


def test_shape_with_start_end_and_size():
    graph = new_graph(opset=17)
    x = graph.add_input("x", f32(2, 3, 4, 5))
    middle = graph.create("onnx.Shape", [x], {"start": 1, "end": -1}, result_types=[TensorType((2,), "i64")])
    size = graph.create("onnx.Size", [x], result_types=[TensorType((), "i64")])
    graph.set_outputs([middle.result, size.result], ["middle", "size"])
    assert apply(graph, "fold-constants")
    assert not kinds(graph)
    outputs = run(graph, random_feeds(graph))
    np.testing.assert_array_equal(outputs["middle"], [3, 4])
    assert outputs["size"] == 120


def test_shape_of_dynamic_value_stays():
    graph = new_graph()
    x = graph.add_input("x", TensorType(("batch", 3), "f32"))
    shape = graph.create("onnx.Shape", [x], result_types=[TensorType((2,), "i64")])
    graph.set_outputs([shape.result], ["shape"])
    assert not apply(graph, "fold-constants")
    assert kinds(graph) == {"onnx.Shape": 1}


def expand_graph(elements: int) -> object:
    graph = new_graph()
    x = graph.add_input("x", f32(1))
    big = graph.create("onnx.Expand", [graph.const(np.array([1.5], np.float32)),
                                       graph.const(np.array([elements], np.int64))],
                       result_types=[f32(elements)]).result
    out = graph.create("onnx.Add", [x, big], result_types=[f32(elements)]).result
    graph.set_outputs([out], ["out"])
    return graph


def test_max_elements_bounds_folded_results():
    graph = expand_graph(5000)
    assert not apply(graph, "fold-constants{max-elements=4999}")
    assert kinds(graph)["onnx.Expand"] == 1
    assert apply(graph, "fold-constants{max-elements=5000}")
    assert "onnx.Expand" not in kinds(graph)


def test_constant_of_shape_over_the_bound_becomes_a_splat():
    graph = new_graph()
    x = graph.add_input("x", f32(300, 400))
    filled = graph.create("onnx.ConstantOfShape", [graph.const(np.array([300, 400], np.int64))],
                          {"value": np.array([0.25], np.float32)}, result_types=[f32(300, 400)]).result
    moved = graph.create("onnx.Transpose", [filled], {"perm": [1, 0]}, result_types=[f32(400, 300)]).result
    back = graph.create("onnx.Reshape", [moved, graph.const(np.array([300, 400], np.int64))],
                        result_types=[f32(300, 400)]).result
    out = graph.create("onnx.Mul", [x, back], result_types=[f32(300, 400)]).result
    graph.set_outputs([out], ["out"])
    folded = assert_keeps_meaning(graph, "fold-constants{max-elements=1000}")
    assert kinds(folded) == {"onnx.Mul": 1}
    splat = folded.ops_of_kind("onnx.Mul")[0].operand(1).const_value
    assert splat.shape == (300, 400) and splat.strides == (0, 0) and splat[0, 0] == np.float32(0.25)


def test_quantized_values_are_left_alone():
    from qcompiler.types import QuantParams

    graph = new_graph()
    x = graph.add_input("x", f32(2))
    quant = TensorType((2,), "i8", QuantParams.per_tensor("i8", 0.5, 0))
    stored = graph.create("const", [], {"value": np.array([2, 4], np.int8)}, [quant]).result
    wide = graph.create("onnx.Cast", [stored], {"to": 1}, result_types=[f32(2)]).result
    out = graph.create("onnx.Add", [x, wide], result_types=[f32(2)]).result
    graph.set_outputs([out], ["out"])
    assert not apply(graph, "fold-constants")


def test_shared_models_keep_meaning(shared_model_path):
    folded = assert_model_keeps_meaning(shared_model_path, "fold-constants")
    assert not constant_only_ops(folded)
    assert not folded.ops_of_kind("onnx.Shape", "onnx.ConstantOfShape")


def test_light_models_fold_their_weights(light_model_path):
    graph = import_onnx(light_model_path)
    apply(graph, "fold-constants")
    assert not constant_only_ops(graph)
    assert not graph.ops_of_kind("onnx.ConstantOfShape")


def test_light_models_keep_meaning(light_model_path):
    folded = assert_model_keeps_meaning(light_model_path, "fold-constants")
    assert not constant_only_ops(folded)


def test_bound_does_not_stop_a_transpose_of_a_big_weight():
    graph = new_graph()
    x = graph.add_input("x", f32(2, 300))
    weight = graph.const(np.arange(300 * 200, dtype=np.float32).reshape(200, 300) / 1e4)
    turned = graph.create("onnx.Transpose", [weight], {"perm": [1, 0]}, result_types=[f32(300, 200)]).result
    out = graph.create("onnx.MatMul", [x, turned], result_types=[f32(2, 200)]).result
    graph.set_outputs([out], ["out"])
    folded = assert_keeps_meaning(graph, "fold-constants{max-elements=1000}")
    assert kinds(folded) == {"onnx.MatMul": 1}


def test_a_failing_fold_names_the_users_node():
    graph = new_graph()
    data = graph.const(np.arange(6, dtype=np.float32))
    bad = graph.create("onnx.Reshape", [data, graph.const(np.array([4], np.int64))], result_types=[f32(4)],
                       loc="/model/BadReshape").result
    graph.set_outputs([bad], ["out"])
    with pytest.raises(QCompilerError) as caught:
        apply(graph, "fold-constants")
    assert caught.value.location == "/model/BadReshape" and "Reshape" in str(caught.value)
    assert "\n" not in str(caught.value)
