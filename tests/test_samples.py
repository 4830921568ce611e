"""The samples format: reading (.npz and .npy folders), validation errors, batch-axis handling, writing."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.samples import (iter_samples, load_samples, num_samples, read_npy, run_samples, save_output_dir,
                               save_outputs, single_sample, stack_outputs, validate_samples)
from qcompiler.types import TensorType


@pytest.fixture
def graph() -> Graph:
    """Two inputs: ``x`` with a batch axis of 1 (1x3 f32) and ``y`` without one (2 f32)."""
    g = Graph()
    x = g.add_input("x", TensorType((1, 3), "f32"))
    y = g.add_input("y", TensorType((2,), "f32"))
    relu = g.create("onnx.Relu", [x])
    twice = g.create("onnx.Add", [y, y])
    g.set_outputs([relu.result, twice.result], ["relu", "twice"])
    return g


def test_npz_with_and_without_batch_axis(tmp_path, graph):
    path = tmp_path / "s.npz"
    x = np.arange(12, dtype=np.float64).reshape(4, 3) - 5  # 4 samples without the batch axis, f64 on purpose
    y = np.arange(8, dtype=np.float32).reshape(4, 2)
    np.savez(path, x=x, y=y)
    samples = load_samples(path, graph)
    assert num_samples(samples) == 4
    assert samples["x"].dtype == np.float32
    feeds = list(iter_samples(samples, graph))
    assert len(feeds) == 4
    assert feeds[1]["x"].shape == (1, 3) and feeds[1]["y"].shape == (2,)
    np.testing.assert_array_equal(feeds[1]["x"][0], x[1].astype(np.float32))

    with_batch = {"x": x.reshape(4, 1, 3), "y": y}
    assert [f["x"].shape for f in iter_samples(validate_samples(with_batch, graph), graph)] == [(1, 3)] * 4

    outputs = run_samples(graph, samples)
    assert outputs["relu"].shape == (4, 1, 3)
    np.testing.assert_array_equal(outputs["relu"][:, 0], np.maximum(x, 0).astype(np.float32))
    np.testing.assert_array_equal(outputs["twice"], 2 * y)


def test_folder_of_npy(tmp_path, graph):
    folder = tmp_path / "samples"
    folder.mkdir()
    np.save(folder / "x.npy", np.ones((2, 1, 3), np.float32))
    np.save(folder / "y.npy", np.zeros((2, 2), np.float32))
    (folder / "notes.txt").write_text("ignored")
    samples = load_samples(folder, graph)
    assert sorted(samples) == ["x", "y"] and num_samples(samples) == 2


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((2, 3)), "z": np.zeros((2, 2))}, "array 'z', but the model has no input of that name; its inputs are: x, y"),
    ({"x": np.zeros((2, 3))}, "no array for input(s) y"),
    ({"x": np.zeros((2, 4)), "y": np.zeros((2, 2))}, "input 'x' have shape 4 per sample; expected 1x3 or 3"),
    ({"x": np.zeros((2, 2, 3)), "y": np.zeros((2, 2))}, "input 'x' have shape 2x3 per sample; expected 1x3 or 3"),
    ({"x": np.zeros((2, 3)), "y": np.zeros((2, 1, 2))}, "input 'y' have shape 1x2 per sample; expected 2"),
    ({"x": np.zeros((0, 3)), "y": np.zeros((0, 2))}, "zero samples for input 'x'"),
    ({"x": np.zeros((2, 3)), "y": np.zeros((3, 2))}, "different numbers of samples: 'x' has 2, 'y' has 3"),
    ({"x": np.array([[0, np.nan, 1]]), "y": np.zeros((1, 2))}, "input 'x' contain 1 NaN or infinite"),
    ({"x": np.array([[0, np.inf, -np.inf]]), "y": np.zeros((1, 2))}, "input 'x' contain 2 NaN or infinite"),
    ({"x": np.zeros((2, 3), np.bool_), "y": np.zeros((2, 2))}, "input 'x' hold bool values; the input takes f32"),
    ({"x": np.float32(1), "y": np.zeros((1, 2))}, "must have a first axis"),
])
def test_bad_samples(tmp_path, graph, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(QCompilerError) as info:
        load_samples(path, graph)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content, message", [
    (b"not a zip file at all", "cannot read samples"),
    (b"", "cannot read samples"),
])
def test_unreadable_files(tmp_path, graph, content, message):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(QCompilerError, match=message):
        load_samples(path, graph)


def test_missing_and_empty(tmp_path, graph):
    with pytest.raises(QCompilerError, match="no such file or folder"):
        load_samples(tmp_path / "nope.npz", graph)
    with pytest.raises(QCompilerError, match="holds no .npy files"):
        load_samples(tmp_path, graph)
    with pytest.raises(QCompilerError, match="no such file"):
        read_npy(tmp_path / "nope.npy")


def test_single_sample(graph):
    samples = single_sample({"x": np.ones((1, 3)), "y": np.ones(2)}, graph)
    assert num_samples(samples) == 1
    [feed] = iter_samples(samples, graph)
    assert feed["x"].shape == (1, 3)
    with pytest.raises(QCompilerError, match="input 'y' have shape 3 per sample"):
        single_sample({"x": np.ones((1, 3)), "y": np.ones(3)}, graph)


def test_symbolic_batch_axis():
    g = Graph()
    x = g.add_input("x", TensorType(("N", 2), "f32"))
    g.set_outputs([g.create("onnx.Relu", [x]).result], ["r"])
    samples = validate_samples({"x": np.ones((5, 2))}, g)
    assert [f["x"].shape for f in iter_samples(samples, g)] == [(1, 2)] * 5
    samples = validate_samples({"x": np.ones((5, 3, 2))}, g)
    assert [f["x"].shape for f in iter_samples(samples, g)] == [(3, 2)] * 5


def test_save_outputs_round_trip(tmp_path):
    outputs = stack_outputs([{"a": np.ones(2), "b/c": np.zeros(1)}, {"a": np.full(2, 3.0), "b/c": np.ones(1)}])
    assert outputs["a"].shape == (2, 2)
    path = tmp_path / "out.npz"
    save_outputs(path, outputs)
    with np.load(path) as loaded:
        assert sorted(loaded.files) == ["a", "b/c"]
        np.testing.assert_array_equal(loaded["a"], outputs["a"])
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]  # no temporary file left behind

    written = save_output_dir(tmp_path / "dir", outputs)
    assert sorted(p.name for p in written) == ["a.npy", "b_c.npy"]
    np.testing.assert_array_equal(np.load(tmp_path / "dir" / "b_c.npy"), outputs["b/c"])
    with pytest.raises(QCompilerError, match="refusing to overwrite"):
        save_output_dir(tmp_path / "dir", outputs, inputs=[tmp_path / "dir" / "a.npy"])
