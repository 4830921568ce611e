"""The ``prune`` pass: magnitude pruning (unstructured, n:m) against numpy oracles, layer selection, errors,
layer-wise reconstruction against a least-squares oracle, and the accuracy bound on the digits models."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.layer_weights import layer_weights
from qcompiler.pass_manager import PassManager, get_pass, parse_pipeline
from qcompiler.passes.prune import prune_magnitude, sparsity_of
from qcompiler.types import TensorType
from qcompiler.ir import Graph
from qcompiler.verifier import verify

from compression_support import SHARED, conv_chain, outputs, prepared_model
from quant_support import digits_split, top1


def weights_by_layer(graph) -> dict[str, np.ndarray]:
    """Each layer's weight array by layer name."""
    return {w.name: w.array for w in layer_weights(graph)}


def test_unstructured_zeroes_the_smallest_magnitudes_of_each_layer() -> None:
    graph = conv_chain(np.random.default_rng(0))
    before = weights_by_layer(graph)
    assert get_pass("prune")(sparsity=0.5).run(graph)
    verify(graph)
    for name, pruned in weights_by_layer(graph).items():
        dense = before[name]
        count = int(round(0.5 * dense.size))
        threshold = np.sort(np.abs(dense).reshape(-1))[count - 1]
        assert pruned.shape == dense.shape and pruned.dtype == dense.dtype
        assert np.count_nonzero(pruned == 0) == count
        assert np.all(np.abs(dense[pruned == 0]) <= threshold)  # the smallest went
        np.testing.assert_array_equal(pruned[pruned != 0], dense[pruned != 0])  # the rest is untouched


def test_prune_magnitude_counts_existing_zeros_and_is_deterministic_on_ties() -> None:
    array = np.array([0.0, 1.0, -1.0, 1.0, 2.0, -3.0], np.float32)
    pruned = prune_magnitude(array, 0.5)
    np.testing.assert_array_equal(pruned, [0.0, 0.0, 0.0, 1.0, 2.0, -3.0])  # ties go in position order
    assert prune_magnitude(array, 0.0) is array


def test_n_of_m_keeps_the_largest_n_of_every_m_input_channels() -> None:
    rng = np.random.default_rng(1)
    graph = conv_chain(rng, channels=(8, 8, 6))
    before = weights_by_layer(graph)
    PassManager(parse_pipeline("prune{granularity=n:m n=2 m=4 only=/c1,/c2}"), verify_each=True).run(graph)
    after = weights_by_layer(graph)
    for name in ("/c1", "/c2"):
        dense = before[name].reshape(before[name].shape[0], -1, 4)  # OHWI: groups of 4 input channels
        pruned = after[name].reshape(dense.shape)
        assert np.all(np.count_nonzero(pruned, axis=-1) == 2)
        expected = np.sort(np.argsort(-np.abs(dense), axis=-1, kind="stable")[..., :2], axis=-1)
        kept = np.sort(np.argsort(pruned == 0, axis=-1, kind="stable")[..., :2], axis=-1)
        np.testing.assert_array_equal(kept, expected)
    np.testing.assert_array_equal(after["/fc"], before["/fc"])  # not selected


def test_exclude_and_only_select_layers() -> None:
    graph = conv_chain(np.random.default_rng(2))
    before = weights_by_layer(graph)
    get_pass("prune")(sparsity=0.75, exclude=["/c1"]).run(graph)
    after = weights_by_layer(graph)
    np.testing.assert_array_equal(after["/c1"], before["/c1"])
    assert sparsity_of(after["/c2"]) == pytest.approx(0.75, abs=0.02)
    assert sparsity_of(after["/fc"]) == pytest.approx(0.75, abs=0.05)


def test_zero_sparsity_changes_nothing_and_keeps_outputs() -> None:
    graph = conv_chain(np.random.default_rng(3))
    x = np.random.default_rng(4).standard_normal((1, 6, 6, 3)).astype(np.float32)
    expected = run(graph, {"x": x})["y"]
    assert not get_pass("prune")(sparsity=0.0).run(graph)
    np.testing.assert_array_equal(run(graph, {"x": x})["y"], expected)


def test_onnx_conv_and_gemm_are_pruned_before_legalize() -> None:
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 2, 4, 4), "f32"))
    rng = np.random.default_rng(5)
    w = graph.const(rng.standard_normal((4, 2, 3, 3)).astype(np.float32))
    h = graph.create("onnx.Conv", [x, w], {"pads": [1, 1, 1, 1]}, loc="/conv").result
    h = graph.create("onnx.Flatten", [h], {}, loc="/flat").result
    g = graph.const(rng.standard_normal((64, 3)).astype(np.float32))
    y = graph.create("onnx.Gemm", [h, g], {}, loc="/gemm").result
    graph.set_outputs([y], ["y"])
    get_pass("prune")(sparsity=0.5).run(graph)
    verify(graph)
    assert {name: sparsity_of(a) for name, a in weights_by_layer(graph).items()} == {"/conv": 0.5, "/gemm": 0.5}


