"""Benchmark of the ``cleanup`` pipeline against onnxslim.

For every shared model (/work/shared/models) and light model (the onnx package's backend/test/data/light) it
prints the node count before and after our ``cleanup`` and beside it the count onnxslim reaches on the same file
(constants are not counted on either side: ONNX Constant nodes and our ``const`` ops), and checks that ours is
no larger. It also times ``cleanup`` on light_resnet50 (must stay under 10 s). onnxslim is only needed here:
when it is missing the script installs it with pip (it is not a dependency of qcompiler).
Writes ``bench/results/cleanup.json``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import onnx

from qcompiler.fileio import atomic_write_text
from qcompiler.ir import CONST, Graph
from qcompiler.onnx_import import import_onnx
from qcompiler.pass_manager import PassManager

SHARED_MODELS = Path(os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models"))
LIGHT_MODELS = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
RESULTS = Path(__file__).resolve().parent / "results" / "cleanup.json"
TIMED_MODEL = "light_resnet50"
TIME_LIMIT_S = 10.0


def load_onnxslim():
    """The onnxslim module, installed with pip first when it is missing."""
    try:
        return importlib.import_module("onnxslim")
    except ImportError:
        print("onnxslim is missing: installing it for this benchmark (pip install onnxslim)", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "onnxslim"], check=True)
        return importlib.import_module("onnxslim")


def our_count(graph: Graph) -> int:
    """Ops of the graph, constants left out."""
    return sum(1 for op in graph if op.kind != CONST)


def onnx_count(model: onnx.ModelProto) -> int:
    """Nodes of an ONNX graph, Constant nodes left out."""
    return sum(1 for node in model.graph.node if node.op_type != "Constant")


def cleanup(graph: Graph) -> float:
    """Run ``cleanup`` on ``graph`` in place; return the wall time in seconds."""
    start = time.perf_counter()
    PassManager("cleanup").run(graph)
    return time.perf_counter() - start


def slim_count(onnxslim, path: Path) -> tuple[int | None, str]:
    """The node count onnxslim reaches on ``path`` (None and the reason when it fails)."""
    try:
        return onnx_count(onnxslim.slim(str(path))), ""
    except Exception as error:  # onnxslim raises whatever its dependencies raise
        return None, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def main() -> int:
    onnxslim = load_onnxslim()
    paths = sorted(SHARED_MODELS.glob("*.onnx")) + sorted(LIGHT_MODELS.glob("*.onnx"))
    rows = []
    print(f"{'model':28} {'before':>7} {'ours':>6} {'onnxslim':>9}  {'cleanup s':>9}  ok")
    for path in paths:
        graph = import_onnx(path)
        before = our_count(graph)
        seconds = cleanup(graph)
        ours = our_count(graph)
        slim, problem = slim_count(onnxslim, path)
        ok = slim is None or ours <= slim
        rows.append({"model": path.stem, "before": before, "ours": ours, "onnxslim": slim,
                     "onnxslim_error": problem or None, "cleanup_seconds": round(seconds, 4), "ours_no_larger": ok})
        slim_text = "error" if slim is None else str(slim)
        print(f"{path.stem:28} {before:7d} {ours:6d} {slim_text:>9}  {seconds:9.3f}  {'yes' if ok else 'NO'}",
              flush=True)
        if problem:
            print(f"    onnxslim failed: {problem}")

    timed = import_onnx(LIGHT_MODELS / f"{TIMED_MODEL}.onnx")
    seconds = cleanup(timed)
    print(f"cleanup on {TIMED_MODEL}: {seconds:.3f} s (limit {TIME_LIMIT_S:.0f} s)")

    larger = [row["model"] for row in rows if not row["ours_no_larger"]]
    report = {
        "benchmark": "cleanup",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "onnxslim_version": getattr(onnxslim, "__version__", "unknown"),
        "models": rows,
        "timed_model": TIMED_MODEL,
        "timed_cleanup_seconds": round(seconds, 4),
        "timed_under_limit": seconds < TIME_LIMIT_S,
        "ours_no_larger_on_every_model": not larger,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS, json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    if larger:
        print(f"ours is larger than onnxslim's on: {', '.join(larger)}")
    if larger or seconds >= TIME_LIMIT_S:
        return 1
    print("ours is no larger than onnxslim's on any model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
