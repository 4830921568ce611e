"""Channel pruning: channels whose filters are zero can go without changing the outputs (the exact oracle,
through plain chains, residual adds, concats and depthwise convolutions); L1 ranking; pinned spaces; MACs
on the digits models; and the pruned models still compile and run in the TFLite and MCU backends."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.channel_pruning import prune_channels
from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.ir import Graph
from qcompiler.macs import graph_macs, op_macs
from qcompiler.pass_manager import PassManager, parse_pipeline
from qcompiler.quantize import quantize
from qcompiler.types import TensorType
from qcompiler.verifier import verify

from compression_support import SHARED, conv_chain, outputs, prepared_model
from quant_support import digits_split, top1


def silence_channels(graph: Graph, loc: str, channels: list[int]) -> None:
    """Zero the filters and bias of ``channels`` of the layer at ``loc`` (so they output exactly zero)."""
    op = next(op for op in graph if op.loc == loc)
    for index, axis in ((1, 3 if op.kind == "core.depthwise_conv2d" else 0), (2, 0)):
        if op.operand(index) is None:
            continue
        array = op.operand(index).const_value.copy()
        np.moveaxis(array, axis, 0)[channels] = 0
        op.operand(index).producer.attrs["value"] = array


def assert_same_outputs(before: Graph, after: Graph, feed: dict) -> None:
    expected, got = run(before, feed), run(after, feed)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-5)


def test_zero_channels_go_without_changing_outputs_in_a_chain() -> None:
    graph = conv_chain(np.random.default_rng(0), channels=(3, 8, 6))
    silence_channels(graph, "/c1", [1, 6])
    silence_channels(graph, "/c2", [0, 4, 5])
    before = graph.clone()
    report = prune_channels(graph, 0.25)
    verify(graph)
    assert [(s.producers, s.before, s.after) for s in report.spaces] == [(("/c1",), 8, 6), (("/c2",), 6, 4)]
    shapes = {op.loc: op.result.type.shape for op in graph if op.kind != "const"}
    assert shapes["/c1"] == (1, 6, 6, 6) and shapes["/c2"] == (1, 6, 6, 4) and shapes["/fc"] == (1, 4)
    feed = {"x": np.random.default_rng(1).standard_normal((1, 6, 6, 3)).astype(np.float32)}
    assert_same_outputs(before, graph, feed)
    assert report.macs_after == graph_macs(graph) < report.macs_before == graph_macs(before)
    assert report.parameters_after < report.parameters_before


def test_lowest_l1_channels_go_first() -> None:
    graph = conv_chain(np.random.default_rng(2), channels=(3, 8, 6))
    weight = next(op for op in graph if op.loc == "/c1").operand(1).const_value
    norms = np.abs(weight).reshape(8, -1).sum(axis=1)
    prune_channels(graph, 0.5, only=["/c1"])
    kept = next(op for op in graph if op.loc == "/c1").operand(1).const_value
    expected = weight[np.sort(np.argsort(norms, kind="stable")[4:])]
    np.testing.assert_array_equal(kept, expected)
    assert next(op for op in graph if op.loc == "/c2").operand(1).type.shape == (6, 1, 1, 4)


def residual_graph(rng: np.random.Generator) -> Graph:
    """x -> c1 (8) -> relu6; dw (depthwise) -> c2 (8); add(c1, c2) -> concat([add, c3(x) (4)]) -> c4 -> output."""
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 5, 5, 3), "f32"))

    def conv(source, out, kernel, loc, kind="core.conv2d", **attrs):
        channels = source.type.shape[-1]
        shape = (1, kernel, kernel, channels) if kind == "core.depthwise_conv2d" else (out, kernel, kernel, channels)
        w = graph.const(rng.standard_normal(shape).astype(np.float32))
        b = graph.const(rng.standard_normal(shape[-1] if kind == "core.depthwise_conv2d" else out).astype(np.float32))
        pad = kernel // 2
        return graph.create(kind, [source, w, b], {"padding": [pad] * 4, **attrs}, loc=loc).result

    h1 = conv(x, 8, 3, "/c1", activation="relu6")
    dw = conv(h1, 8, 3, "/dw", kind="core.depthwise_conv2d", activation="relu")
    h2 = conv(dw, 8, 1, "/c2")
    added = graph.create("core.add", [h1, h2], {}, loc="/add").result
    scaled = graph.create("core.mul", [added, graph.const(rng.standard_normal(8).astype(np.float32))], {},
                          loc="/scale").result
    h3 = conv(x, 4, 1, "/c3")
    joined = graph.create("core.concat", [scaled, h3], {"axis": 3}, loc="/cat").result
    pooled = graph.create("core.max_pool2d", [joined], {"kernel": [2, 2], "strides": [2, 2]}, loc="/pool").result
    y = conv(pooled, 5, 1, "/c4")
    graph.set_outputs([y], ["y"])
    verify(graph)
    return graph


def test_residual_add_concat_and_depthwise_are_rewired_together() -> None:
    graph = residual_graph(np.random.default_rng(3))
    # c1's channels flow through the depthwise conv into c2 and come back through the residual add: one space,
    # so the same channels must go from c1, dw (its filters and bias) and c2 (its inputs and outputs)
    for loc in ("/c1", "/dw", "/c2"):
        silence_channels(graph, loc, [2, 5])
    silence_channels(graph, "/c3", [3])
    before = graph.clone()
    report = prune_channels(graph, 0.25, exclude=["/c4"])
    verify(graph)
    spaces = {s.producers: (s.before, s.after) for s in report.spaces}
    assert spaces[("/c1", "/c2")] == (8, 6) and spaces[("/c3",)] == (4, 3)
    assert ("/c4",) not in spaces or spaces[("/c4",)] == (5, 5)  # the output's channels are pinned
    cat = next(op for op in graph if op.loc == "/cat")
    assert cat.result.type.shape == (1, 5, 5, 9)
    feed = {"x": np.random.default_rng(4).standard_normal((1, 5, 5, 3)).astype(np.float32)}
    assert_same_outputs(before, graph, feed)


def test_graph_outputs_and_unknown_consumers_pin_channels() -> None:
    graph = conv_chain(np.random.default_rng(5))
    fc = next(op for op in graph if op.loc == "/fc")
    graph.set_outputs([fc.result, next(op for op in graph if op.loc == "/c2").result], ["y", "features"])
    report = prune_channels(graph, 0.5)
    assert [s.producers for s in report.spaces if s.after < s.before] == [("/c1",)]
    verify(graph)


def test_quantized_graphs_and_bad_fractions_are_refused() -> None:
    graph = conv_chain(np.random.default_rng(6))
    with pytest.raises(QCompilerError, match=r"fraction must be in \[0, 1\)"):
        prune_channels(graph, 1.0)
    calibration = {"x": np.random.default_rng(7).standard_normal((4, 1, 6, 6, 3)).astype(np.float32)}
    with pytest.raises(QCompilerError, match="before quantization"):
        prune_channels(quantize(graph, "int8", calibration), 0.25)


def test_mac_counter_counts_conv_depthwise_and_dense() -> None:
    graph = residual_graph(np.random.default_rng(8))
    macs = {op.loc: op_macs(op) for op in graph if op.kind != "const"}
    assert macs["/c1"] == 5 * 5 * 8 * 3 * 3 * 3
    assert macs["/dw"] == 5 * 5 * 8 * 3 * 3
    assert macs["/c2"] == 5 * 5 * 8 * 8
    assert macs["/c4"] == 2 * 2 * 5 * 12
    assert macs["/add"] == 0 and macs["/pool"] == 0


@pytest.mark.parametrize("model", ["digits_cnn", "digits_mobilenet"])
def test_quarter_of_the_channels_cut_macs_by_a_fifth_and_the_model_still_compiles(model: str, tmp_path) -> None:
    from qcompiler.backends.tflite import export_tflite
    from qcompiler.backends.tflite.runtime import run_tflite

    graph = prepared_model(model)
    PassManager(parse_pipeline("prune{granularity=channel sparsity=0.25}"), verify_each=True).run(graph)
    report_graph = prepared_model(model)
    report = prune_channels(report_graph, 0.25)
    assert report.mac_reduction >= 0.20
    assert graph_macs(graph) == report.macs_after
    images, labels = digits_split(SHARED, model, "test", 20)
    calibration, _ = digits_split(SHARED, model, "calib", 50)
    # float TFLite: LiteRT agrees with our interpreter
    float_model = export_tflite(graph)
    for image in images[:5]:
        got = run_tflite(float_model, {"input": image[None]})
        np.testing.assert_allclose(next(iter(got.values())), run(graph, {"input": image[None]})["logits"],
                                   rtol=1e-4, atol=1e-5)
    # int8 TFLite: LiteRT's reference kernels give our interpreter's bytes
    quantized = quantize(graph, "int8", {"input": calibration})
    int8_model = export_tflite(quantized)
    for image in images[:5]:
        got = next(iter(run_tflite(int8_model, {"input": image[None]}).values()))
        np.testing.assert_array_equal(got, run(quantized, {"input": image[None]})["logits"])
    # MCU: the C library builds on the host and gives LiteRT's bytes
    from qcompiler.backends.mcu.target import write_target
    from qcompiler.emulate import emulate, missing_tools

    if missing_tools("host"):
        pytest.skip(f"host build needs {', '.join(missing_tools('host'))}")
    _, tflite_bytes = write_target(quantized, str(tmp_path / "lib"), "pruned")
    got = emulate(tmp_path / "lib", {"input": images[:5, None]}, "host")
    expected = np.stack([next(iter(run_tflite(tflite_bytes, {"input": image[None]}).values())) for image in images[:5]])
    np.testing.assert_array_equal(next(iter(got.values())), expected)


def test_refitting_consumers_recovers_accuracy() -> None:
    """Without data, cutting a quarter of digits_cnn's channels wrecks it; re-fitting the consumers on 100
    calibration images brings top-1 back within a few points."""
    graph = prepared_model("digits_cnn")
    images, labels = digits_split(SHARED, "digits_cnn", "test", 300)
    calibration, _ = digits_split(SHARED, "digits_cnn", "calib", 100)
    baseline = top1(graph, images, labels)
    data_free, refitted = graph.clone(), graph.clone()
    prune_channels(data_free, 0.25)
    report = prune_channels(refitted, 0.25, calibration={"input": calibration})
    verify(refitted)
    assert report.mac_reduction >= 0.2
    assert graph_macs(refitted) == graph_macs(data_free)
    assert top1(data_free, images, labels) < 0.5
    assert top1(refitted, images, labels) >= baseline - 0.08


def test_refit_is_exact_when_the_removed_channels_carry_nothing() -> None:
    """Zero channels: the least-squares refit reproduces the dense outputs (up to the ridge damping)."""
    graph = conv_chain(np.random.default_rng(9), channels=(3, 8, 6))
    silence_channels(graph, "/c1", [1, 6])
    before = graph.clone()
    rng = np.random.default_rng(10)
    calibration = {"x": rng.standard_normal((30, 1, 6, 6, 3)).astype(np.float32)}
    prune_channels(graph, 0.25, only=["/c1"], calibration=calibration)
    feed = {"x": rng.standard_normal((1, 6, 6, 3)).astype(np.float32)}
    np.testing.assert_allclose(run(graph, feed)["y"], run(before, feed)["y"], rtol=1e-2, atol=1e-2)
