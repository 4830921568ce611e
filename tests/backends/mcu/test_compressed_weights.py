"""Compressed layer weights in the MCU library: the packing round-trips exactly and picks the smallest form,
only the kernels a model needs are emitted, and libraries of clustered and pruned int8 models (every storage
kind: per-tensor and per-channel codebooks, sparse raw and sparse codebook) give the same bytes as our
interpreter running that int8 model, on the host, under ASan/UBSan and on a Cortex-M4 under qemu."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qcompiler.backends.c_common.weight_storage import (
    KINDS, candidates, choose_storage, decode, pack_bits, unpack_bits)
from qcompiler.backends.mcu import generate
from qcompiler.backends.mcu.emit import write_library
from qcompiler.emulate import emulate
from qcompiler.ir import Graph
from qcompiler.pass_manager import get_pass
from qcompiler.samples import run_samples
from qcompiler.types import TensorType

from conftest import SHARED_MODELS_DIR
from mcu_checks import quantized, require_board
from test_models import compiled
from quant_support import digits_split

BOARDS = {"host": ("host", False), "host-asan-ubsan": ("host", True), "cortex-m4": ("mps2-an386", False)}
#: Packed kernels and their header.
PACKED_FILES = ("kernels/qc_conv2d_packed_s8.c", "kernels/qc_fully_connected_packed_s8.c",
                "kernels/qc_packed_weights.h")


# -- packing ---------------------------------------------------------------------------------------------------------
def test_pack_bits_is_lsb_first_with_one_padding_byte():
    # 1, 2, 3 in two bits each: bits 0-1 = 01, 2-3 = 10, 4-5 = 11 -> 0b00111001
    assert pack_bits(np.array([1, 2, 3]), 2).tolist() == [0b00111001, 0]
    assert pack_bits(np.array([5, 1]), 3).tolist() == [0b00001101, 0]
    values = np.random.default_rng(0).integers(0, 128, 1000)
    np.testing.assert_array_equal(unpack_bits(pack_bits(values, 7), 7, 1000), values)


@pytest.mark.parametrize("seed", range(40))
def test_every_storage_decodes_to_the_weights(seed):
    rng = np.random.default_rng(seed)
    channels, taps = int(rng.integers(1, 12)), int(rng.integers(1, 80))
    levels = rng.integers(-128, 128, int(rng.integers(1, 60)))
    rows = levels[rng.integers(0, levels.size, (channels, taps))].astype(np.int8)
    rows[rng.random(rows.shape) < rng.random()] = 0
    options = candidates(rows)
    assert {p.kind for p in options} >= {"dense", "sparse"}
    for packed in options:
        np.testing.assert_array_equal(decode(packed), rows, err_msg=f"{packed.kind} {packed.per_channel}")
    best = choose_storage(rows)
    assert best.nbytes == min(p.nbytes for p in options) and best.kind in KINDS


def test_sizes_of_the_storage_kinds():
    rng = np.random.default_rng(1)
    shared = rng.choice(np.arange(-120, 120, 15), (32, 144)).astype(np.int8)  # 16 values shared by all rows
    best = choose_storage(shared)
    assert (best.kind, best.bits, best.per_channel) == ("codebook", 4, False)
    assert best.nbytes == 32 * 144 // 2 + 1 + 16  # indices, padding byte, one table
    per_row = np.stack([rng.choice(rng.integers(-128, 128, 4), 144) for _ in range(32)]).astype(np.int8)
    best = choose_storage(per_row)  # 4 values per row, different rows: 2 bits and a table per channel
    assert (best.kind, best.bits, best.per_channel) == ("codebook", 2, True)
    sparse = rng.integers(-128, 128, (8, 64)).astype(np.int8)
    sparse[rng.random(sparse.shape) < 0.8] = 0
    assert choose_storage(sparse).kind == "sparse"
    assert choose_storage(rng.integers(-128, 128, (8, 64)).astype(np.int8)).kind == "dense"


# -- libraries ---------------------------------------------------------------------------------------------------------
def small_model() -> Graph:
    """conv -> depthwise -> conv -> mean -> dense, with room for compression in every layer."""
    rng = np.random.default_rng(0)
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 8, 8, 3), "f32"))

    def weight(*shape: int) -> object:
        return graph.const(rng.normal(0, .4, shape).astype(np.float32))

    def bias(count: int) -> object:
        return graph.const(rng.normal(0, .1, count).astype(np.float32))

    conv = graph.create("core.conv2d", [x, weight(16, 3, 3, 3), bias(16)],
                        {"padding": [1, 1, 1, 1], "activation": "relu"}, loc="conv").result
    dw = graph.create("core.depthwise_conv2d", [conv, weight(1, 3, 3, 32), bias(32)],
                      {"padding": [1, 0, 1, 0], "strides": [2, 1], "depth_multiplier": 2}, loc="depthwise").result
    pointwise = graph.create("core.conv2d", [dw, weight(24, 1, 1, 32), None], {"activation": "relu6"}, loc="pointwise").result
    mean = graph.create("core.mean", [pointwise], {"axes": [1, 2], "keepdims": False}).result
    dense = graph.create("core.fully_connected", [mean, weight(10, 24), bias(10)], {}, loc="dense").result
    graph.set_outputs([dense], ["logits"])
    return graph


def layers(graph: Graph) -> list:
    """The quantized layer ops in order."""
    return [op for op in graph if op.kind in ("q.conv2d", "q.depthwise_conv2d", "q.fully_connected")]


def set_weight(graph: Graph, index: int, transform) -> None:
    """Replace the int8 weight of the ``index``-th quantized layer by ``transform(weight)``."""
    producer = layers(graph)[index].operand(1).producer
    producer.attrs["value"] = transform(producer.attrs["value"]).astype(np.int8)


def sparsify(weight: np.ndarray, keep: float, seed: int) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random(weight.shape) < keep, weight, 0)


@pytest.fixture(scope="module")
def every_kind() -> tuple[Graph, np.ndarray]:
    """The small model quantized, with a per-tensor codebook, a per-channel codebook, sparse raw and sparse
    codebook weights (one kind per layer), and samples for it."""
    rng = np.random.default_rng(3)
    samples = rng.standard_normal((12, 1, 8, 8, 3)).astype(np.float32)
    graph = quantized(small_model(), {"x": samples[:, 0]})
    cluster = get_pass("cluster-int8")
    cluster(clusters=16, only=["conv"]).run(graph)
    cluster(clusters=4, per_channel=True, only=["depthwise"]).run(graph)
    set_weight(graph, 2, lambda w: sparsify(w, 0.25, 0))
    set_weight(graph, 3, lambda w: sparsify(w, 0.4, 1))
    cluster(clusters=8, only=["dense"]).run(graph)
    return graph, samples


def test_every_kind_is_chosen_and_reported(every_kind):
    graph, _ = every_kind
    library = generate(graph, "small")
    rows = [row for row in library.report.layers if row.storage]
    assert [(r.storage, r.kernel) for r in rows] == [
        ("codebook", "conv2d_packed"), ("codebook", "conv2d_packed"), ("sparse", "conv2d_packed"),
        ("sparse-codebook", "fully_connected_packed")]
    assert all(r.weight_bytes < r.dense_weight_bytes for r in rows)
    assert library.report.to_json()["layer_weight_bytes"] == sum(r.weight_bytes for r in rows)
    assert all(path in library.files for path in PACKED_FILES)
    assert "kernels/qc_conv2d_s8.c" not in library.files  # no dense layer left: its kernel is not emitted


def test_plain_int8_models_keep_the_dense_kernels():
    library = generate(compiled("digits_mlp"), "mlp")
    assert not any(path in library.files for path in PACKED_FILES)
    assert {row.storage for row in library.report.layers if row.storage} == {"dense"}
    unpacked = generate(compiled("digits_cnn"), "cnn", compress=False)
    assert not any(path in unpacked.files for path in PACKED_FILES)


def assert_library_matches_interpreter(graph: Graph, samples: np.ndarray, folder: Path, board: str) -> None:
    """The library of ``graph`` gives, on ``board``, the bytes our interpreter computes for each sample."""
    target, sanitize = BOARDS[board]
    require_board(target)
    write_library(graph, str(folder), "model")
    name = graph.inputs[0].name
    got = next(iter(emulate(folder, {name: samples}, target, sanitize=sanitize).values()))
    want = np.stack([run_samples(graph, {name: sample[None]})[graph.output_names[0]][0] for sample in samples])
    assert got.dtype == want.dtype
    got = got.reshape(want.shape)
    differing = int(np.sum(np.any(got != want, axis=tuple(range(1, want.ndim)))))
    assert differing == 0, f"{board}: {differing} of {len(want)} samples differ from the interpreter"


@pytest.mark.parametrize("board", ["host", "host-asan-ubsan", pytest.param("cortex-m4", marks=pytest.mark.slow)])
def test_every_kind_bit_exact_with_the_interpreter(every_kind, board, tmp_path):
    graph, samples = every_kind
    assert_library_matches_interpreter(graph, samples[:, 0], tmp_path / "lib", board)


def clustered_digits(name: str) -> Graph:
    """The shared model int8, its weights clustered to 16 int8 values per tensor with bias correction."""
    graph = compiled(name)
    calibration, _ = digits_split(SHARED_MODELS_DIR, name, "calib")
    get_pass("cluster-int8")(clusters=16, calibration={graph.inputs[0].name: calibration}).run(graph)
    return graph


@pytest.mark.slow
@pytest.mark.parametrize("board", sorted(BOARDS))
@pytest.mark.parametrize("name", ["digits_cnn", "digits_mobilenet"])
def test_clustered_digits_bit_exact_with_the_interpreter(name, board, tmp_path):
    graph = clustered_digits(name)
    images, _ = digits_split(SHARED_MODELS_DIR, name, "test", 100)
    assert_library_matches_interpreter(graph, images[:, None], tmp_path / name, board)
    report = generate(graph, name).report
    stored, plain = report.layer_weight_bytes
    assert stored <= 0.55 * plain
