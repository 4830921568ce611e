"""FULLY_CONNECTED near rounding ties in the C backends: the MCU kernels (plain and packed weights; host
under ASan/UBSan and Cortex-M4 under qemu) and the Hexagon kernels (HVX and scalar under qemu, and host)
compute what the interpreter computes, LiteRT's reference ``round(double(acc) * scale)``, where a fixed-point
multiplier rounds differently. s_in * s_w / s_out = (1 + 2^-23)(1 - 2^-23) / 2 = 0.5 - 2^-47: its 31-bit
multiplier is exactly 2^30, so an odd accumulator is a tie in fixed point, while the double product rounds
towards zero (tests/backends/tflite/test_tflite_quantized.py pins the interpreter on LiteRT)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qcompiler.backends.hexagon.emit import write_library as write_hexagon
from qcompiler.backends.hexagon.runner import run_library
from qcompiler.backends.hexagon.toolchain import find_tools
from qcompiler.backends.mcu.emit import write_library as write_mcu
from qcompiler.emulate import emulate, missing_tools
from qcompiler.interpreter import run
from qcompiler.ir import CONST, Graph
from qcompiler.ops.registry import get_op_def
from qcompiler.types import QuantParams, TensorType

#: Input, weight and output scales whose double product is 0.5 - 2^-47.
INPUT_SCALE, WEIGHT_SCALE, OUTPUT_SCALE = 1 + 2.0**-23, 1 - 2.0**-23, 2.0
#: Every int8 value once, a row each; feature 0 carries it, the others are zero.
VALUES = np.arange(-128, 128, dtype=np.int8)


def near_tie_graph(out_features: int, in_features: int, per_channel: bool, offset: int = 0) -> Graph:
    """A q.fully_connected whose accumulators are the int8 values (and ``offset`` from a bias), times
    0.5 - 2^-47. Weights: column 0 all ones; the rest 0/1 at random (multiplied by zero inputs), so that a
    wide layer takes a packed (codebook) storage."""
    rng = np.random.default_rng(3)
    weight = rng.integers(0, 2, (out_features, in_features)).astype(np.int8)
    weight[:, 0] = 1
    weight_params = (QuantParams.per_axis("i8", [WEIGHT_SCALE] * out_features, [0] * out_features, 0)
                     if per_channel else QuantParams.per_tensor("i8", WEIGHT_SCALE, 0))
    graph = Graph()
    x = graph.add_input("x", TensorType((len(VALUES), in_features), "i8",
                                        QuantParams.per_tensor("i8", INPUT_SCALE, 0)))
    w = graph.create(CONST, [], {"value": weight}, [TensorType(weight.shape, "i8", weight_params)]).result
    operands = [x, w]
    if offset:
        bias = np.full(out_features, offset, np.int32)
        operands.append(graph.create(CONST, [], {"value": bias}, [TensorType(bias.shape, "i32", QuantParams.per_tensor(
            "i32", INPUT_SCALE * WEIGHT_SCALE, 0))]).result)
    op = graph.create("q.fully_connected", operands, {},
                      [TensorType((len(VALUES), out_features), "i8", QuantParams.per_tensor("i8", OUTPUT_SCALE, 0))])
    op.attrs.update(get_op_def("q.fully_connected").derive_attrs(op))
    graph.set_outputs([op.result], ["y"])
    return graph


def samples(in_features: int) -> np.ndarray:
    """One sample: the int8 values in feature 0, zeros elsewhere."""
    x = np.zeros((1, len(VALUES), in_features), np.int8)
    x[0, :, 0] = VALUES
    return x


#: (out_features, in_features, per_channel, bias offset)
CASES = [(1, 1, False, 0), (5, 64, True, 0), (40, 64, False, 1), (3, 16, True, -3)]


@pytest.mark.parametrize("case", CASES)
def test_interpreter_rounds_the_double_product(case):
    out_features, in_features, per_channel, offset = case
    graph = near_tie_graph(out_features, in_features, per_channel, offset)
    assert get_op_def("q.fully_connected").effective_scales(graph.ops_of_kind("q.fully_connected")[0])[0] \
        == 0.5 - 2.0**-47
    got = run(graph, {"x": samples(in_features)[0]})["y"]
    acc = VALUES.astype(np.int64) + offset
    want = np.clip(np.fix(acc / 2), -128, 127).astype(np.int8)  # 0.5 - tiny rounds towards zero
    np.testing.assert_array_equal(got, np.repeat(want[:, None], out_features, axis=1))


def assert_same(got: np.ndarray, want: np.ndarray, where: str) -> None:
    got = got.reshape(want.shape)
    assert np.array_equal(got, want), f"{where}: {int(np.sum(got != want))} outputs differ from the interpreter"


@pytest.mark.parametrize("board", ["host", "mps2-an386"])
@pytest.mark.parametrize("case", CASES)
def test_mcu_kernels_round_like_the_interpreter(case, board, tmp_path: Path):
    missing = missing_tools(board)
    if missing:
        pytest.skip(f"board {board} needs {', '.join(missing)}")
    graph = near_tie_graph(*case)
    x = samples(case[1])
    want = run(graph, {"x": x[0]})["y"]
    write_mcu(graph, str(tmp_path), "ties")
    got = emulate(tmp_path, {"x": x}, board, sanitize=board == "host")["y"]
    assert_same(got, want, board)


def test_wide_layer_uses_the_packed_kernel(tmp_path: Path):
    library = write_mcu(near_tie_graph(40, 64, False, 1), str(tmp_path), "ties")
    assert [row.kernel for row in library.report.layers if row.kernel.startswith("fully_connected")] == \
        ["fully_connected_packed"]


@pytest.mark.parametrize("build", ["hvx", "scalar", "host"])
@pytest.mark.parametrize("case", CASES)
def test_hexagon_kernels_round_like_the_interpreter(case, build, tmp_path: Path):
    reason = find_tools().missing_for_hexagon()
    if reason is not None and build != "host":
        pytest.skip(reason)
    graph = near_tie_graph(*case)
    x = samples(case[1])
    want = run(graph, {"x": x[0]})["y"]
    library = write_hexagon(graph, str(tmp_path), "ties")
    if build == "hvx":
        assert [row.kernel for row in library.report.layers if "fully_connected" in row.kernel] == \
            ["hvx_fully_connected"]
    assert_same(run_library(tmp_path, build, {"x": x})["y"], want, build)
