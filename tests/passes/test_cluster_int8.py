"""The ``cluster-int8`` pass: at most k int8 values per weight (or per output channel), zeros kept, identity when
k covers the distinct values, determinism, bias correction, and issue 7's accuracy bound on the digits models
(16 clusters per tensor with bias correction, first layer plain: drop <= 1 point on the 597 test images)."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.pass_manager import get_pass
from qcompiler.quantize import quantize

from compression_support import SHARED, outputs, prepared_model
from quant_support import digits_split, top1

LAYERS = ("q.conv2d", "q.depthwise_conv2d", "q.fully_connected")


def int8_model(name: str) -> tuple[Graph, np.ndarray]:
    """A shared model quantized to int8, and its calibration images."""
    graph = prepared_model(name)
    calibration, _ = digits_split(SHARED, name, "calib")
    return quantize(graph, "int8", {graph.inputs[0].name: calibration}, verify=False), calibration


def weights(graph: Graph) -> list[np.ndarray]:
    return [op.operand(1).const_value for op in graph if op.kind in LAYERS]


@pytest.fixture(scope="module")
def mobilenet() -> tuple[Graph, np.ndarray]:
    return int8_model("digits_mobilenet")


@pytest.mark.parametrize("per_channel", [False, True])
def test_at_most_k_int8_values_and_zeros_kept(mobilenet, per_channel):
    graph, _ = mobilenet
    clustered = graph.clone()
    for op in clustered:  # prune a little first: zeros must stay zeros, nonzeros stay nonzero
        if op.kind in LAYERS:
            w = op.operand(1).const_value
            op.operand(1).producer.attrs["value"] = np.where(np.abs(w) < 20, 0, w).astype(np.int8)
    pruned = weights(clustered)
    assert get_pass("cluster-int8")(clusters=6, per_channel=per_channel).run(clustered)
    for op, before, after in zip([op for op in clustered if op.kind in LAYERS], pruned, weights(clustered)):
        assert after.dtype == np.int8 and after.shape == before.shape
        np.testing.assert_array_equal(after == 0, before == 0)
        axis = 3 if op.kind == "q.depthwise_conv2d" else 0
        slices = np.moveaxis(after, axis, 0) if per_channel else [after]
        assert max(np.unique(s).size for s in slices) <= 6


def test_as_many_clusters_as_values_changes_nothing(mobilenet):
    graph, calibration = mobilenet
    clustered = graph.clone()
    assert not get_pass("cluster-int8")(clusters=256).run(clustered)
    np.testing.assert_array_equal(outputs(clustered, calibration[:20]), outputs(graph, calibration[:20]))


def test_deterministic_and_only_selected_layers(mobilenet):
    graph, _ = mobilenet
    first, second = graph.clone(), graph.clone()
    location = next(op.loc for op in graph if op.kind == "q.depthwise_conv2d")
    for copy in (first, second):
        get_pass("cluster-int8")(clusters=4, only=[location]).run(copy)
    for op, a, b, original in zip([op for op in graph if op.kind in LAYERS], weights(first), weights(second),
                                  weights(graph)):
        np.testing.assert_array_equal(a, b)
        assert np.array_equal(a, original) == (op.loc != location)


def test_bias_correction_removes_the_mean_shift():
    graph, calibration = int8_model("digits_cnn")
    reference = outputs(graph, calibration).astype(np.float64)
    shifts = []
    for corrected in (False, True):
        clustered = graph.clone()
        cluster = get_pass("cluster-int8")(clusters=16)
        if corrected:
            cluster.calibration = {graph.inputs[0].name: calibration}
        cluster.run(clustered)
        error = outputs(clustered, calibration).astype(np.float64) - reference
        shifts.append(np.abs(error.reshape(len(calibration), -1).mean(axis=0)).mean())
    assert shifts[1] < 0.5 * shifts[0]


def test_bad_cluster_count_is_an_error(mobilenet):
    with pytest.raises(QCompilerError, match="clusters must be at least 1"):
        get_pass("cluster-int8")(clusters=0).run(mobilenet[0].clone())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits_cnn", "digits_mobilenet"])
def test_sixteen_shared_clusters_keep_accuracy(name):
    graph, calibration = int8_model(name)
    test, labels = digits_split(SHARED, name, "test")
    first = next(op.loc for op in graph if op.kind in LAYERS)
    clustered = graph.clone()
    cluster = get_pass("cluster-int8")(clusters=16, exclude=[first])
    cluster.calibration = {graph.inputs[0].name: calibration}
    cluster.run(clustered)
    assert top1(graph, test, labels) - top1(clustered, test, labels) <= 0.01
