"""Shared pieces of the Hexagon backend tests: the C test drivers, built for HVX, scalar Hexagon and the host,
and the binary streams they read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

import pytest

from qcompiler.backends.hexagon.toolchain import KERNEL_DIRS, Tools, build_hexagon, build_host, find_tools, run_program
from qcompiler.interpreter import run
from qcompiler.ir import Graph, Op, Value
from qcompiler.ops.registry import get_op_def
from qcompiler.quant_math import float32_scale
from qcompiler.types import QuantParams, TensorType

#: The C test drivers (one per kernel, plus the runtime's hello program).
DRIVERS = Path(__file__).parent / "drivers"


@pytest.fixture(scope="session")
def tools() -> Tools:
    """The toolchain, skipping the test with the reason when clang-hexagon or qemu-hexagon is missing."""
    found = find_tools()
    reason = found.missing_for_hexagon()
    if reason is not None:
        pytest.skip(reason)
    return found


@dataclass(frozen=True)
class Build:
    """One build of a test driver: ``hvx`` and ``scalar`` run under qemu-hexagon, ``host`` natively."""

    name: str
    program: Path
    emulate: bool

    def run(self, stdin: bytes) -> bytes:
        """The driver's output on ``stdin``."""
        return run_program(self.program, stdin, emulate=self.emulate)


def driver_builds(driver: str, folder: Path, sources: Sequence[str] = ()) -> list[Build]:
    """``drivers/<driver>.c`` (with kernel ``sources`` from the template folders) built three ways: HVX and
    scalar-only for Hexagon, and scalar for the host."""
    files = [DRIVERS / f"{driver}.c", *[_kernel_source(name) for name in sources]]
    include = [DRIVERS]
    return [
        Build("hvx", build_hexagon(files, folder / f"{driver}_hvx.elf", include_dirs=include), True),
        Build("scalar", build_hexagon(files, folder / f"{driver}_scalar.elf", hvx=False, include_dirs=include), True),
        Build("host", build_host(files, folder / f"{driver}_host", include_dirs=include), False),
    ]


def _kernel_source(name: str) -> Path:
    for folder in KERNEL_DIRS:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(name)


def i32(*values: int) -> bytes:
    """Little-endian int32 scalars."""
    return np.asarray(values, dtype="<i4").tobytes()


def blob(array: np.ndarray, dtype: str) -> bytes:
    """``array`` as raw little-endian bytes of ``dtype``."""
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def array(values: Optional[np.ndarray], dtype: str) -> bytes:
    """An array as the drivers read it: its byte count, then its bytes (count 0 for an absent array)."""
    if values is None:
        return i32(0)
    data = blob(values, dtype)
    return i32(len(data)) + data


#: Filler of the output buffers: bytes a kernel must not write past its output.
CANARY = 0x5A
#: Bytes of canary after each output.
SLACK = 256


def output_buffer(count: int) -> bytes:
    """A prefilled output buffer of ``count`` bytes plus the canary slack."""
    return array(np.full(count + SLACK, CANARY, dtype=np.int8), "i1")


def check_outputs(builds: Sequence["Build"], stream: bytes, expected: np.ndarray) -> None:
    """Every build's output equals ``expected`` (int8) byte for byte and leaves the canary after it intact."""
    want = np.ascontiguousarray(expected, dtype=np.int8).reshape(-1)
    for build in builds:
        got = np.frombuffer(build.run(stream), dtype=np.int8)
        assert got.size == want.size + SLACK, build.name
        mismatch = np.flatnonzero(got[: want.size] != want)
        assert mismatch.size == 0, (build.name, mismatch[:8], got[mismatch[:8]], want[mismatch[:8]])
        assert np.all(got[want.size:] == CANARY), f"{build.name} wrote past its output"


def single_op_graph(kind: str, inputs: Sequence[TensorType], constants: Sequence[Optional[tuple]], attrs: dict,
                    result: TensorType) -> tuple[Graph, Op]:
    """A graph of one q op: graph inputs of ``inputs``, then constant operands (``(array, quant)`` or None for
    an absent optional operand); the op carries its derived integer attributes, as lower-quantized leaves it."""
    graph = Graph()
    operands: list[Optional[Value]] = [graph.add_input(f"x{i}", t) for i, t in enumerate(inputs)]
    for entry in constants:
        if entry is None:
            operands.append(None)
            continue
        values, quant = entry
        operands.append(graph.create("const", [], {"value": values},
                                     [TensorType(values.shape, quant.storage, quant)]).result)
    op = graph.create(kind, operands, dict(attrs), [result])
    op.attrs.update(get_op_def(kind).derive_attrs(op))
    graph.set_outputs([op.result], ["y"])
    return graph, op


def random_params(rng: np.random.Generator) -> QuantParams:
    """Random int8 activation parameters (any zero point)."""
    return QuantParams.per_tensor("i8", float32_scale(rng.uniform(0.005, 0.1)), int(rng.integers(-100, 100)))


#: The window fields of the convolution drivers (QC_DRIVER_WINDOW), in order.
WINDOW_FIELDS = ("batches", "in_h", "in_w", "in_c", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w",
                 "dilation_h", "dilation_w", "pad_top", "pad_left", "input_offset", "output_offset", "act_min",
                 "act_max")


def per_channel_quant(rng: np.random.Generator, source: QuantParams, channels: int,
                      axis: int) -> tuple[QuantParams, QuantParams]:
    """Random per-channel int8 weight parameters along ``axis`` and the int32 bias parameters they imply."""
    scales = [float32_scale(s) for s in rng.uniform(0.001, 0.05, channels)]
    bias = [float32_scale(source.scale * s) for s in scales]
    return (QuantParams.per_axis("i8", scales, [0] * channels, axis),
            QuantParams.per_axis("i32", bias, [0] * channels, 0))


def window_output(size: int, before: int, after: int, kernel: int, stride: int, dilation: int) -> int:
    """Output size of a window op along one axis with explicit padding."""
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


def random_int8(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    """Uniform int8 values."""
    return rng.integers(-128, 128, size=tuple(shape)).astype(np.int8)


def interpret(graph: Graph, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The reference interpreter's output ``y``."""
    return run(graph, feeds)["y"]
