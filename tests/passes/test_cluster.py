"""The ``cluster`` pass and the k-means behind it: at most k distinct values (per tensor or per channel),
zeros kept, determinism, the codebook annotation, the semantic identity (as many clusters as distinct values
changes nothing) and the accuracy bound on the digits models."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.kmeans import codebook_of, kmeans_1d
from qcompiler.layer_weights import layer_weights
from qcompiler.pass_manager import PassManager, get_pass, parse_pipeline
from qcompiler.passes.cluster import CLUSTER_ATTR
from qcompiler.text import parse_graph, print_graph
from qcompiler.verifier import verify

from compression_support import SHARED, conv_chain, outputs, prepared_model
from quant_support import digits_split, top1


def test_kmeans_recovers_well_separated_groups_and_their_means() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([-5.0, 0.0, 3.0, 10.0])
    values = np.concatenate([c + 0.1 * rng.standard_normal(50) for c in centres])
    result = kmeans_1d(values, 4, seed=0)
    groups = np.repeat(np.arange(4), 50)
    np.testing.assert_array_equal(result.labels, groups)
    np.testing.assert_allclose(result.centroids, [values[groups == g].mean() for g in range(4)])


def test_kmeans_is_deterministic_and_a_local_optimum() -> None:
    values = np.random.default_rng(1).standard_normal(2000)
    first, second = kmeans_1d(values, 8, seed=3), kmeans_1d(values, 8, seed=3)
    np.testing.assert_array_equal(first.centroids, second.centroids)
    np.testing.assert_array_equal(first.labels, second.labels)
    # Lloyd's fixed point: each value sits with its nearest centroid, each centroid is its cluster's mean
    nearest = np.abs(values[:, None] - first.centroids[None, :]).argmin(axis=1)
    np.testing.assert_array_equal(nearest, first.labels)
    np.testing.assert_allclose(first.centroids, [values[first.labels == k].mean() for k in range(8)])


def test_kmeans_with_enough_clusters_returns_the_values_exactly() -> None:
    values = np.array([0.1, -0.7, 0.1, 3.25, -0.7], np.float32)
    result = kmeans_1d(values, 3)
    np.testing.assert_array_equal(result.values(), values)
    with pytest.raises(QCompilerError, match="at least one cluster"):
        kmeans_1d(values, 0)


def test_codebook_round_trips_per_tensor_and_per_axis() -> None:
    array = np.random.default_rng(2).integers(-3, 4, size=(4, 3, 3, 5)).astype(np.int8)
    for axis in (None, 0, 3):
        book = codebook_of(array, axis)
        np.testing.assert_array_equal(book.decode(), array)
        assert book.indices.dtype == np.uint8 and book.bits == 3


def distinct_counts(array: np.ndarray, axis=None) -> list[int]:
    if axis is None:
        return [len(np.unique(array))]
    return [len(np.unique(row)) for row in np.moveaxis(array, axis, 0).reshape(array.shape[axis], -1)]


@pytest.mark.parametrize("per_channel", [False, True])
def test_weights_take_at_most_k_values_and_carry_their_codebook(per_channel: bool) -> None:
    graph = conv_chain(np.random.default_rng(3), channels=(4, 16, 8))
    shapes = {w.name: w.array.shape for w in layer_weights(graph)}
    assert get_pass("cluster")(clusters=4, per_channel=per_channel).run(graph)
    verify(graph)
    for weight in layer_weights(graph):
        assert weight.array.shape == shapes[weight.name] and weight.array.dtype == np.float32
        axis = weight.out_axis if per_channel else None
        assert max(distinct_counts(weight.array, axis)) <= 4
        annotation = weight.value.producer.attrs[CLUSTER_ATTR]
        assert annotation["clusters"] == 4 and annotation["per_channel"] == per_channel
        book = codebook_of(weight.array, axis)
        if per_channel:
            rows = weight.rows()
            for row, table in zip(rows, annotation["codebook"]):
                np.testing.assert_array_equal(np.unique(row), np.unique(table))
        else:
            np.testing.assert_array_equal(book.table, annotation["codebook"])


def test_preserve_sparsity_keeps_zeros_zero_and_counts_zero_as_a_cluster() -> None:
    graph = conv_chain(np.random.default_rng(4), channels=(4, 16, 8))
    get_pass("prune")(sparsity=0.5).run(graph)
    zeros = {w.name: w.array == 0 for w in layer_weights(graph)}
    get_pass("cluster")(clusters=8).run(graph)
    for weight in layer_weights(graph):
        np.testing.assert_array_equal(weight.array == 0, zeros[weight.name])
        assert len(np.unique(weight.array)) <= 8
    graph = conv_chain(np.random.default_rng(4), channels=(4, 16, 8))
    get_pass("prune")(sparsity=0.5).run(graph)
    get_pass("cluster")(clusters=2, preserve_sparsity=False).run(graph)  # zeros share a centroid with others
    assert all(np.count_nonzero(w.array == 0) == 0 for w in layer_weights(graph))


def test_clustering_is_deterministic() -> None:
    texts = []
    for _ in range(2):
        graph = conv_chain(np.random.default_rng(5))
        get_pass("cluster")(clusters=5, seed=7).run(graph)
        texts.append(print_graph(graph))
    assert texts[0] == texts[1]


def test_as_many_clusters_as_distinct_values_changes_nothing() -> None:
    """The semantic identity on a real model: weights rounded to few values, then clustered with that many
    clusters, give bit-identical weights and outputs."""
    graph = prepared_model("digits_cnn")
    for weight in list(layer_weights(graph)):
        from qcompiler.layer_weights import replace_const_operand

        replace_const_operand(weight.op, weight.index, np.round(weight.array * 4) / 4)
    images, _ = digits_split(SHARED, "digits_cnn", "test", 20)
    expected = outputs(graph, images)
    before = {w.name: w.array.copy() for w in layer_weights(graph)}
    distinct = max(len(np.unique(a)) for a in before.values())
    get_pass("cluster")(clusters=distinct).run(graph)
    for weight in layer_weights(graph):
        np.testing.assert_array_equal(weight.array, before[weight.name])
    np.testing.assert_array_equal(outputs(graph, images), expected)


def test_annotation_survives_print_and_parse() -> None:
    graph = conv_chain(np.random.default_rng(6))
    get_pass("cluster")(clusters=3, per_channel=True).run(graph)
    text = print_graph(graph)
    assert print_graph(parse_graph(text)) == text
    x = np.ones((1, 6, 6, 3), np.float32)
    np.testing.assert_array_equal(run(parse_graph(text), {"x": x})["y"], run(graph, {"x": x})["y"])


def test_bad_cluster_count_fails_in_one_line() -> None:
    with pytest.raises(QCompilerError, match="clusters must be at least 1"):
        PassManager(parse_pipeline("cluster{clusters=0}")).run(conv_chain(np.random.default_rng(7)))


@pytest.mark.parametrize("model", ["digits_cnn", "digits_mobilenet"])
def test_per_channel_16_clusters_keep_accuracy(model: str) -> None:
    graph = prepared_model(model)
    images, labels = digits_split(SHARED, model, "test", 300)
    baseline = top1(graph, images, labels)
    get_pass("cluster")(clusters=16, per_channel=True).run(graph)
    assert top1(graph, images, labels) >= baseline - 0.01
