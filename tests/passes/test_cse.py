"""The ``cse`` pass: merges ops with the same kind, operands, attributes (arrays by content) and result
types, and constants with equal content; leaves everything else; keeps the model's outputs."""

from __future__ import annotations

import numpy as np

from cleanup_support import apply, assert_keeps_meaning, assert_model_keeps_meaning, f32, kinds, new_graph
from qcompiler.onnx_import import import_onnx


def test_merges_identical_ops_and_chains():
    graph = new_graph()
    x = graph.add_input("x", f32(2, 3))
    first = graph.create("onnx.Relu", [x], result_types=[f32(2, 3)]).result
    second = graph.create("onnx.Relu", [x], result_types=[f32(2, 3)]).result
    a = graph.create("onnx.Neg", [first], result_types=[f32(2, 3)]).result
    b = graph.create("onnx.Neg", [second], result_types=[f32(2, 3)]).result  # equal once the Relus merge
    out = graph.create("onnx.Add", [a, b], result_types=[f32(2, 3)]).result
    graph.set_outputs([out], ["out"])
    merged = assert_keeps_meaning(graph, "cse")
    assert kinds(merged) == {"onnx.Relu": 1, "onnx.Neg": 1, "onnx.Add": 1}
    add = merged.ops_of_kind("onnx.Add")[0]
    assert add.operand(0) is add.operand(1)


def test_different_attributes_or_operand_order_stay_apart():
    graph = new_graph()
    x = graph.add_input("x", f32(2, 3))
    y = graph.add_input("y", f32(2, 3))
    s1 = graph.create("onnx.Softmax", [x], {"axis": 0}, result_types=[f32(2, 3)]).result
    s2 = graph.create("onnx.Softmax", [x], {"axis": 1}, result_types=[f32(2, 3)]).result
    d1 = graph.create("onnx.Sub", [x, y], result_types=[f32(2, 3)]).result
    d2 = graph.create("onnx.Sub", [y, x], result_types=[f32(2, 3)]).result
    graph.set_outputs([s1, s2, d1, d2], ["s1", "s2", "d1", "d2"])
    assert not apply(graph, "cse")
    assert kinds(graph) == {"onnx.Softmax": 2, "onnx.Sub": 2}


def test_constants_merge_by_content():
    graph = new_graph()
    x = graph.add_input("x", f32(4))
    values = [np.array([1, 2, 3, 4], np.float32), np.array([1, 2, 3, 4], np.float32),
              np.array([1, 2, 3, 5], np.float32), np.array([0.0, 0, 0, 0], np.float32),
              np.array([-0.0, 0, 0, 0], np.float32), np.array([1, 2, 3, 4], np.float64).astype(np.float32)]
    outs = [graph.create("onnx.Mul", [x, graph.const(v)], result_types=[f32(4)]).result for v in values]
    graph.set_outputs(outs, [f"o{i}" for i in range(len(outs))])
    merged = assert_keeps_meaning(graph, "cse")
    # [1,2,3,4] three times -> one; 0.0 and -0.0 differ in bits (1/x tells them apart) and stay apart
    assert len(merged.ops_of_kind("const")) == 4
    assert kinds(merged) == {"onnx.Mul": 4}


def test_large_constants_differing_in_one_element_stay_apart():
    graph = new_graph()
    x = graph.add_input("x", f32(100, 100))
    base = np.arange(10000, dtype=np.float32).reshape(100, 100)
    other = base.copy()
    other[37, 41] += 1  # outside any fixed sample of the hash, found by the full comparison
    same = base.copy()
    outs = [graph.create("onnx.Add", [x, graph.const(v)], result_types=[f32(100, 100)]).result
            for v in (base, other, same)]
    graph.set_outputs(outs, ["a", "b", "c"])
    merged = assert_keeps_meaning(graph, "cse")
    assert len(merged.ops_of_kind("const")) == 2 and kinds(merged) == {"onnx.Add": 2}


def test_array_attributes_compare_by_content():
    graph = new_graph()
    shape = graph.const(np.array([2], np.int64))
    filled = [graph.create("onnx.ConstantOfShape", [shape], {"value": np.array([v], np.float32)},
                           result_types=[f32(2)]).result for v in (1.5, 1.5, 2.5)]
    graph.set_outputs(filled, ["a", "b", "c"])
    assert apply(graph, "cse")
    assert kinds(graph) == {"onnx.ConstantOfShape": 2}


def test_multi_result_ops_merge():
    graph = new_graph()
    x = graph.add_input("x", f32(4, 2))
    splits = [graph.create("onnx.Split", [x, graph.const(np.array([1, 3], np.int64))], {"axis": 0},
                           result_types=[f32(1, 2), f32(3, 2)]) for _ in range(2)]
    graph.set_outputs([splits[0].results[0], splits[1].results[1]], ["head", "tail"])
    merged = assert_keeps_meaning(graph, "cse")
    assert kinds(merged) == {"onnx.Split": 1}


def test_shared_models_keep_meaning(shared_model_path):
    assert_model_keeps_meaning(shared_model_path, "cse")


def test_light_models_keep_meaning(light_model_path):
    assert_model_keeps_meaning(light_model_path, "cse")
    original = import_onnx(light_model_path)
    apply(original, "fold-constants")
    before = len(original)
    apply(original, "cse")
    assert len(original) < before  # the light models repeat their shape constants


def test_splat_constants_compare_by_their_element():
    graph = new_graph()
    x = graph.add_input("x", f32(3000, 3000))
    splats = [np.broadcast_to(np.float32(v), (3000, 3000)) for v in (0.5, 0.5, -0.5)]
    outs = [graph.create("onnx.Mul", [x, graph.const(s)], result_types=[f32(3000, 3000)]).result for s in splats]
    graph.set_outputs(outs, ["a", "b", "c"])
    assert apply(graph, "cse")
    assert kinds(graph) == {"onnx.Mul": 2}
    assert sorted(float(op.attrs["value"][0, 0]) for op in graph.ops_of_kind("const")) == [-0.5, 0.5]
