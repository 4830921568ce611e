"""The sensitivity sweep: the eval data format, trials against a direct computation, the budget rule, the
same answer on one process, a process pool and Ray, and the CLI's table, JSON and chart."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from qcompiler.cli import main
from qcompiler.errors import QCompilerError
from qcompiler.pass_manager import PassManager, parse_pipeline
from qcompiler.samples import SamplesError
from qcompiler.sweep import EvalData, accuracy, compression_pass, load_eval_data, sweep

from compression_support import SHARED, prepared_model
from quant_support import digits_split, top1

LAYERS = ["/c3/Conv", "/fc/Gemm"]
VALUES = [0.25, 0.5, 0.75]


@pytest.fixture(scope="module")
def digits() -> tuple:
    graph = prepared_model("digits_cnn")
    images, labels = digits_split(SHARED, "digits_cnn", "test", 120)
    return graph, EvalData({"input": images}, labels)


def test_eval_file_holds_inputs_and_labels(tmp_path, digits) -> None:
    graph, data = digits
    path = tmp_path / "eval.npz"
    np.savez(path, input=data.samples["input"], labels=data.labels)
    loaded = load_eval_data(str(path), graph)
    np.testing.assert_array_equal(loaded.labels, data.labels)
    np.testing.assert_array_equal(loaded.samples["input"], data.samples["input"])
    np.savez(tmp_path / "other.npz", input=data.samples["input"], classes=data.labels)
    assert load_eval_data(str(tmp_path / "other.npz"), graph, "classes").labels.tolist() == data.labels.tolist()
    np.savez(tmp_path / "inputs.npz", input=data.samples["input"])
    np.save(tmp_path / "labels.npy", data.labels)
    separate = load_eval_data(str(tmp_path / "inputs.npz"), graph, str(tmp_path / "labels.npy"))
    np.testing.assert_array_equal(separate.labels, data.labels)
    assert load_eval_data(str(tmp_path / "inputs.npz"), graph).labels is None
    np.savez(tmp_path / "short.npz", input=data.samples["input"], labels=data.labels[:5])
    with pytest.raises(SamplesError, match="5 labels for 120 samples"):
        load_eval_data(str(tmp_path / "short.npz"), graph)
    with pytest.raises(SamplesError, match="has no array 'nope'"):
        load_eval_data(str(path), graph, "nope")


def test_trials_match_direct_measurements_and_choices_fit_the_budget(digits) -> None:
    graph, data = digits
    result = sweep(graph, data, values=VALUES, max_accuracy_drop=1.0, layers=LAYERS, jobs=1)
    assert result.baseline == top1(graph, data.samples["input"], data.labels)
    for layer in LAYERS:
        for value in VALUES:
            trial = graph.clone()
            compression_pass("prune", [layer], value).run(trial)
            assert result.curves[layer][value] == accuracy(trial, data)
    assert result.baseline - result.final_accuracy <= 0.01 + 1e-12
    for choice in result.choices:
        if choice.value is not None:  # every milder setting of a chosen layer is within budget on its own
            assert all(result.baseline - result.curves[choice.layer][v] <= 0.01 + 1e-12
                       for v in VALUES if v <= choice.value)
    combined = graph.clone()
    if result.pipeline:
        PassManager(parse_pipeline(result.pipeline)).run(combined)
    assert accuracy(combined, data) == result.final_accuracy


def test_sweep_leaves_the_graph_alone_and_backs_off_to_fit(digits) -> None:
    graph, data = digits
    before = [w.copy() for w in (op.attrs["value"] for op in graph.ops_of_kind("const"))]
    result = sweep(graph, data, values=VALUES, max_accuracy_drop=0.0, layers=LAYERS, jobs=1)
    after = [op.attrs["value"] for op in graph.ops_of_kind("const")]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert result.final_accuracy >= result.baseline - 1e-12


def test_process_pool_gives_the_same_answer(digits) -> None:
    graph, data = digits
    serial = sweep(graph, data, method="cluster", values=[16, 4], layers=LAYERS, jobs=1)
    pooled = sweep(graph, data, method="cluster", values=[16, 4], layers=LAYERS, jobs=2)
    assert serial.to_json() == pooled.to_json()


def test_ray_gives_the_same_answer(digits) -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (pip install 'qcompiler[sweep]')")
    graph, data = digits
    local = sweep(graph, data, values=[0.5], layers=["/fc/Gemm"], jobs=1)
    on_ray = sweep(graph, data, values=[0.5], layers=["/fc/Gemm"], ray_address="local")
    assert local.to_json() == on_ray.to_json()


def test_without_labels_the_metric_is_agreement(digits) -> None:
    graph, data = digits
    result = sweep(graph, EvalData(data.samples, None), values=[0.25], layers=["/fc/Gemm"], jobs=1)
    assert result.baseline == 1.0 and result.metric.startswith("agreement")


def test_bad_sweeps_fail_in_one_line(digits) -> None:
    graph, data = digits
    with pytest.raises(QCompilerError, match="no conv/dense layer"):
        sweep(graph, data, layers=["/nothing"], jobs=1)
    with pytest.raises(QCompilerError, match="unknown sweep method"):
        sweep(graph, data, method="quantize", jobs=1)


def test_cli_prints_the_table_and_writes_json_and_chart(tmp_path, capsys, digits) -> None:
    _, data = digits
    np.savez(tmp_path / "eval.npz", input=data.samples["input"][:40], labels=data.labels[:40])
    code = main(["sweep", str(SHARED / "digits_cnn.onnx"), "--eval", str(tmp_path / "eval.npz"),
                 "--values", "0.25,0.5", "--layer", "/fc/Gemm", "--jobs", "1", "--max-accuracy-drop", "5",
                 "--chart", str(tmp_path / "sweep.png"), "-o", str(tmp_path / "choices.json")])
    out = capsys.readouterr().out
    assert code == 0 and "/fc/Gemm" in out and "pipeline:" in out
    choices = json.loads((tmp_path / "choices.json").read_text())
    assert set(choices["curves"]["/fc/Gemm"]) == {"0.25", "0.5"}
    assert (tmp_path / "sweep.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["sweep", str(SHARED / "digits_cnn.onnx"), "--eval", str(tmp_path / "eval.npz"),
                 "--values", "half"]) == 2
    assert "--values must be comma-separated numbers" in capsys.readouterr().err
