"""The ``propagate-ranges`` pass: each rule on a small graph, the data-free mode (sound intervals checked by
running random inputs, statistics against calibration on digits_cnn), warnings, errors, round trip."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.ir import Graph
from qcompiler.pass_manager import PassManager
from qcompiler.passes.calibrate import calibrate
from qcompiler.passes.data_free_ranges import clipped_normal_moments, data_free_ranges
from qcompiler.passes.propagate_ranges import DataFreeRangesWarning, propagate_ranges
from qcompiler.text import parse_graph, print_graph
from qcompiler.value_ranges import get_range, set_range

from calibration_support import prepared_graph, range_tensors, ranges_by_position, upsampled
from cleanup_support import f32


def ranged(graph: Graph, value, low: float, high: float):
    """Record ``[low, high]`` on ``value`` and return it."""
    set_range(graph, value, (low, high))
    return value


def quietly(graph: Graph, **options) -> bool:
    """propagate_ranges without data-free warnings reaching the test output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataFreeRangesWarning)
        return propagate_ranges(graph, **options)


def test_data_movement_takes_the_input_range() -> None:
    graph = Graph()
    x = ranged(graph, graph.add_input("x", f32(1, 4, 4, 2)), -1.0, 3.0)
    r = ranged(graph, graph.create("core.reshape", [x], {"shape": [1, 32]}).result, -0.5, 2.0)
    t = ranged(graph, graph.create("core.transpose", [r], {"perm": [1, 0]}).result, -0.5, 2.0)
    s = ranged(graph, graph.create("core.slice", [t], {"begin": [0, 0], "end": [8, 1], "strides": [1, 1]}).result,
               0.0, 1.0)
    p = ranged(graph, graph.create("core.max_pool2d", [x], {"kernel": [2, 2], "strides": [2, 2]}).result, 0.0, 3.0)
    y = ranged(graph, graph.create("core.add", [s, s]).result, 0.0, 2.0)
    graph.set_outputs([y, p])
    assert propagate_ranges(graph)
    for value in (x, r, t, s, p):
        assert get_range(graph, value) == (-1.0, 3.0)
    assert get_range(graph, y) == (0.0, 2.0)  # compute ops keep their own range
    assert not propagate_ranges(graph)  # a fixed point


def test_concat_inputs_share_the_union_constants_included() -> None:
    graph = Graph()
    a = ranged(graph, graph.add_input("a", f32(1, 2)), -1.0, 1.0)
    b = ranged(graph, graph.add_input("b", f32(1, 2)), 0.0, 5.0)
    c = graph.const(np.array([[7.0, -2.0]], np.float32))
    ra = ranged(graph, graph.create("core.relu", [a]).result, 0.0, 1.0)
    out = ranged(graph, graph.create("core.concat", [ra, b, c], {"axis": 1}).result, -2.0, 7.0)
    graph.set_outputs([out])
    propagate_ranges(graph)
    for value in (ra, b, c, out):
        assert get_range(graph, value) == (-2.0, 7.0)
    assert c.producer.attrs["range"] == [-2.0, 7.0]
    assert get_range(graph, a) == (-1.0, 1.0)  # behind the relu: not tied


def test_pad_fill_value_widens_the_tied_range_back_to_the_producer() -> None:
    graph = Graph()
    x = ranged(graph, graph.add_input("x", f32(1, 2, 2, 1)), -1.0, 1.0)
    y = ranged(graph, graph.create("core.tanh", [x]).result, -0.8, 0.8)
    p = ranged(graph, graph.create("core.pad", [x], {"pads": [0, 1, 1, 0, 0, 1, 1, 0], "value": 4.0}).result,
               -1.0, 4.0)
    graph.set_outputs([p, y])
    propagate_ranges(graph)
    assert get_range(graph, x) == get_range(graph, p) == (-1.0, 4.0)


@pytest.mark.parametrize("activation, calibrated, expected", [
    ("relu", (-1.0, 3.0), (0.0, 3.0)),
    ("relu6", (-2.0, 9.0), (0.0, 6.0)),
    ("relu_n1_to_1", (-3.0, 0.5), (-1.0, 0.5)),
    ("relu", (-3.0, -1.0), (0.0, 0.0)),
    ("none", (-3.0, 9.0), (-3.0, 9.0)),
])
def test_fused_activation_clamps_intersect(activation: str, calibrated, expected) -> None:
    graph = Graph()
    x = ranged(graph, graph.add_input("x", f32(1, 3)), 0.0, 1.0)
    w = graph.const(np.ones((2, 3), np.float32))
    y = ranged(graph, graph.create("core.fully_connected", [x, w], {"activation": activation}).result, *calibrated)
    graph.set_outputs([y])
    propagate_ranges(graph)
    assert get_range(graph, y) == expected


