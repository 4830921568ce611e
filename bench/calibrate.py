"""Benchmark of calibration on the shared digits models: seconds per method over the 200 calibration images,
how wide each method's ranges are against minmax, and how data-free ranges compare with calibrated ones
(share of tensors covered, median width ratio). Prints a table and writes ``bench/results/calibrate.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
import warnings

import numpy as np

from qcompiler.ir import Graph
from qcompiler.observers import OBSERVERS
from qcompiler.onnx_import import import_onnx
from qcompiler.pass_manager import PassManager
from qcompiler.passes.calibrate import calibrate
from qcompiler.value_ranges import get_range, is_float_tensor

SHARED = os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "calibrate.json")
#: Model -> how its 8x8 digits are fed (shared/models/README.md).
MODELS = {
    "digits_cnn": lambda x: np.repeat(np.repeat(x, 2, 1), 2, 2)[:, None],
    "digits_mobilenet": lambda x: np.repeat(np.repeat(x, 2, 1), 2, 2)[:, None],
    "digits_mlp": lambda x: x[:, None],
    "digits_transformer": lambda x: x,
}


def ranges(graph: Graph) -> list[tuple[float, float]]:
    """The range of every float tensor (constants aside), in graph order."""
    return [get_range(graph, v) for v in graph.values() if is_float_tensor(v) and not v.is_const]


def bench_model(name: str, images: np.ndarray) -> dict:
    """Time every method on one model and compare data-free ranges with minmax ones."""
    graph = import_onnx(os.path.join(SHARED, f"{name}.onnx"))
    PassManager("cleanup,legalize,to-nhwc,fuse-activations").run(graph)
    samples = {graph.inputs[0].name: MODELS[name](images).astype(np.float32)}
    row: dict = {"tensors": 0, "methods": {}}
    minmax = None
    for method in sorted(OBSERVERS, key=lambda m: m != "minmax"):
        copy = graph.clone()
        start = time.perf_counter()
        calibrate(copy, samples, method)
        seconds = time.perf_counter() - start
        found = ranges(copy)
        if minmax is None:
            minmax, row["tensors"] = found, len(found)
        widths = [(h - l) / (mh - ml) for (l, h), (ml, mh) in zip(found, minmax) if mh > ml]
        row["methods"][method] = {"seconds": seconds, "median_width_vs_minmax": float(np.median(widths))}
    free = graph.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        PassManager("propagate-ranges{data-free=true}", out=io.StringIO()).run(free)
    pairs = list(zip(ranges(free), minmax))
    covered = sum(f[0] <= m[0] + 1e-6 and f[1] >= m[1] - 1e-6 for f, m in pairs)
    ratios = [(f[1] - f[0]) / (m[1] - m[0]) for f, m in pairs if m[1] > m[0]]
    row["data_free"] = {"covered": covered, "of": len(pairs), "median_width_vs_minmax": float(np.median(ratios)),
                        "max_width_vs_minmax": float(np.max(ratios))}
    return row


def main() -> None:
    """Run the benchmark on every shared digits model and print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200, help="calibration images to use (at most 200)")
    args = parser.parse_args()
    with np.load(os.path.join(SHARED, "digits.npz")) as data:
        images = data["x_calib"][: args.samples]
    results = {}
    for name in MODELS:
        row = results[name] = bench_model(name, images)
        print(f"{name}: {row['tensors']} tensors, {len(images)} samples")
        for method, figures in row["methods"].items():
            print(f"  {method:15s} {figures['seconds']:7.3f} s   median width vs minmax "
                  f"{figures['median_width_vs_minmax']:.3f}")
        free = row["data_free"]
        print(f"  data-free       covers {free['covered']}/{free['of']} minmax ranges, width vs minmax "
              f"median {free['median_width_vs_minmax']:.2f} max {free['max_width_vs_minmax']:.2f}")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as handle:
        json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