@pytest.mark.parametrize("options, message", [
    ("sparsity=1.0", "sparsity must be in [0, 1)"),
    ("sparsity=-0.1", "sparsity must be in [0, 1)"),
    ("granularity=n:m n=5 m=4", "n:m needs 0 < n <= m"),
    ("granularity=channel sparsity=1.5", "sparsity must be in [0, 1)"),
])
def test_bad_options_fail_in_one_line(options: str, message: str) -> None:
    graph = conv_chain(np.random.default_rng(6))
    with pytest.raises(QCompilerError, match=message.replace("[", r"\[").replace(")", r"\)")):
        PassManager(parse_pipeline(f"prune{{{options}}}")).run(graph)


def test_bad_granularity_is_a_pipeline_error() -> None:
    with pytest.raises(QCompilerError, match="granularity"):
        parse_pipeline("prune{granularity=blocks}")


def test_reconstruction_solves_least_squares_for_the_kept_weights() -> None:
    """A fully_connected layer with reconstruction: the kept weights and bias are the least-squares fit of
    the dense layer's outputs on the calibration inputs (numpy lstsq is the oracle)."""
    rng = np.random.default_rng(7)
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 12), "f32"))
    dense_w = rng.standard_normal((5, 12)).astype(np.float32)
    dense_b = rng.standard_normal(5).astype(np.float32)
    y = graph.create("core.fully_connected", [x, graph.const(dense_w), graph.const(dense_b)], {}, loc="/fc").result
    graph.set_outputs([y], ["y"])
    samples = (rng.standard_normal((300, 12)) @ rng.standard_normal((12, 12))).astype(np.float32)
    get_pass("prune")(sparsity=0.5, calibration={"x": samples}).run(graph)
    verify(graph)
    fc = graph.ops_of_kind("core.fully_connected")[0]
    weight, bias = fc.operand(1).const_value, fc.operand(2).const_value
    assert np.count_nonzero(weight == 0) == 30
    target = samples.astype(np.float64) @ dense_w.T + dense_b
    for row in range(5):
        kept = np.flatnonzero(weight[row])
        design = np.concatenate([samples[:, kept], np.ones((300, 1))], axis=1).astype(np.float64)
        solution = np.linalg.lstsq(design, target[:, row], rcond=None)[0]
        np.testing.assert_allclose(np.append(weight[row, kept], bias[row]), solution, rtol=2e-2, atol=2e-3)
    error = np.abs(outputs(graph, samples[:, None]).reshape(300, 5) - target).mean()
    magnitude_only = magnitude_pruning_error(dense_w, dense_b, samples, target)
    assert error < 0.8 * magnitude_only


