"""GATHER with a scalar (0-d) index exported to TFLite: LiteRT drops the gathered axis as the IR does (a
(2, 4, 3) input gathered at one index along axis 1 gives (2, 3)), for constant and runtime indices, negative
constant indices and every axis."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.backends.tflite import export_tflite
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.interpreter import run
from qcompiler.types import TensorType
from qcompiler.ir import Graph

from tflite_checks import assert_litert_matches, build_graph


@pytest.mark.parametrize("axis, index", [(1, 2), (1, -1), (0, 1), (2, 0), (-1, -3)])
def test_scalar_constant_index_drops_the_axis(axis, index):
    graph = build_graph([(2, 4, 3)], lambda g, x: [g.create("core.gather", [x[0], g.const(np.int64(index))],
                                                            {"axis": axis}).result])
    expected = list(np.take(np.zeros((2, 4, 3)), 0, axis=axis).shape)
    assert list(graph.outputs[0].type.shape) == expected
    assert_litert_matches(graph, rtol=0)  # compares shapes, then values


def test_scalar_runtime_index_drops_the_axis():
    graph = Graph()
    x = graph.add_input("x", TensorType((2, 4, 3), "f32"))
    i = graph.add_input("i", TensorType((), "i32"))
    y = graph.create("core.gather", [x, i], {"axis": 1}).result
    graph.set_outputs([y], ["y"])
    source = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    for index in range(4):
        feeds = {"x": source, "i": np.array(index, np.int32)}
        got = run_tflite(export_tflite(graph), feeds)["y"]
        assert got.shape == (2, 3) and np.array_equal(got, source[:, index, :])
        assert np.array_equal(run(graph, feeds)["y"], got)