def test_standalone_clamps_intersect() -> None:
    graph = Graph()
    x = ranged(graph, graph.add_input("x", f32(4)), -10.0, 10.0)
    r6 = ranged(graph, graph.create("core.relu6", [x]).result, -1.0, 7.0)
    cl = ranged(graph, graph.create("core.clamp", [x], {"min": -2.0, "max": 3.0}).result, -5.0, 5.0)
    graph.set_outputs([r6, cl])
    propagate_ranges(graph)
    assert get_range(graph, r6) == (0.0, 6.0) and get_range(graph, cl) == (-2.0, 3.0)


@pytest.mark.parametrize("kind, expected", [
    ("core.softmax", (0.0, 255 / 256)), ("core.sigmoid", (0.0, 255 / 256)), ("core.tanh", (-1.0, 127 / 128)),
])
def test_fixed_output_ranges_win_over_tied_values(kind: str, expected) -> None:
    graph = Graph()
    x = ranged(graph, graph.add_input("x", f32(1, 10)), -4.0, 4.0)
    y = ranged(graph, graph.create(kind, [x]).result, 0.01, 0.9)
    r = ranged(graph, graph.create("core.reshape", [y], {"shape": [10]}).result, 0.01, 0.9)
    graph.set_outputs([r])
    propagate_ranges(graph)
    assert get_range(graph, y) == get_range(graph, r) == expected
    # the ranges give TFLite's fixed parameters: scale 1/256 zero point -128, or scale 1/128 zero point 0
    low, high = expected
    scale = (high - low) / 255
    assert scale == (1 / 256 if low == 0 else 1 / 128)
    assert -128 - round(low / scale) == (-128 if low == 0 else 0)


def test_split_results_share_the_input_range() -> None:
    graph = Graph()
    x = ranged(graph, graph.add_input("x", f32(4, 2)), -3.0, 3.0)
    split = graph.create("core.split", [x], {"axis": 0, "sizes": [2, 2]})
    graph.set_outputs(list(split.results))
    set_range(graph, split.results[0], (-1.0, 1.0))
    set_range(graph, split.results[1], (0.0, 3.0))
    propagate_ranges(graph)
    assert split.attrs["range"] == [[-3.0, 3.0], [-3.0, 3.0]]
    assert parse_graph(print_graph(graph)).ops[-1].attrs["range"] == [[-3.0, 3.0], [-3.0, 3.0]]


def test_missing_range_is_an_error_naming_the_value() -> None:
    graph = Graph()
    x = ranged(graph, graph.add_input("x", f32(2)), 0.0, 1.0)
    y = graph.create("core.exp", [x], loc="my_exp", result_names=["e"]).result
    graph.set_outputs([y])
    with pytest.raises(QCompilerError, match=r"my_exp: %e \(core.exp\) has no range: run calibrate first"):
        propagate_ranges(graph)
    graph.attrs.clear()
    with pytest.raises(QCompilerError, match="graph input 'x' has no range"):
        propagate_ranges(graph)
    with pytest.raises(QCompilerError, match="input-range must be"):
        propagate_ranges(graph, data_free=True, input_range=(1.0, 0.0))


def fc_graph() -> Graph:
    """y = relu(x @ [[1, -2]]^T + 0.5) on a 1x2 input; z = exp(y) * 2; w = concat(z, y)."""
    graph = Graph()
    x = graph.add_input("x", f32(1, 2))
    w = graph.const(np.array([[1.0, -2.0]], np.float32))
    b = graph.const(np.array([0.5], np.float32))
    fc = graph.create("core.fully_connected", [x, w, b], result_names=["fc"]).result
    y = graph.create("core.relu", [fc], result_names=["y"]).result
    z = graph.create("core.mul", [graph.create("core.exp", [y]).result, graph.const(np.float32(2.0))]).result
    graph.set_outputs([graph.create("core.concat", [z, y], {"axis": 1}).result])
    return graph


def test_data_free_intervals_by_hand_and_sound() -> None:
    graph = fc_graph()
    out = io.StringIO()
    with pytest.warns(DataFreeRangesWarning, match="ranges are data-free"):
        PassManager("propagate-ranges{data-free=true input-range=0.0,1.0 sigmas=6.0}", out=out).run(graph)
    assert "warning: propagate-ranges: ranges are data-free" in out.getvalue()
    fc, y = (v for v in graph.values() if v.name in ("fc", "y"))
    # |w| sums: 0.5 + [0, 1] * 1 + [0, 1] * -2 = [-1.5, 1.5]; the 6-sigma estimate is wider, the interval wins
    assert get_range(graph, fc) == (-1.5, 1.5)
    # y = relu(fc) in [0, 1.5]; z = 2 exp(y) in [2, 2 e^1.5]; the concat ties y to its union with z
    assert get_range(graph, y) == pytest.approx((0.0, 2 * math.exp(1.5)), rel=1e-6)
    assert get_range(graph, graph.outputs[0]) == get_range(graph, y)
    # every value of random inputs in the input range falls inside its data-free range
    rng = np.random.default_rng(0)

    def observe(value, array) -> None:
        low, high = get_range(graph, value)
        assert low - 1e-5 <= array.min() and array.max() <= high + 1e-5, value

    for _ in range(200):
        run(graph, {"x": rng.uniform(0, 1, (1, 2)).astype(np.float32)}, observe=observe)