def magnitude_pruning_error(weight: np.ndarray, bias: np.ndarray, samples: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute output error of plain 50% magnitude pruning of the same layer."""
    pruned = prune_magnitude(weight, 0.5)
    return float(np.abs(samples @ pruned.T + bias - target).mean())


@pytest.mark.parametrize("model", ["digits_cnn", "digits_mobilenet"])
def test_half_the_weights_with_reconstruction_keep_accuracy(model: str) -> None:
    """50% unstructured pruning of every layer but the first (re-fitted on x_calib) loses at most one point
    of top-1 on x_test, in float."""
    graph = prepared_model(model)
    calib, _ = digits_split(SHARED, model, "calib", 100)
    images, labels = digits_split(SHARED, model, "test", 300)
    baseline = top1(graph, images, labels)
    first = next(iter(layer_weights(graph))).name
    get_pass("prune")(sparsity=0.5, exclude=[first], calibration={"input": calib}).run(graph)
    verify(graph)
    weights = [w for w in layer_weights(graph) if w.name != first]
    assert sum(np.count_nonzero(w.array == 0) for w in weights) >= 0.5 * sum(w.array.size for w in weights) - 2
    assert top1(graph, images, labels) >= baseline - 0.01


def test_data_option_reads_a_samples_file_and_bad_files_fail_in_one_line(tmp_path) -> None:
    rng = np.random.default_rng(8)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((20, 1, 6, 6, 3)).astype(np.float32))
    from_file, from_arrays = conv_chain(np.random.default_rng(9)), conv_chain(np.random.default_rng(9))
    PassManager(parse_pipeline(f"prune{{sparsity=0.5 data={tmp_path / 'calib.npz'}}}"), verify_each=True).run(from_file)
    arrays = dict(np.load(tmp_path / "calib.npz"))
    get_pass("prune")(sparsity=0.5, calibration=arrays).run(from_arrays)
    for a, b in zip(layer_weights(from_file), layer_weights(from_arrays)):
        np.testing.assert_array_equal(a.array, b.array)
    with pytest.raises(QCompilerError, match="no such file"):
        PassManager(parse_pipeline(f"prune{{data={tmp_path / 'missing.npz'}}}")).run(conv_chain(rng))


def test_one_weight_at_a_time_removes_the_weight_whose_loss_hurts_least() -> None:
    """Removing one weight of a small layer: the exact greedy choice is the brute-force best (every single
    removal, kept weights and bias re-solved by numpy lstsq, is the oracle)."""
    rng = np.random.default_rng(12)
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 6), "f32"))
    dense_w = rng.standard_normal((3, 6)).astype(np.float32)
    y = graph.create("core.fully_connected", [x, graph.const(dense_w), graph.const(np.zeros(3, np.float32))], {},
                     loc="/fc").result
    graph.set_outputs([y], ["y"])
    samples = (rng.standard_normal((200, 6)) @ rng.standard_normal((6, 6))).astype(np.float32)
    get_pass("prune")(sparsity=1 / 18, calibration={"x": samples}).run(graph)
    removed = np.argwhere(graph.ops_of_kind("core.fully_connected")[0].operand(1).const_value == 0)
    assert len(removed) == 1
    target = samples.astype(np.float64) @ dense_w.T
    design = np.concatenate([samples, np.ones((200, 1))], axis=1).astype(np.float64)
    losses = {}
    for row in range(3):
        for column in range(6):
            kept = [c for c in range(7) if c != column]
            residual = np.linalg.lstsq(design[:, kept], target[:, row], rcond=None)[1]
            losses[(row, column)] = float(residual[0])
    assert tuple(removed[0]) == min(losses, key=losses.get)


def test_n_of_m_with_reconstruction_keeps_the_pattern_and_beats_magnitude() -> None:
    """2:4 with data: every full group of 4 input elements keeps exactly 2, the short last group keeps
    min(2, len), and the layer's output error on the samples is below that of 2:4 by magnitude."""
    rng = np.random.default_rng(13)
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 10), "f32"))
    dense_w = rng.standard_normal((4, 10)).astype(np.float32)
    dense_b = rng.standard_normal(4).astype(np.float32)
    y = graph.create("core.fully_connected", [x, graph.const(dense_w), graph.const(dense_b)], {}, loc="/fc").result
    graph.set_outputs([y], ["y"])
    samples = (rng.standard_normal((300, 10)) @ rng.standard_normal((10, 10))).astype(np.float32)
    by_magnitude = graph.clone()
    get_pass("prune")(granularity="n:m", n=2, m=4, calibration={"x": samples}).run(graph)
    get_pass("prune")(granularity="n:m", n=2, m=4).run(by_magnitude)
    weight = graph.ops_of_kind("core.fully_connected")[0].operand(1).const_value
    kept = weight != 0
    assert np.all(kept[:, :8].reshape(4, 2, 4).sum(-1) == 2)
    assert np.all(kept[:, 8:].sum(-1) == 2)
    target = samples.astype(np.float64) @ dense_w.T + dense_b
    error = np.square(outputs(graph, samples[:, None]).reshape(300, 4) - target).mean()
    magnitude_error = np.square(outputs(by_magnitude, samples[:, None]).reshape(300, 4) - target).mean()
    assert error < 0.5 * magnitude_error


def test_large_layers_choose_their_mask_in_one_sweep_and_still_refit(monkeypatch) -> None:
    """A layer above the rounds' budget (forced here) gets its mask from the SparseGPT sweep: exactly half its
    weights go, the kept ones and the bias are the least-squares fit (numpy lstsq), and the output error is
    well below magnitude pruning's."""
    import qcompiler.sparse_reconstruction as reconstruction

    monkeypatch.setattr(reconstruction, "EXACT_BUDGET", 0)
    monkeypatch.setattr(reconstruction, "ROUNDS_BUDGET", 0)
    monkeypatch.setattr(reconstruction, "SPARSEGPT_BLOCK", 8)
    rng = np.random.default_rng(14)
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 20), "f32"))
    dense_w = rng.standard_normal((6, 20)).astype(np.float32)
    dense_b = rng.standard_normal(6).astype(np.float32)
    y = graph.create("core.fully_connected", [x, graph.const(dense_w), graph.const(dense_b)], {}, loc="/fc").result
    graph.set_outputs([y], ["y"])
    samples = (rng.standard_normal((400, 20)) @ rng.standard_normal((20, 20))).astype(np.float32)
    get_pass("prune")(sparsity=0.5, calibration={"x": samples}).run(graph)
    fc = graph.ops_of_kind("core.fully_connected")[0]
    weight, bias = fc.operand(1).const_value, fc.operand(2).const_value
    assert np.count_nonzero(weight == 0) == 60
    target = samples.astype(np.float64) @ dense_w.T + dense_b
    for row in range(6):
        kept = np.flatnonzero(weight[row])
        design = np.concatenate([samples[:, kept], np.ones((400, 1))], axis=1).astype(np.float64)
        solution = np.linalg.lstsq(design, target[:, row], rcond=None)[0]
        np.testing.assert_allclose(np.append(weight[row, kept], bias[row]), solution, rtol=2e-2, atol=2e-3)
    error = np.abs(outputs(graph, samples[:, None]).reshape(400, 6) - target).mean()
    assert error < 0.8 * magnitude_pruning_error(dense_w, dense_b, samples, target)
