"""Tests of the quantization report: SQNR arithmetic, tensor matching, per-layer isolation, and the files it
writes (JSON, Markdown, PNG)."""

from __future__ import annotations

import json
import math
import struct
import zlib

import numpy as np
import pytest

from qcompiler.bar_chart_png import Bar, bar_chart_png, png_bytes
from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.ir import Graph
from qcompiler.onnx_import import import_onnx
from qcompiler.pass_manager import PassManager, parse_pipeline
from qcompiler.quant_report import NoiseMeter, build_report, match_tensors, sqnr_db, write_report

PREPARE = "cleanup,legalize,to-nhwc,fuse-activations"


def digits_images(digits: dict, key: str, count: int) -> np.ndarray:
    """``count`` images of ``digits[key]`` as digits_cnn takes them (16x16, one channel)."""
    images = digits[key][:count].astype(np.float32)
    return np.repeat(np.repeat(images, 2, 1), 2, 2)[:, None]


@pytest.fixture(scope="module")
def cnn(shared_models_dir) -> Graph:
    """digits_cnn prepared for quantization (NHWC core ops, fused activations)."""
    graph = import_onnx(shared_models_dir / "digits_cnn.onnx")
    PassManager(parse_pipeline(PREPARE)).run(graph)
    return graph


def conv_weights(graph: Graph) -> list:
    """The conv2d ops' weight constants' ops, in graph order."""
    return [op.operand(1).producer for op in graph.ops_of_kind("core.conv2d")]


# -- SQNR ----------------------------------------------------------------------------------------------------
def test_sqnr_of_known_arrays():
    reference = np.array([3.0, 4.0])
    assert sqnr_db(reference, np.array([3.0, 4.5])) == pytest.approx(10 * math.log10(25 / 0.25))
    assert sqnr_db(reference, reference) == math.inf
    assert sqnr_db(np.zeros(3), np.ones(3)) == -math.inf


def test_meter_pools_power_over_arrays():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(50), rng.standard_normal(70)
    na, nb = a + 0.1 * rng.standard_normal(50), b + 0.01 * rng.standard_normal(70)
    meter = NoiseMeter()
    meter.add(a, na)
    meter.add(b, nb)
    assert meter.sqnr_db == pytest.approx(sqnr_db(np.concatenate([a, b]), np.concatenate([na, nb])))
    assert meter.max_abs_error == pytest.approx(max(np.abs(na - a).max(), np.abs(nb - b).max()))
    assert meter.count == 2


# -- float against float -------------------------------------------------------------------------------------
def test_identical_graphs_are_exact(cnn, digits):
    report = build_report(cnn, cnn.clone(), {"input": digits_images(digits, "x_calib", 4)}, include_float=True)
    assert report.samples == 4
    assert report.activations and all(r.sqnr_db == math.inf and r.layer_sqnr_db == math.inf
                                       for r in report.activations)
    assert report.outputs[0].sqnr_db == math.inf and report.outputs[0].top1_agreement == 1.0
    assert report.worst_layers() == []


