"""Benchmark of the ONNX importer on every shared example model and every light architecture model.

For each model prints the import time (best of ``--repeat``), the op count, the reference interpreter's run
time on seeded random inputs next to onnxruntime's, and the max relative output difference; writes
``bench/results/import_models.json``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import timeit

import numpy as np
import onnx

from qcompiler.interpreter import run
from qcompiler.onnx_import import import_onnx

SHARED = os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models")
LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "import_models.json")


def measure(path: str, repeat: int) -> dict:
    """Import and run one model; its figures as a dict."""
    import onnxruntime as ort

    import_s = min(timeit.repeat(lambda: import_onnx(path), number=1, repeat=repeat))
    graph = import_onnx(path)
    rng = np.random.default_rng(0)
    feeds = {v.name: rng.standard_normal([d if isinstance(d, int) else 1 for d in v.type.shape]).astype(v.type.dtype)
             for v in graph.inputs}
    outputs: dict = {}
    run_s = min(timeit.repeat(lambda: outputs.update(run(graph, feeds)), number=1, repeat=repeat))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    reference: list = []
    ort_s = min(timeit.repeat(lambda: reference.__setitem__(slice(None), session.run(None, feeds)), number=1,
                              repeat=repeat))
    diff = max(float(np.abs(outputs[name] - ref).max()) / (float(np.abs(ref).max()) or 1.0)
               for name, ref in zip(graph.output_names, reference))
    return {"model": os.path.basename(path), "ops": len(graph), "import_s": round(import_s, 4),
            "interpreter_run_s": round(run_s, 4), "onnxruntime_run_s": round(ort_s, 5), "max_rel_diff": diff}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark over every model and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per step; the best time counts")
    args = parser.parse_args(argv)
    paths = sorted(glob.glob(os.path.join(SHARED, "*.onnx"))) + sorted(glob.glob(os.path.join(LIGHT, "*.onnx")))
    rows = []
    print(f"{'model':28} {'ops':>5} {'import s':>9} {'run s':>8} {'ort s':>8} {'max rel diff':>12}")
    for path in paths:
        row = measure(path, args.repeat)
        rows.append(row)
        print(f"{row['model']:28} {row['ops']:5d} {row['import_s']:9.4f} {row['interpreter_run_s']:8.4f} "
              f"{row['onnxruntime_run_s']:8.5f} {row['max_rel_diff']:12.3g}")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as handle:
        json.dump({"machine": platform.machine(), "python": platform.python_version(), "models": rows}, handle,
                  indent=2)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
