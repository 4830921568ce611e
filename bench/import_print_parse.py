"""Benchmark of the textual IR on ONNX's light_densenet121: import, print, parse (and print again).

Prints the wall time of each step (best of ``--repeat`` runs) and the text size, checks that the round trip
is exact, and writes ``bench/results/import_print_parse.json``. Print and parse should each stay under 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any, Callable

import onnx

from qcompiler.onnx_import import import_onnx
from qcompiler.text import parse_graph, print_graph

MODEL = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_densenet121.onnx")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "import_print_parse.json")


def best_time(step: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The shortest wall time of ``repeat`` runs of ``step`` and the result of the last run."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns a non-zero exit code when the round trip is not exact."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL, help="the ONNX model to use (default: light_densenet121)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per step; the best time is kept")
    args = parser.parse_args(argv)

    import_s, graph = best_time(lambda: import_onnx(args.model), args.repeat)
    print_s, text = best_time(lambda: print_graph(graph), args.repeat)
    parse_s, parsed = best_time(lambda: parse_graph(text, args.model), args.repeat)
    elided_s, _ = best_time(lambda: print_graph(graph, elide_constants=True), args.repeat)
    exact = print_graph(parsed) == text
    figures = {
        "model": os.path.basename(args.model),
        "ops": len(graph),
        "text_bytes": len(text.encode("utf-8")),
        "import_s": round(import_s, 4),
        "print_s": round(print_s, 4),
        "print_elided_s": round(elided_s, 4),
        "parse_s": round(parse_s, 4),
        "round_trip_exact": exact,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    for key, value in figures.items():
        print(f"{key:>18}: {value}")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as handle:
        json.dump(figures, handle, indent=2)
        handle.write("\n")
    print(f"wrote {RESULTS}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