def test_a_perturbed_layer_is_isolated_and_ranked_worst(cnn, digits):
    images = digits_images(digits, "x_calib", 8)
    perturbed = cnn.clone()
    second = conv_weights(perturbed)[1]
    rng = np.random.default_rng(1)
    weight = second.attrs["value"]
    second.attrs["value"] = (weight + 0.05 * np.abs(weight).max() * rng.standard_normal(weight.shape)).astype(
        np.float32)
    report = build_report(cnn, perturbed, {"input": images}, include_float=True)
    rows = {r.layer: r for r in report.activations}
    second_loc = perturbed.ops_of_kind("core.conv2d")[1].loc
    assert math.isfinite(rows[second_loc].layer_sqnr_db)
    # only the perturbed layer has an error of its own; the layers after it inherit it
    others = [r for r in report.activations if r.layer != second_loc]
    assert all(r.layer_sqnr_db == math.inf for r in others)
    assert report.worst_layers()[0].layer == second_loc
    after = [r for r in report.activations if r.index > rows[second_loc].index]
    assert after and all(math.isfinite(r.sqnr_db) for r in after)
    before = [r for r in report.activations if r.index < rows[second_loc].index]
    assert all(r.sqnr_db == math.inf for r in before)
    # the output SQNR is the one computed directly from both graphs' outputs
    want = np.stack([run(cnn, {"input": x[None]})["logits"] for x in images])
    have = np.stack([run(perturbed, {"input": x[None]})["logits"] for x in images])
    assert report.outputs[0].sqnr_db == pytest.approx(sqnr_db(want, have), rel=1e-9)
    # cumulative SQNR at the perturbed layer equals its isolated SQNR: its inputs are exact
    assert rows[second_loc].sqnr_db == pytest.approx(rows[second_loc].layer_sqnr_db, rel=1e-9)


def test_max_samples_and_errors(cnn, digits):
    report = build_report(cnn, cnn.clone(), {"input": digits_images(digits, "x_calib", 6)}, max_samples=2)
    assert report.samples == 2 and report.tensors == []  # a float graph has no quantized tensor
    other = cnn.clone()
    other.set_outputs(list(other.outputs) * 2, ["a", "b"])
    with pytest.raises(QCompilerError, match="output"):
        build_report(cnn, other, {"input": digits_images(digits, "x_calib", 1)})
    with pytest.raises(QCompilerError, match="no input of that name"):
        build_report(cnn, cnn.clone(), {"images": digits_images(digits, "x_calib", 1)})


def test_matching_follows_quantization_names():
    graph = Graph()
    x = graph.add_input("x", _f32(4))
    y = graph.create("core.relu", [x], result_types=[_f32(4)], loc="relu1", result_names=["y"]).result
    graph.set_outputs([y], ["y"])
    quantized = Graph()
    qx = quantized.add_input("x", _f32(4))
    renamed = quantized.create("core.relu", [qx], result_types=[_f32(4)], loc="relu1", result_names=["y.q"]).result
    other = quantized.create("core.relu", [renamed], result_types=[_f32(4)], loc="elsewhere",
                             result_names=["z"]).result
    quantized.set_outputs([other], ["y"])
    matches = match_tensors(graph, quantized)
    assert [(m.quantized.name, m.reference.name) for m in matches] == [("y.q", "y")]


def _f32(*shape):
    from qcompiler.types import TensorType

    return TensorType(shape, "f32")


