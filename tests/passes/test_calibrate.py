"""The ``calibrate`` pass and API on digits_cnn: ranges on every float tensor (checked against onnxruntime and
numpy), every method and data source, textual round trip, determinism, progress bar, bad-data errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.observers import OBSERVERS
from qcompiler.pass_manager import PassManager
from qcompiler.passes.calibrate import calibrate
from qcompiler.samples import SamplesError
from qcompiler.text import parse_graph, print_graph
from qcompiler.value_ranges import get_range

from calibration_support import prepared_graph, range_tensors, ranges_by_position, upsampled


@pytest.fixture(scope="module")
def cnn_model(shared_models_dir: Path) -> Path:
    return shared_models_dir / "digits_cnn.onnx"


@pytest.fixture(scope="module")
def cnn(cnn_model: Path):
    """digits_cnn after the float pipeline (tests clone it)."""
    return prepared_graph(cnn_model)


@pytest.fixture(scope="module")
def calib(digits) -> np.ndarray:
    """The 200 calibration images as 1x16x16 samples."""
    return upsampled(digits["x_calib"])


@pytest.fixture(scope="module")
def calib_npz(tmp_path_factory, calib: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("calib") / "calib.npz"
    np.savez(path, input=calib)
    return path


def test_minmax_ranges_on_every_float_tensor_match_the_data(cnn, calib: np.ndarray, cnn_model: Path) -> None:
    graph = cnn.clone()
    ranges = calibrate(graph, {"input": calib}, "minmax")
    tensors = range_tensors(graph)
    assert tensors and all(get_range(graph, v) is not None for v in tensors)
    assert set(ranges) == set(tensors)
    # oracle for the output: onnxruntime on the original model
    session = onnxruntime.InferenceSession(str(cnn_model), providers=["CPUExecutionProvider"])
    logits = np.concatenate([session.run(None, {"input": x[None]})[0] for x in calib])
    low, high = get_range(graph, graph.outputs[0])
    assert low == pytest.approx(logits.min(), abs=1e-4) and high == pytest.approx(logits.max(), abs=1e-4)
    assert get_range(graph, graph.inputs[0]) == (float(calib.min()), float(calib.max()))
    assert graph.attrs["input_ranges"] == {"input": [0.0, 1.0]}
    # every intermediate: numpy min/max over the arrays the interpreter computes
    seen: dict[int, list[float]] = {}

    def observe(value, array) -> None:
        bounds = seen.setdefault(id(value), [np.inf, -np.inf])
        bounds[0], bounds[1] = min(bounds[0], float(array.min())), max(bounds[1], float(array.max()))

    for x in calib:
        run(graph, {"input": x[None]}, observe=observe)
    for value in tensors:
        assert get_range(graph, value) == tuple(seen[id(value)])


@pytest.mark.parametrize("method", sorted(OBSERVERS))
def test_every_method_gives_ranges_inside_the_extremes(cnn, calib: np.ndarray, method: str) -> None:
    extremes = cnn.clone()
    calibrate(extremes, {"input": calib}, "minmax")
    graph = cnn.clone()
    calibrate(graph, {"input": calib}, method, percentile=99.9)
    for (name, (low, high)), (_, (min_, max_)) in zip(ranges_by_position(graph), ranges_by_position(extremes)):
        assert min(min_, 0.0) - 1e-6 <= low <= high <= max(max_, 0.0) + 1e-6, name
        assert high > 0.2 * max_, name  # clipping never throws most of the range away here


def test_pass_with_npz_folder_and_iterable_agree(cnn, calib: np.ndarray, calib_npz: Path, tmp_path: Path) -> None:
    from_pass = cnn.clone()
    assert PassManager(f"calibrate{{data={calib_npz} method=percentile percentile=99.5}}",
                       verify_each=True).run(from_pass)
    folder = tmp_path / "samples"
    folder.mkdir()
    np.save(folder / "input.npy", calib)
    from_folder = cnn.clone()
    calibrate(from_folder, folder, "percentile", percentile=99.5)
    from_iterable = cnn.clone()
    calibrate(from_iterable, ({"input": x[None]} for x in calib), "percentile", percentile=99.5)
    without_batch_axis = cnn.clone()
    calibrate(without_batch_axis, [{"input": x} for x in calib], "percentile", percentile=99.5)
    expected = ranges_by_position(from_pass)
    assert ranges_by_position(from_folder) == expected
    assert ranges_by_position(from_iterable) == expected
    assert ranges_by_position(without_batch_axis) == expected


def test_ranges_survive_print_and_parse(cnn, calib: np.ndarray) -> None:
    graph = cnn.clone()
    calibrate(graph, {"input": calib}, "entropy")
    text = print_graph(graph)
    parsed = parse_graph(text)
    assert [r for _, r in ranges_by_position(parsed)] == [r for _, r in ranges_by_position(graph)]
    assert print_graph(parsed) == text


def test_calibration_is_deterministic(cnn, calib: np.ndarray) -> None:
    texts = set()
    for _ in range(2):
        graph = cnn.clone()
        calibrate(graph, {"input": calib}, "mse")
        texts.add(print_graph(graph))
    assert len(texts) == 1


def test_calibration_keeps_the_float_model(cnn, calib: np.ndarray) -> None:
    graph = cnn.clone()
    calibrate(graph, {"input": calib[:20]}, "minmax")
    for x in calib[:5]:
        np.testing.assert_array_equal(run(graph, {"input": x[None]})["logits"], run(cnn, {"input": x[None]})["logits"])


def test_progress_bar_on_request(cnn, calib: np.ndarray, capsys) -> None:
    calibrate(cnn.clone(), {"input": calib[:4]}, progress=True)
    assert "calibrate" in capsys.readouterr().err
    calibrate(cnn.clone(), {"input": calib[:4]})  # stderr is no terminal under pytest: no bar
    assert "calibrate" not in capsys.readouterr().err


@pytest.mark.parametrize("data, message", [
    ({"image": np.zeros((3, 1, 16, 16), np.float32)}, "has an array 'image', but the model has no input"),
    ({"input": np.zeros((3, 1, 8, 8), np.float32)}, "samples for input 'input' have shape 1x8x8 per sample; "
                                                    "expected 1x1x16x16 or 1x16x16"),
    ({"input": np.full((3, 1, 16, 16), np.nan, np.float32)}, "input 'input' contain 768 NaN"),
    ({"input": np.zeros((0, 1, 16, 16), np.float32)}, "zero samples for input 'input'"),
])
def test_bad_arrays_are_one_line_errors(cnn, data, message: str, tmp_path: Path) -> None:
    with pytest.raises(SamplesError, match=message):
        calibrate(cnn.clone(), data)
    path = tmp_path / "bad.npz"
    np.savez(path, **data)
    with pytest.raises(SamplesError, match=message) as error:
        PassManager(f"calibrate{{data={path}}}").run(cnn.clone())
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("feeds, message", [
    ([], "the calibration data holds zero samples"),
    ([{"input": np.zeros((1, 1, 16, 16), np.float32)}, {"x": np.zeros((1, 1, 16, 16), np.float32)}],
     "calibration sample 1: .*has an array 'x', but the model has no input of that name"),
    ([{"input": np.zeros((1, 1, 16, 15), np.float32)}], "calibration sample 0: samples for input 'input' have "
                                                        "shape 1x1x16x15"),
    ([{"input": np.full((1, 1, 16, 16), np.inf, np.float32)}], "calibration sample 0: .*infinite"),
    ([np.zeros((1, 1, 16, 16), np.float32)], "calibration sample 0 is a ndarray, not a dict"),
])
def test_bad_iterables_are_errors_naming_the_sample(cnn, feeds, message: str) -> None:
    with pytest.raises(SamplesError, match=message):
        calibrate(cnn.clone(), iter(feeds))


def test_bad_sources_and_options(cnn, tmp_path: Path) -> None:
    with pytest.raises(QCompilerError, match=r"needs calibration data: calibrate\{data="):
        PassManager("calibrate").run(cnn.clone())
    with pytest.raises(SamplesError, match="no such file or folder"):
        calibrate(cnn.clone(), tmp_path / "missing.npz")
    with pytest.raises(SamplesError, match="must be a samples file"):
        calibrate(cnn.clone(), 42)  # type: ignore[arg-type]
    with pytest.raises(QCompilerError, match="expects one of"):
        PassManager("calibrate{data=x.npz method=median}")
    with pytest.raises(QCompilerError, match="unknown calibration method"):
        calibrate(cnn.clone(), [], "median")


def test_cli_reports_bad_data_in_one_line(cnn, tmp_path: Path, capsys) -> None:
    from qcompiler.cli import main

    model = tmp_path / "cnn.qir"
    model.write_text(print_graph(cnn))
    bad = tmp_path / "bad.npz"
    np.savez(bad, input=np.zeros((2, 3), np.float32))
    code = main(["opt", str(model), "-p", f"calibrate{{data={bad}}}", "-o", str(tmp_path / "out.qir")])
    err = capsys.readouterr().err
    assert code != 0 and "samples for input 'input' have shape 3 per sample" in err
    assert err.strip().count("\n") == 0
    good = tmp_path / "good.npz"
    np.savez(good, input=np.zeros((2, 1, 16, 16), np.float32))
    assert main(["opt", str(model), "-p", f"calibrate{{data={good}}}", "-o", str(tmp_path / "out.qir")]) == 0
    assert "range = [" in (tmp_path / "out.qir").read_text()
