"""``layer_weights.matches`` and the ``only``/``exclude`` selection: an op is picked by its location or a
result name, and a missing location or name (None) never matches anything."""

from __future__ import annotations

import numpy as np

from qcompiler.ir import Graph
from qcompiler.layer_weights import layer_weights, matches
from qcompiler.types import TensorType


def two_dense_layers() -> Graph:
    """x -> fully_connected (loc "/fc1", result "h") -> fully_connected (no location, no result name)."""
    rng = np.random.default_rng(0)
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 4), "f32"))
    h = graph.create("core.fully_connected", [x, graph.const(rng.standard_normal((3, 4)).astype(np.float32)),
                                              graph.const(np.zeros(3, np.float32))], {}, loc="/fc1",
                     result_names=["h"]).result
    y = graph.create("core.fully_connected", [h, graph.const(rng.standard_normal((2, 3)).astype(np.float32)),
                                              graph.const(np.zeros(2, np.float32))], {}).result
    graph.set_outputs([y], ["y"])
    return graph


def test_matches_by_location_or_result_name() -> None:
    first, second = two_dense_layers().ops_of_kind("core.fully_connected")
    assert matches(first, ["/fc1"]) and matches(first, ["h"])
    assert not matches(first, ["/fc2"]) and not matches(first, [])
    assert second.loc is None and not matches(second, ["/fc1", "h"])


def test_none_in_names_matches_no_unnamed_op() -> None:
    first, second = two_dense_layers().ops_of_kind("core.fully_connected")
    assert second.loc is None and second.results[0].name is None
    assert not matches(second, [None])
    assert not matches(first, [None])
    assert matches(first, [None, "/fc1"])


def test_exclude_and_only_holding_none_select_by_the_real_names() -> None:
    graph = two_dense_layers()
    first, second = graph.ops_of_kind("core.fully_connected")
    assert [w.op for w in layer_weights(graph, exclude=[None])] == [first, second]
    assert [w.op for w in layer_weights(graph, only=[None])] == []
    assert [w.op for w in layer_weights(graph, only=[None, "/fc1"])] == [first]
    assert [w.op for w in layer_weights(graph, exclude=[None, "h"])] == [second]
