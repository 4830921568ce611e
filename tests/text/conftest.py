"""Helpers for the textual IR tests: exact structural comparison of graphs and the round-trip check."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

from qcompiler.ir import Graph
from qcompiler.text import parse_graph, print_graph


def same_attr(a: Any, b: Any) -> bool:
    """Whether two attribute values are equal with the same Python types (arrays: dtype, shape and bytes)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype == object:
            return a.tolist() == b.tolist()
        return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_attr(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_attr(a[k], b[k]) for k in a)
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def assert_same_graph(expected: Graph, actual: Graph, names_from: dict[int, str] | None = None) -> None:
    """Assert that ``actual`` has the structure of ``expected``: ops, kinds, attrs, types, locs, names, outputs.

    ``names_from`` maps ids of ``expected``'s values to the names ``actual`` should carry (default: their own).
    """
    def names_match(expected_values, actual_values) -> bool:
        for old, new in zip(expected_values, actual_values):
            if names_from is not None:
                if new.name != names_from[id(old)]:
                    return False
            elif new.name != old.name and not (old.name is None and new.name.isdigit()):
                return False  # unnamed values come back numbered
        return len(expected_values) == len(actual_values)

    assert actual.name == expected.name
    assert same_attr(expected.attrs, actual.attrs), (expected.attrs, actual.attrs)
    assert [v.type for v in actual.inputs] == [v.type for v in expected.inputs]
    assert names_match(expected.inputs, actual.inputs)
    position = {}
    for index, value in enumerate(expected.values()):
        position[id(value)] = index
    actual_position = {id(v): i for i, v in enumerate(actual.values())}
    expected_ops, actual_ops = expected.ops, actual.ops
    assert len(actual_ops) == len(expected_ops)
    for old, new in zip(expected_ops, actual_ops):
        assert new.kind == old.kind
        assert new.loc == old.loc
        assert same_attr(old.attrs, new.attrs), (old.kind, old.attrs, new.attrs)
        assert [v.type for v in new.results] == [v.type for v in old.results]
        assert names_match(old.results, new.results), (old.results, new.results)
        assert [None if v is None else actual_position[id(v)] for v in new.operands] == \
               [None if v is None else position[id(v)] for v in old.operands]
    assert [actual_position[id(v)] for v in actual.outputs] == [position[id(v)] for v in expected.outputs]
    assert actual.output_names == expected.output_names


def round_trip(graph: Graph, **options) -> Graph:
    """Print, parse and check: the parsed graph equals ``graph`` and prints to the same text."""
    text = print_graph(graph, **options)
    parsed = parse_graph(text)
    assert print_graph(parsed, **options) == text
    assert_same_graph(graph, parsed)
    return parsed


@pytest.fixture
def assert_round_trip() -> Callable[..., Graph]:
    """The round-trip check as a fixture (test files here are plain modules, not a package)."""
    return round_trip


@pytest.fixture
def same_graph() -> Callable[..., None]:
    """The structural comparison as a fixture."""
    return assert_same_graph


@pytest.fixture
def same_value() -> Callable[[Any, Any], bool]:
    """The exact attribute comparison as a fixture."""
    return same_attr
