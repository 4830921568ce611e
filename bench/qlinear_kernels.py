"""Speed and agreement of the q dialect's linear integer kernels on layer sizes of real models.

For each case (a MobileNet/ResNet-sized conv, depthwise conv, fully connected layer, add, average pool,
mean; int8 and int16x8) a single-op graph with random per-channel weights is exported and run on the same
random inputs by our interpreter, LiteRT's reference kernels (the oracle: must agree bit for bit) and
LiteRT's default (optimized) kernels. Prints, per case, the best-of-N time of one run of each and how many
output elements differ from ours; writes ``bench/results/qlinear_kernels.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Callable

import numpy as np

from qcompiler import interpreter
from qcompiler.backends.tflite import export_tflite
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.ir import Graph
from qcompiler.ops.registry import get_op_def
from qcompiler.quant_math import float32_scale
from qcompiler.types import QuantParams, TensorType

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "qlinear_kernels.json")


def params(storage: str, scale: float, zero_point: int = 0) -> QuantParams:
    """Per-tensor parameters (int16 symmetric)."""
    return QuantParams.per_tensor(storage, float32_scale(scale), zero_point if storage == "i8" else 0)


def weighted(kind: str, shape, weight_shape, axis: int, out_shape, attrs: dict) -> Callable[[str], Graph]:
    """A builder of a conv/depthwise/FC graph with random per-channel int8 weights and bias."""

    def build(storage: str) -> Graph:
        rng = np.random.default_rng(0)
        graph = Graph()
        source = params(storage, 0.02 if storage == "i8" else 1e-4, -5)
        x = graph.add_input("x", TensorType(shape, storage, source))
        scales = [float32_scale(s) for s in rng.uniform(0.002, 0.02, size=weight_shape[axis])]
        w = rng.integers(-127, 128, size=weight_shape).astype(np.int8)
        weight = graph.create("const", [], {"value": w}, [TensorType(
            w.shape, "i8", QuantParams.per_axis("i8", scales, [0] * len(scales), axis))]).result
        bias_storage = "i32" if storage == "i8" else "i64"
        b = rng.integers(-5000, 5000, size=len(scales)).astype(np.int32 if storage == "i8" else np.int64)
        bias = graph.create("const", [], {"value": b}, [TensorType(b.shape, bias_storage, QuantParams.per_axis(
            bias_storage, [float32_scale(source.scale * s) for s in scales], [0] * len(scales), 0))]).result
        out = params(storage, 0.05 if storage == "i8" else 4e-4, 3)
        return single_op(graph, kind, [x, weight, bias], attrs, out_shape, out)

    return build


def elementwise(kind: str, shapes, out_shape, attrs: dict, same_params: bool = False) -> Callable[[str], Graph]:
    """A builder of a graph of one op on graph inputs."""

    def build(storage: str) -> Graph:
        graph = Graph()
        source = params(storage, 0.02 if storage == "i8" else 1e-4, -5)
        inputs = [graph.add_input(f"x{i}", TensorType(s, storage, source)) for i, s in enumerate(shapes)]
        out = source if same_params else params(storage, 0.03 if storage == "i8" else 2e-4, 7)
        return single_op(graph, kind, inputs, attrs, out_shape, out)

    return build


def single_op(graph: Graph, kind: str, operands, attrs: dict, out_shape, out: QuantParams) -> Graph:
    """Add ``kind`` with its derived integer attributes as the graph's only output."""
    op = graph.create(kind, operands, dict(attrs), [TensorType(tuple(out_shape), out.storage, out)])
    op.attrs.update(get_op_def(kind).derive_attrs(op))
    graph.set_outputs([op.result], ["y"])
    return graph


CASES = {
    "conv2d 1x56x56x64 -> 64, 3x3": weighted(
        "q.conv2d", (1, 56, 56, 64), (64, 3, 3, 64), 0, (1, 56, 56, 64), {"padding": [1, 1, 1, 1],
                                                                          "activation": "relu"}),
    "conv2d 1x28x28x128 -> 256, 1x1": weighted(
        "q.conv2d", (1, 28, 28, 128), (256, 1, 1, 128), 0, (1, 28, 28, 256), {}),
    "depthwise 1x112x112x32, 3x3": weighted(
        "q.depthwise_conv2d", (1, 112, 112, 32), (1, 3, 3, 32), 3, (1, 112, 112, 32),
        {"padding": [1, 1, 1, 1], "activation": "relu6"}),
    "fully_connected 1x1024 -> 1000": weighted("q.fully_connected", (1, 1024), (1000, 1024), 0, (1, 1000), {}),
    "add 1x56x56x64": elementwise("q.add", [(1, 56, 56, 64)] * 2, (1, 56, 56, 64), {"activation": "relu"}),
    "mul 1x56x56x64 by 1x1x1x64": elementwise("q.mul", [(1, 56, 56, 64), (1, 1, 1, 64)], (1, 56, 56, 64), {}),
    "avg_pool2d 1x56x56x64, 3x3/2": elementwise(
        "q.avg_pool2d", [(1, 56, 56, 64)], (1, 28, 28, 64), {"kernel": [3, 3], "strides": [2, 2],
                                                             "padding": [0, 0, 1, 1]}, same_params=True),
    "mean 1x7x7x1024 over HW": elementwise("q.mean", [(1, 7, 7, 1024)], (1, 1, 1, 1024),
                                           {"axes": [1, 2], "keepdims": True}),
}


def best_time(run: Callable[[], object], repeats: int) -> float:
    """The best wall time of ``repeats`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Run every case in int8 and int16x8, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing (the best is kept)")
    args = parser.parse_args()
    rows = []
    print(f"{'case':36} {'storage':7} {'ours ms':>9} {'ref ms':>9} {'opt ms':>9} {'ref diff':>8} {'opt diff':>8}")
    for name, build in CASES.items():
        for storage in ("i8", "i16"):
            graph = build(storage)
            source = graph.inputs[0].type
            rng = np.random.default_rng(1)
            info = np.iinfo(source.dtype)
            feeds = {v.name: rng.integers(info.min, info.max, size=v.type.shape, endpoint=True).astype(source.dtype)
                     for v in graph.inputs}
            model = export_tflite(graph)
            ours = interpreter.run(graph, feeds)["y"]
            reference = run_tflite(model, feeds)["y"]
            try:
                optimized = run_tflite(model, feeds, reference_kernels=False)["y"]
                optimized_diff = int(np.count_nonzero(optimized != ours))
                optimized_ms = 1e3 * best_time(lambda: run_tflite(model, feeds, reference_kernels=False), args.repeats)
            except Exception:  # some int16x8 ops have no optimized kernel
                optimized_diff, optimized_ms = None, None
            row = {
                "case": name, "storage": storage,
                "ours_ms": 1e3 * best_time(lambda: interpreter.run(graph, feeds), args.repeats),
                "reference_ms": 1e3 * best_time(lambda: run_tflite(model, feeds), args.repeats),
                "optimized_ms": optimized_ms,
                "reference_differences": int(np.count_nonzero(reference != ours)),
                "optimized_differences": optimized_diff, "elements": int(ours.size),
            }
            rows.append(row)
            opt_ms = "-" if optimized_ms is None else f"{optimized_ms:9.2f}"
            opt_diff = "-" if optimized_diff is None else str(optimized_diff)
            print(f"{name:36} {storage:7} {row['ours_ms']:9.2f} {row['reference_ms']:9.2f} {opt_ms:>9} "
                  f"{row['reference_differences']:8d} {opt_diff:>8}")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as handle:
        json.dump(rows, handle, indent=2)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
