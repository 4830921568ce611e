"""Benchmark of the reference interpreter on ONNX's light architecture models (and the shared examples).

For each model prints the interpreter's run time with the fast numpy kernels (best of ``--repeat``), the time
with every op on ``onnx.reference`` (``--reference``; slow), onnxruntime's time, the max relative difference
from onnxruntime, and the op types that take the most time; writes ``bench/results/interpreter.json``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import time
from collections import defaultdict
from typing import Optional

import numpy as np
import onnx

from qcompiler.interpreter import run
from qcompiler.ir import Graph, Value
from qcompiler.onnx_import import import_onnx
from qcompiler.ops.onnx_kernels import fast_kernels_disabled

SHARED = os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models")
LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "interpreter.json")


def seeded_feeds(graph: Graph) -> dict[str, np.ndarray]:
    """Seeded random inputs for every graph input (dynamic dims set to 1)."""
    rng = np.random.default_rng(0)
    return {v.name: rng.standard_normal([d if isinstance(d, int) else 1 for d in v.type.shape]).astype(v.type.dtype)
            for v in graph.inputs}


def best_run_seconds(graph: Graph, feeds: dict, repeat: int) -> tuple[float, dict]:
    """The best wall time of ``repeat`` interpreter runs, and the outputs."""
    best, outputs = float("inf"), {}
    for _ in range(repeat):
        start = time.perf_counter()
        outputs = run(graph, feeds)
        best = min(best, time.perf_counter() - start)
    return best, outputs


def op_type_profile(graph: Graph, feeds: dict) -> dict[str, float]:
    """Seconds per op kind in one run, from the gaps between the interpreter's ``observe`` calls."""
    seconds: dict[str, float] = defaultdict(float)
    last = [time.perf_counter()]

    def observe(value: Value, array: np.ndarray) -> None:
        now = time.perf_counter()
        if value.producer is not None and value.result_index == 0:
            seconds[value.producer.kind] += now - last[0]
        last[0] = now

    run(graph, feeds, observe=observe)
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


def onnxruntime_run(path: str, feeds: dict, repeat: int) -> tuple[float, list]:
    """onnxruntime's best run time and outputs on the same feeds."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    best, outputs = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        outputs = session.run(None, feeds)
        best = min(best, time.perf_counter() - start)
    return best, outputs


def measure(path: str, repeat: int, with_reference: bool) -> dict:
    """All figures of one model as a dict."""
    graph = import_onnx(path)
    feeds = seeded_feeds(graph)
    run_s, outputs = best_run_seconds(graph, feeds, repeat)
    reference_s: Optional[float] = None
    if with_reference:
        with fast_kernels_disabled():
            reference_s, _ = best_run_seconds(graph, feeds, 1)
    ort_s, expected = onnxruntime_run(path, feeds, repeat)
    diff = max(float(np.abs(outputs[name] - ref).max()) / (float(np.abs(ref).max()) or 1.0)
               for name, ref in zip(graph.output_names, expected))
    profile = op_type_profile(graph, feeds)
    return {"model": os.path.basename(path), "ops": len(graph), "interpreter_s": round(run_s, 4),
            "reference_only_s": None if reference_s is None else round(reference_s, 4),
            "onnxruntime_s": round(ort_s, 5), "max_rel_diff": diff,
            "top_op_kinds_s": {k: round(v, 4) for k, v in list(profile.items())[:5]}}


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark over the chosen models and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per model; the best time counts")
    parser.add_argument("--reference", action="store_true",
                        help="also time every op on onnx.reference (no fast kernels), once per model")
    parser.add_argument("--shared", action="store_true", help="also run the shared example models")
    parser.add_argument("models", nargs="*", help="light model names (e.g. resnet50); default: all")
    args = parser.parse_args(argv)
    paths = sorted(glob.glob(os.path.join(LIGHT, "*.onnx")))
    if args.models:
        paths = [p for p in paths if any(os.path.basename(p) == f"light_{m}.onnx" for m in args.models)]
    if args.shared:
        paths += sorted(glob.glob(os.path.join(SHARED, "*.onnx")))
    rows = []
    print(f"{'model':28} {'ops':>5} {'run s':>8} {'ref-only s':>10} {'ort s':>8} {'max rel diff':>12}  top op kinds")
    for path in paths:
        row = measure(path, args.repeat, args.reference)
        rows.append(row)
        reference = "-" if row["reference_only_s"] is None else f"{row['reference_only_s']:.3f}"
        top = ", ".join(f"{k} {v:.3f}" for k, v in list(row["top_op_kinds_s"].items())[:3])
        print(f"{row['model']:28} {row['ops']:5d} {row['interpreter_s']:8.3f} {reference:>10} "
              f"{row['onnxruntime_s']:8.4f} {row['max_rel_diff']:12.3g}  {top}")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as handle:
        json.dump({"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
                   "models": rows}, handle, indent=2)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
