"""The ``dce`` pass: removes dead ops transitively, keeps graph inputs and outputs, keeps the model's meaning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qcompiler.interpreter import run
from qcompiler.ir import Graph
from qcompiler.pass_manager import PassManager, get_pass
from qcompiler.types import TensorType
from qcompiler.verifier import verify

F32 = TensorType((2, 3), "f32")
X = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)


def graph_with_dead_branch() -> Graph:
    """y = Neg(x); a dead chain Abs -> Mul(., const) -> Relu hangs off x; an unused input is declared."""
    graph = Graph()
    x = graph.add_input("x", F32)
    graph.add_input("unused", F32)
    y = graph.create("onnx.Neg", [x], result_types=[F32]).result
    dead = graph.create("onnx.Abs", [x], result_types=[F32]).result
    dead = graph.create("onnx.Mul", [dead, graph.const(np.ones((2, 3), np.float32))], result_types=[F32]).result
    graph.create("onnx.Relu", [dead], result_types=[F32])
    graph.set_outputs([y], ["y"])
    return graph


def test_removes_dead_chain_transitively_in_one_run() -> None:
    graph = graph_with_dead_branch()
    assert get_pass("dce")().run(graph)
    verify(graph)
    assert [op.kind for op in graph] == ["onnx.Neg"]
    assert [v.name for v in graph.inputs] == ["x", "unused"]  # inputs are the user's interface
    assert not get_pass("dce")().run(graph)  # nothing left to do


def test_keeps_outputs_even_when_otherwise_unused() -> None:
    graph = Graph()
    x = graph.add_input("x", F32)
    a = graph.create("onnx.Neg", [x], result_types=[F32]).result
    b = graph.create("onnx.Abs", [a], result_types=[F32]).result
    graph.set_outputs([b, a, x], ["b", "a", "x"])
    assert not get_pass("dce")().run(graph)
    assert len(graph) == 2


def test_keeps_meaning_on_a_small_graph() -> None:
    graph = graph_with_dead_branch()
    feeds = {"x": X, "unused": X}
    before = run(graph, feeds)
    PassManager("dce", verify_each=True).run(graph)
    after = run(graph, feeds)
    assert list(after) == ["y"]
    np.testing.assert_array_equal(after["y"], before["y"])


def test_keeps_meaning_on_shared_models(shared_model_path: Path) -> None:
    """Imported models stay equal, output for output, after dce (dead consts of the import go away)."""
    from qcompiler.onnx_import import import_onnx

    graph = import_onnx(str(shared_model_path))
    feeds = {}
    rng = np.random.default_rng(0)
    for value in graph.inputs:
        if not value.type.is_static:
            pytest.skip(f"{shared_model_path.name} has a dynamic input shape")
        feeds[value.name] = rng.standard_normal(value.type.shape).astype(value.type.dtype)
    before = run(graph, feeds)
    dead_const = graph.const(np.zeros(3, np.float32))
    PassManager("dce", verify_each=True).run(graph)
    assert dead_const.producer.is_erased
    after = run(graph, feeds)
    assert list(after) == list(before)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])