# -- files -----------------------------------------------------------------------------------------------------
def _decode_png(data: bytes) -> np.ndarray:
    """Decode the PNGs ``png_bytes`` writes (8-bit RGB, filter 0) back to pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        position += 12 + length
    width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2) and b"IEND" in chunks
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + 3 * width)
    assert not rows[:, 0].any()
    return rows[:, 1:].reshape(height, width, 3)


def test_png_round_trips_pixels():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(_decode_png(png_bytes(pixels)), pixels)


def test_bar_chart_heights_follow_values():
    data = bar_chart_png([Bar(10.0), Bar(20.0, highlight=True), Bar(None), Bar(math.inf)], bar_width=10)
    assert data == bar_chart_png([Bar(10.0), Bar(20.0, highlight=True), Bar(None), Bar(math.inf)], bar_width=10)
    pixels = _decode_png(data)
    red = np.all(pixels == (200, 60, 50), axis=2)
    blue = np.all(pixels == (70, 110, 170), axis=2)
    assert red.any() and blue.any()
    assert red.any(axis=1).sum() == pytest.approx(2 * blue.any(axis=1).sum(), abs=1)


def test_write_report_files(cnn, digits, tmp_path):
    perturbed = cnn.clone()
    first = conv_weights(perturbed)[0]
    first.attrs["value"] = (first.attrs["value"] * 1.02).astype(np.float32)
    report = build_report(cnn, perturbed, {"input": digits_images(digits, "x_calib", 3)}, include_float=True)
    files = write_report(report, tmp_path / "report")
    data = json.loads(files.json.read_text())
    assert data["samples"] == 3 and data["worst_layers"] == [report.worst_layers()[0].name]
    assert any(t["layer_sqnr_db"] is None for t in data["tensors"])  # exact layers: no finite SQNR
    markdown = files.markdown.read_text()
    assert "## Layers that hurt most" in markdown and report.worst_layers()[0].name in markdown
    pixels = _decode_png(files.chart.read_bytes())
    assert pixels.shape[2] == 3
    with pytest.raises(QCompilerError, match="not a folder"):
        write_report(report, files.json)


# -- a quantized model -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def int8_cnn(cnn, digits):
    """digits_cnn quantized to int8 (per channel, MinMax on 100 x_calib images), in QDQ form and lowered."""
    from qcompiler.quantize import quantize

    calib = {"input": digits_images(digits, "x_calib", 100)}
    return {lower: quantize(cnn, "int8", calib, lower=lower) for lower in (False, True)}


@pytest.mark.parametrize("lower", [False, True], ids=["qdq", "lowered"])
def test_int8_model_report(cnn, int8_cnn, digits, lower):
    quantized = int8_cnn[lower]
    images = digits_images(digits, "x_train", 12)
    report = build_report(cnn, quantized, {"input": images})
    rows = {row.name: row for row in report.tensors}
    # every weighted layer has weight and bias rows, measured on the constants themselves
    weighted = cnn.ops_of_kind("core.conv2d", "core.fully_connected")
    assert sum(row.weight for row in report.tensors) == 2 * len(weighted)
    assert all(30 < row.sqnr_db < 120 for row in report.tensors if row.weight)
    # every computed quantized tensor has a row; data movement adds no error of its own, compute layers do
    assert all(row.storage == "i8" for row in report.activations)
    kinds = {row.op.split(".", 1)[1]: row for row in report.activations}
    assert kinds["max_pool2d"].layer_sqnr_db == math.inf and kinds["reshape"].layer_sqnr_db == math.inf
    for op in weighted:
        row = rows[op.result.name]
        assert 25 < row.layer_sqnr_db < 60 and 20 < row.sqnr_db < 60
    assert report.worst_layers()[0].op.endswith("conv2d")
    # the input row is the input's own rounding: 8-bit steps over [0, 1]
    assert rows["input"].sqnr_db == pytest.approx(rows["input"].layer_sqnr_db)
    step = quantized.ops_of_kind("q.quantize")[0].result.type.quant.scale
    flat = images.astype(np.float64)
    assert rows["input"].max_abs_error <= step / 2 + 1e-7
    assert rows["input"].sqnr_db > 10 * math.log10(np.mean(flat ** 2) / (step ** 2 / 4))
    # the output SQNR is the one computed directly from both graphs' outputs
    want = np.stack([run(cnn, {"input": x[None]})["logits"] for x in images])
    have = np.stack([run(quantized, {"input": x[None]})["logits"] for x in images])
    assert report.outputs[0].sqnr_db == pytest.approx(sqnr_db(want, have), rel=1e-9)
    assert report.outputs[0].top1_agreement == np.mean(want.argmax(-1) == have.argmax(-1))


def test_qdq_and_lowered_reports_agree(cnn, int8_cnn, digits):
    images = {"input": digits_images(digits, "x_train", 8)}
    qdq, lowered = (build_report(cnn, int8_cnn[lower], images) for lower in (False, True))
    assert [r.name for r in qdq.tensors] == [r.name for r in lowered.tensors]
    for a, b in zip(qdq.tensors, lowered.tensors):
        assert a.sqnr_db == pytest.approx(b.sqnr_db, abs=1.0)
