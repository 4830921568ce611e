"""Agreement and speed of the q dialect's nonlinear integer kernels against the TFLite runtimes.

For each op and storage, over several random input/output quantizations, a single-op graph is exported and
run on the same inputs (every int8 value; random int16 values) by our interpreter, LiteRT's reference kernels
(the oracle: must agree bit for bit), LiteRT's default (optimized) kernels and TFLite Micro. Prints, per op,
how many output elements differ from ours and by how much at most, and the time of one run of our
kernel and of LiteRT's reference kernel; writes ``bench/results/qnonlinear_kernels.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Callable, Optional

import numpy as np

from qcompiler import interpreter
from qcompiler.backends.tflite import export_tflite
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.ir import Graph
from qcompiler.quant_math import choose_quant_params, float32_scale
from qcompiler.types import QuantParams, TensorType

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "qnonlinear_kernels.json")
SHAPE = (64, 256)

#: (op kind, attributes, storage, real function for choosing output parameters or None for fixed outputs)
CASES: tuple[tuple[str, dict, str, Optional[Callable[[np.ndarray], np.ndarray]]], ...] = (
    ("q.softmax", {}, "i8", None),
    ("q.logistic", {}, "i8", None),
    ("q.tanh", {}, "i8", None),
    ("q.hard_swish", {}, "i8", lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("q.gelu", {}, "i8", lambda x: x * 0.5 * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))),
    ("q.exp", {}, "i8", lambda x: np.exp(np.minimum(x, 5))),
    ("q.leaky_relu", {"alpha": 0.1}, "i8", lambda x: np.where(x > 0, x, 0.1 * x)),
    ("q.relu6", {}, "i8", lambda x: np.clip(x, 0, 6)),
    ("q.rsqrt", {}, "i8", lambda x: 1 / np.sqrt(np.maximum(x, 0.05))),
    ("q.softmax", {}, "i16", None),
    ("q.logistic", {}, "i16", None),
    ("q.tanh", {}, "i16", None),
    ("q.exp", {}, "i16", lambda x: np.exp(np.minimum(x, 3))),
)


def build(kind: str, attrs: dict, storage: str, function, rng: np.random.Generator) -> tuple[Graph, np.ndarray]:
    """A single-op graph with random parameters, and an input array for it."""
    if storage == "i16":
        source = QuantParams.per_tensor("i16", float32_scale(10 ** rng.uniform(-4.5, -3)), 0)
        values = rng.integers(-32768, 32768, size=SHAPE).astype(np.int16)
    else:
        zero_point = -128 if kind == "q.rsqrt" else int(rng.integers(-100, 100))
        source = QuantParams.per_tensor("i8", float32_scale(10 ** rng.uniform(-2.5, -0.8)), zero_point)
        values = np.resize(rng.permutation(np.arange(-128, 128)), SHAPE).astype(np.int8)
    result_types = None
    if function is not None:
        reals = source.scale * (np.arange(source.qmin, source.qmax + 1) - source.zero_point)
        outputs = function(reals)
        result = choose_quant_params(float(outputs.min()), float(outputs.max()), storage, storage == "i16")
        result_types = [TensorType(SHAPE, storage, result)]
    graph = Graph()
    x = graph.add_input("x", TensorType(SHAPE, storage, source))
    op = graph.create(kind, [x], attrs, result_types)
    graph.set_outputs([op.result], ["y"])
    return graph, values


def run_micro(model: bytes, values: np.ndarray) -> Optional[np.ndarray]:
    """The model's output in TFLite Micro, or None when it cannot run it."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    try:
        micro = runtime.Interpreter.from_bytes(model, arena_size=1 << 21)
        micro.set_input(values, 0)
        micro.invoke()
        return np.asarray(micro.get_output(0))
    except Exception:  # noqa: BLE001 - TFLM reports unsupported ops as plain RuntimeErrors
        return None


def compare(ours: np.ndarray, theirs: Optional[np.ndarray]) -> dict:
    """How many elements differ and the largest difference (None when the runtime could not run)."""
    if theirs is None:
        return {"ran": False}
    difference = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
    return {"ran": True, "differing": int(np.count_nonzero(difference)), "max_difference": int(difference.max())}


def timed(function: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls, in milliseconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main() -> None:
    """Run every case and print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="random quantizations per op")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats (best of)")
    options = parser.parse_args()
    rows = []
    print(f"{'op':<14}{'type':<6}{'vs REF':>10}{'vs default':>14}{'vs TFLM':>12}{'ours ms':>10}{'REF ms':>9}")
    for kind, attrs, storage, function in CASES:
        totals = {"ref": [], "default": [], "micro": []}
        ours_ms, ref_ms = [], []
        for seed in range(options.seeds):
            rng = np.random.default_rng(seed)
            graph, values = build(kind, attrs, storage, function, rng)
            model = export_tflite(graph)
            feeds = {"x": values}
            ours = interpreter.run(graph, feeds)["y"]
            totals["ref"].append(compare(ours, run_tflite(model, feeds)["y"]))
            totals["default"].append(compare(ours, run_tflite(model, feeds, reference_kernels=False)["y"]))
            totals["micro"].append(compare(ours, run_micro(model, values)))
            ours_ms.append(timed(lambda: interpreter.run(graph, feeds), options.repeats))
            ref_ms.append(timed(lambda: run_tflite(model, feeds), options.repeats))
        summary = {name: _sum(results) for name, results in totals.items()}
        row = {"op": kind, "storage": storage, "elements": options.seeds * int(np.prod(SHAPE)),
               **summary, "ours_ms": float(np.median(ours_ms)), "litert_ref_ms": float(np.median(ref_ms))}
        rows.append(row)
        print(f"{kind:<14}{storage:<6}{_text(summary['ref']):>10}{_text(summary['default']):>14}"
              f"{_text(summary['micro']):>12}{row['ours_ms']:>10.2f}{row['litert_ref_ms']:>9.2f}")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as handle:
        json.dump({"shape": SHAPE, "seeds": options.seeds, "rows": rows}, handle, indent=2)
    print(f"wrote {RESULTS}")


def _sum(results: list[dict]) -> dict:
    ran = [r for r in results if r["ran"]]
    if not ran:
        return {"ran": False}
    return {"ran": True, "runs": len(ran), "differing": sum(r["differing"] for r in ran),
            "max_difference": max(r["max_difference"] for r in ran)}


def _text(summary: dict) -> str:
    if not summary["ran"]:
        return "n/a"
    return f"{summary['differing']} (<={summary['max_difference']})"


if __name__ == "__main__":
    main()
