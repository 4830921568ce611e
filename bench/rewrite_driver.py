"""Benchmark of the greedy rewrite driver on long chains: 20,000 alternating ``onnx.Neg`` ops cancelled pairwise,
and 20,000 ``Add(x, 0)`` folded away (once with one zero constant per Add, once with a single shared zero);
also the ``dce`` pass on 20,000 dead ``Add(x, c)`` that share one constant.

Prints the wall time of each case and writes ``bench/results/rewrite_driver.json``. The driver must stay near
linear: each case should take well under 10 s on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from typing import Callable

import numpy as np

from qcompiler.ir import Graph, Op
from qcompiler.pass_manager import get_pass
from qcompiler.rewrite import RewritePattern, Rewriter, apply_patterns
from qcompiler.types import TensorType

LENGTH = 20_000
TYPE = TensorType((4,), "f32")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "rewrite_driver.json")


class CancelDoubleNeg(RewritePattern):
    """Neg(Neg(x)) -> x."""

    root = "onnx.Neg"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        inner = op.operand(0).producer
        if inner is None or inner.kind != "onnx.Neg":
            return False
        rw.replace(op, inner.operand(0))
        return True


class FoldAddZero(RewritePattern):
    """Add(x, 0) -> x when x already has the result's type."""

    root = "onnx.Add"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        zero = op.operand(1).const_value
        if zero is None or np.any(zero) or op.operand(0).type != op.result.type:
            return False
        rw.replace(op, op.operand(0))
        return True


def neg_chain(length: int, type_: TensorType = TYPE) -> Graph:
    """x -> Neg -> Neg -> ... -> y."""
    graph = Graph()
    value = graph.add_input("x", type_)
    for _ in range(length):
        value = graph.create("onnx.Neg", [value], result_types=[type_]).result
    graph.set_outputs([value], ["y"])
    return graph


def add_zero_chain(length: int, shared_zero: bool, type_: TensorType = TYPE) -> Graph:
    """x -> Add(., 0) -> Add(., 0) -> ... -> y, with one zero constant per Add or one shared by all."""
    graph = Graph()
    value = graph.add_input("x", type_)
    zeros = np.zeros(type_.shape, type_.dtype)
    zero = graph.const(zeros, "zero") if shared_zero else None
    for _ in range(length):
        operand = zero if shared_zero else graph.const(zeros)
        value = graph.create("onnx.Add", [value, operand], result_types=[type_]).result
    graph.set_outputs([value], ["y"])
    return graph


def dead_fan_out(length: int, type_: TensorType = TYPE) -> Graph:
    """``length`` unused ``Add(x, c)`` sharing one constant; the graph returns x."""
    graph = Graph()
    x = graph.add_input("x", type_)
    shared = graph.const(np.ones(type_.shape, type_.dtype), "c")
    for _ in range(length):
        graph.create("onnx.Add", [x, shared], result_types=[type_])
    graph.set_outputs([x], ["y"])
    return graph


def run_dce(graph: Graph) -> None:
    """The registered ``dce`` pass."""
    get_pass("dce")().run(graph)


def measure(name: str, build, transform: Callable[[Graph], object], expected_ops: int) -> dict:
    """Build a graph, time ``transform`` on it, check the result's size."""
    graph = build()
    ops_before = len(graph)
    start = time.perf_counter()
    transform(graph)
    seconds = time.perf_counter() - start
    if len(graph) != expected_ops:
        raise SystemExit(f"{name}: expected {expected_ops} ops after rewriting, got {len(graph)}")
    print(f"{name:<28} {ops_before:>7} ops -> {len(graph):>3}   {seconds:7.3f} s   "
          f"{1e6 * seconds / ops_before:6.1f} us/op")
    return {"case": name, "ops_before": ops_before, "ops_after": len(graph), "seconds": seconds}


def patterns(*chosen: RewritePattern) -> Callable[[Graph], object]:
    """A transform applying ``chosen`` with the greedy driver."""
    return lambda graph: apply_patterns(graph, list(chosen))


def main() -> None:
    """Run every case and write the JSON report."""
    cases = [
        measure("neg-neg cancel", lambda: neg_chain(LENGTH), patterns(CancelDoubleNeg()), 0),
        measure("add-zero fold (own zeros)", lambda: add_zero_chain(LENGTH, False), patterns(FoldAddZero()), 0),
        measure("add-zero fold (shared zero)", lambda: add_zero_chain(LENGTH, True), patterns(FoldAddZero()), 0),
        measure("dce (shared constant)", lambda: dead_fan_out(LENGTH), run_dce, 0),
    ]
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    report = {"benchmark": "rewrite_driver", "length": LENGTH, "python": sys.version.split()[0],
              "machine": platform.machine(), "cases": cases}
    with open(RESULTS, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