def test_data_free_keeps_recorded_ranges_and_uses_recorded_inputs() -> None:
    graph = fc_graph()
    set_range(graph, graph.inputs[0], (0.0, 0.5))
    fc = next(v for v in graph.values() if v.name == "fc")
    set_range(graph, fc, (-0.25, 0.75))
    quietly(graph, data_free=True, input_range=(-9.0, 9.0))
    assert get_range(graph, graph.inputs[0]) == (0.0, 0.5)
    assert get_range(graph, fc) == (-0.25, 0.75)
    y = next(v for v in graph.values() if v.name == "y")
    assert get_range(graph, y) == pytest.approx((0.0, 2 * math.exp(0.75)), rel=1e-6)  # relu, then the concat


def test_clipped_normal_moments_against_sampling() -> None:
    rng = np.random.default_rng(1)
    samples = rng.normal(0.3, 1.7, 2_000_000)
    for bounds in ((0.0, math.inf), (0.0, 6.0), (-1.0, 1.0), (-math.inf, math.inf)):
        mean, variance = clipped_normal_moments(np.array([0.3]), np.array([1.7]), bounds)
        clipped = np.clip(samples, *bounds)
        assert mean[0] == pytest.approx(clipped.mean(), abs=3e-3)
        assert variance[0] == pytest.approx(clipped.var(), rel=5e-3)


@pytest.fixture(scope="module")
def cnn(shared_models_dir: Path) -> Graph:
    return prepared_graph(shared_models_dir / "digits_cnn.onnx")


def test_data_free_covers_calibration_on_digits_cnn(cnn: Graph, digits) -> None:
    calibrated = cnn.clone()
    calibrate(calibrated, {"input": upsampled(digits["x_calib"])}, "minmax")
    data_free = cnn.clone()
    with pytest.warns(DataFreeRangesWarning):
        assert PassManager("propagate-ranges{data-free=true}", verify_each=True, out=io.StringIO()).run(data_free)
    pairs = list(zip(ranges_by_position(calibrated), ranges_by_position(data_free)))
    assert pairs and all(free is not None for _, (_, free) in pairs)
    covered = [free[0] <= seen[0] + 1e-6 and free[1] >= seen[1] - 1e-6 for (_, seen), (_, free) in pairs]
    assert sum(covered) >= 0.8 * len(pairs)
    for (name, seen), (_, free) in pairs:  # and are not uselessly wide (the sound interval alone is 1000x)
        assert free[1] - free[0] <= 10 * (seen[1] - seen[0]), name


def test_propagated_ranges_round_trip_and_feed_the_pipeline(cnn: Graph, digits) -> None:
    graph = cnn.clone()
    calibrate(graph, {"input": upsampled(digits["x_calib"][:50])}, "percentile", percentile=99.9)
    changed = PassManager("propagate-ranges", verify_each=True).run(graph)
    assert changed  # the max pool is tied to its producer
    pool = graph.ops_of_kind("core.max_pool2d")[0]
    assert get_range(graph, pool.result) == get_range(graph, pool.operand(0))
    text = print_graph(graph)
    parsed = parse_graph(text)
    assert print_graph(parsed) == text
    assert not PassManager("propagate-ranges").run(parsed)
    assert all(get_range(parsed, v) is not None for v in range_tensors(parsed))


def test_data_free_ranges_without_rule_are_left_out() -> None:
    graph = Graph()
    x = graph.add_input("x", f32(2, 2))
    y = graph.create("core.local_response_norm", [graph.create("core.reshape", [x], {"shape": [1, 2, 2, 1]}).result],
                     loc="lrn").result
    graph.set_outputs([y])
    found = data_free_ranges(graph, (0.0, 1.0))
    assert y not in found and len(found) == 2
    with pytest.raises(QCompilerError, match="lrn: .*data-free mode has no interval rule for core.local_response_norm"):
        quietly(graph, data_free=True)


def test_data_free_uses_batch_norm_statistics_still_in_the_graph() -> None:
    graph = Graph()
    x = graph.add_input("x", f32(1, 2, 3, 3))
    gamma, beta = np.array([2.0, 0.5], np.float32), np.array([1.0, -1.0], np.float32)
    mean, var = np.array([0.0, 4.0], np.float32), np.array([1.0, 4.0], np.float32)
    bn = graph.create("onnx.BatchNormalization", [x] + [graph.const(a) for a in (gamma, beta, mean, var)],
                      {"epsilon": 0.0}, result_types=[f32(1, 2, 3, 3)]).result
    graph.set_outputs([bn])
    found = data_free_ranges(graph, (-10.0, 10.0), sigmas=6.0)
    # exact image of [-10, 10]: channel 0 in [-19, 21], channel 1 in [-4.5, 0.5]; statistics: beta +- 6 |gamma|
    # gives [-11, 13] and [-4, 2]; the range is the statistics' inside the exact image
    assert found[bn] == (-11.0, 13.0)
