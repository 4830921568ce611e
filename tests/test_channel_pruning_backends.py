"""Issue 7, the emulated backends: digits_cnn and digits_mobilenet with a quarter of their channels cut
(``prune{granularity=channel sparsity=0.25 data=...}``, re-fitted on the calibration images, which leaves
layers of 6, 12, 24 and 48 channels), quantized int8, give exactly the bytes of LiteRT's reference kernels on
the .tflite of the same compile: the MCU library on Cortex-M4 under qemu (mps2-an386), and the Hexagon library
in its HVX and scalar-only builds under qemu-hexagon and in its host build. (Float and int8 TFLite and the MCU
host build are checked in test_channel_pruning.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pytest

from qcompiler.backends.hexagon.emit import write_library as write_hexagon
from qcompiler.backends.hexagon.runner import run_library
from qcompiler.backends.mcu.target import write_target
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.emulate import emulate, missing_tools
from qcompiler.ir import Graph
from qcompiler.macs import graph_macs
from qcompiler.pass_manager import PassManager, parse_pipeline
from qcompiler.quantize import quantize

from compression_support import SHARED, prepared_model
from quant_support import digits_split

MODELS = ("digits_cnn", "digits_mobilenet")
#: Test images each backend runs.
IMAGES = 10
#: The Hexagon library's builds and the board whose tools each needs.
HEXAGON_BUILDS = {"hvx": "hexagon-v67", "scalar": "hexagon-v67", "host": "host"}


def require(board: str) -> None:
    """Skip the test, with the reason, when ``board``'s tools are missing."""
    missing = missing_tools(board)
    if missing:
        pytest.skip(f"board {board} needs {', '.join(missing)}")


@pytest.fixture(scope="module", params=MODELS)
def pruned(request, tmp_path_factory) -> tuple[str, Graph, dict[str, np.ndarray]]:
    """(name, the channel-pruned model quantized int8, test samples by input name) of one digits model; the
    prune pass reads the calibration images from an .npz, as ``qcompiler compile --pipeline`` would."""
    name = request.param
    graph = prepared_model(name)
    dense_macs = graph_macs(graph)
    calibration, _ = digits_split(SHARED, name, "calib")
    data = tmp_path_factory.mktemp(f"{name}_calib") / "calib.npz"
    np.savez(data, **{graph.inputs[0].name: calibration})
    PassManager(parse_pipeline(f"prune{{granularity=channel sparsity=0.25 data={data}}}"), verify_each=True).run(graph)
    assert graph_macs(graph) <= 0.8 * dense_macs
    quantized = quantize(graph, "int8", {graph.inputs[0].name: calibration})
    images, _ = digits_split(SHARED, name, "test", IMAGES)
    return name, quantized, {graph.inputs[0].name: images[:, None]}


def litert_outputs(model: bytes, samples: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """LiteRT's reference-kernel outputs of ``model`` per sample, stacked along a first axis."""
    runs = [run_tflite(model, {key: array[i] for key, array in samples.items()}) for i in range(IMAGES)]
    return {key: np.stack([run[key] for run in runs]) for key in runs[0]}


def assert_same_bytes(got: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], where: str) -> None:
    """Every output of ``got`` has LiteRT's dtype, shape and bytes, sample by sample."""
    assert list(got) == list(expected)
    for key, want in expected.items():
        assert got[key].dtype == want.dtype and got[key].shape == want.shape, key
        differing = int(np.sum(np.any(got[key] != want, axis=tuple(range(1, want.ndim)))))
        assert differing == 0, f"{where}: {differing} of {len(want)} samples differ from LiteRT in {key}"


@pytest.mark.slow
def test_mcu_library_on_cortex_m4_gives_litert_bytes(pruned, tmp_path: Path) -> None:
    require("mps2-an386")
    name, graph, samples = pruned
    _, model = write_target(graph, str(tmp_path / "mcu"), name)
    got = emulate(tmp_path / "mcu", samples, "mps2-an386")
    assert_same_bytes(got, litert_outputs(model, samples), f"{name} on Cortex-M4")


@pytest.mark.slow
@pytest.mark.parametrize("build", sorted(HEXAGON_BUILDS))
def test_hexagon_library_gives_litert_bytes(pruned, build: str, tmp_path: Path) -> None:
    require(HEXAGON_BUILDS[build])
    name, graph, samples = pruned
    _, model = write_target(graph, str(tmp_path / "hexagon"), name, "float", write_hexagon)
    got = run_library(tmp_path / "hexagon", build, samples)
    assert_same_bytes(got, litert_outputs(model, samples), f"{name}, Hexagon {build} build")


@pytest.mark.slow
def test_hexagon_int8_interface_gives_litert_bytes(pruned, tmp_path: Path) -> None:
    """--io-type int8: the pruned first convolution (6 or 12 output channels) reads the caller's int8 buffer
    directly in the HVX build; random int8 inputs cover the whole input range."""
    require("hexagon-v67")
    name, graph, samples = pruned
    _, model = write_target(graph, str(tmp_path / "hexagon"), name, "int8", write_hexagon)
    shape = next(iter(samples.values())).shape
    rng = np.random.default_rng(0)
    int8_samples = {key: rng.integers(-128, 128, shape).astype(np.int8) for key in samples}
    got = run_library(tmp_path / "hexagon", "hvx", int8_samples)
    assert_same_bytes(got, litert_outputs(model, int8_samples), f"{name}, Hexagon hvx build, int8 I/O")
