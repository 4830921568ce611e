"""Helpers of the MCU backend tests: quantize a float graph with the real int8 pipeline, generate the C library
and the .tflite of the same graph, run the C (host, sanitized host or Cortex-M4 under qemu) and LiteRT's
reference kernels on the same samples, and compare bytes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pytest

from qcompiler.backends.mcu.target import write_target
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.emulate import emulate, missing_tools
from qcompiler.ir import Graph
from qcompiler.quantize import quantize


def require_board(board: str) -> None:
    """Skip the test, with the reason, when the board's tools are missing."""
    missing = missing_tools(board)
    if missing:
        pytest.skip(f"board {board} needs {', '.join(missing)}")


def quantized(graph: Graph, calibration: Mapping[str, np.ndarray]) -> Graph:
    """``graph`` through the real int8 pipeline (calibrate, propagate-ranges, insert-qdq, lower-quantized)."""
    return quantize(graph, "int8", dict(calibration))


def litert_outputs(model: bytes, samples: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """LiteRT reference-kernel outputs per sample, stacked along a first axis (samples keep their batch axis)."""
    count = len(next(iter(samples.values())))
    runs = [run_tflite(model, {name: array[i] for name, array in samples.items()}) for i in range(count)]
    return {name: np.stack([run[name] for run in runs]) for name in runs[0]}


def assert_c_matches_litert(graph: Graph, samples: Mapping[str, np.ndarray], folder: Path,
                            boards: Sequence[str] = ("host",), sanitize: bool = False,
                            name: str = "model", io_type: str = "float") -> dict[str, np.ndarray]:
    """Generate the library of a quantized ``graph`` into ``folder``, run it on ``samples`` (arrays of whole
    inputs along a first sample axis) on every board and assert its outputs equal LiteRT's, byte for byte."""
    _, model = write_target(graph, str(folder), name, io_type)
    expected = litert_outputs(model, samples)
    for board in boards:
        require_board(board)
        got = emulate(folder, samples, board, sanitize=sanitize and board == "host")
        assert list(got) == list(expected)
        for key, want in expected.items():
            assert got[key].dtype == want.dtype and got[key].shape == want.shape, key
            differing = int(np.sum(np.any(got[key] != want, axis=tuple(range(1, want.ndim)))))
            assert differing == 0, f"{board}: {differing} of {len(want)} samples differ from LiteRT in {key}"
    return expected


def has_compiler() -> bool:
    """Whether a host C compiler and make are there."""
    return shutil.which("cc") is not None and shutil.which("make") is not None
