"""The greedy rewrite driver and the Rewriter: results checked with the reference interpreter."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.ir import Graph, Op
from qcompiler.rewrite import (ConvergenceError, RewritePattern, Rewriter, apply_patterns, has_side_effects,
                               is_trivially_dead)
from qcompiler.types import TensorType
from qcompiler.verifier import verify

F32 = TensorType((2, 3), "f32")
X = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5


def _load_bench() -> ModuleType:
    """The rewrite-driver benchmark, whose graphs and patterns these tests check at small sizes."""
    path = Path(__file__).resolve().parents[1] / "bench" / "rewrite_driver.py"
    spec = importlib.util.spec_from_file_location("bench_rewrite_driver", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
CancelDoubleNeg = bench.CancelDoubleNeg
AddZero = bench.FoldAddZero


def neg_chain(length: int) -> Graph:
    """x -> Neg -> Neg -> ... (``length`` ops) -> y."""
    return bench.neg_chain(length, F32)


class SubToAddNeg(RewritePattern):
    """Sub(a, b) -> Add(a, Neg(b)): creates ops, which the driver must visit."""

    root = "onnx.Sub"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        neg = rw.create("onnx.Neg", [op.operand(1)], result_types=[op.operand(1).type])
        add = rw.create("onnx.Add", [op.operand(0), neg.result], result_types=[op.result.type])
        rw.replace(op, add.result)
        return True


def outputs(graph: Graph) -> dict[str, np.ndarray]:
    return run(graph, {"x": X})


@pytest.mark.parametrize("length", [1, 2, 3, 7, 10])
def test_double_negation_cancels_and_keeps_meaning(length: int) -> None:
    graph = neg_chain(length)
    expected = outputs(graph)
    changed = apply_patterns(graph, [CancelDoubleNeg()])
    verify(graph)
    assert changed == (length >= 2)
    assert len(graph.ops_of_kind("onnx.Neg")) == length % 2
    np.testing.assert_array_equal(outputs(graph)["y"], expected["y"])


@pytest.mark.parametrize("shared_zero", [False, True])
def test_benchmark_add_zero_chains_fold_to_nothing(shared_zero: bool) -> None:
    graph = bench.add_zero_chain(40, shared_zero, F32)
    expected = outputs(graph)
    assert apply_patterns(graph, [AddZero()])
    verify(graph)
    assert len(graph) == 0 and graph.outputs == (graph.inputs[0],)
    np.testing.assert_array_equal(outputs(graph)["y"], expected["y"])


def test_benchmark_dce_graph() -> None:
    graph = bench.dead_fan_out(30, F32)
    bench.run_dce(graph)
    verify(graph)
    assert len(graph) == 0


def test_add_zero_chain_folds_and_dead_constants_go() -> None:
    graph = Graph()
    value = graph.add_input("x", F32)
    for i in range(50):
        zero = graph.const(np.zeros((2, 3), np.float32))
        value = graph.create("onnx.Add", [value, zero], result_types=[F32]).result
        if i == 25:
            value = graph.create("onnx.Add", [value, graph.const(np.ones((2, 3), np.float32))],
                                 result_types=[F32]).result
    graph.set_outputs([value], ["y"])
    expected = outputs(graph)
    assert apply_patterns(graph, [AddZero()])
    verify(graph)
    assert [op.kind for op in graph] == ["const", "onnx.Add"]
    np.testing.assert_array_equal(outputs(graph)["y"], expected["y"])


def test_created_ops_are_visited_by_other_patterns() -> None:
    graph = Graph()
    x = graph.add_input("x", F32)
    neg = graph.create("onnx.Neg", [x], result_types=[F32]).result
    sub = graph.create("onnx.Sub", [x, neg], loc="my_sub", result_types=[F32]).result  # x - (-x) = 2x
    graph.set_outputs([sub], ["y"])
    expected = outputs(graph)
    apply_patterns(graph, [SubToAddNeg(), CancelDoubleNeg()])
    verify(graph)
    kinds = [op.kind for op in graph]
    assert kinds == ["onnx.Add"]  # Neg(Neg(x)) created by the rewrite cancelled; the old Neg died
    assert graph.ops[0].loc == "my_sub"  # new ops keep the rewritten op's location
    np.testing.assert_array_equal(outputs(graph)["y"], expected["y"])


def test_graph_outputs_and_inputs_survive() -> None:
    graph = Graph()
    x = graph.add_input("x", F32)
    graph.add_input("unused", F32)
    a = graph.create("onnx.Neg", [x], result_types=[F32]).result
    b = graph.create("onnx.Neg", [a], result_types=[F32]).result
    graph.set_outputs([a, b], ["a", "b"])
    apply_patterns(graph, [CancelDoubleNeg()])
    verify(graph)
    assert len(graph.inputs) == 2
    assert graph.outputs[0] is a and graph.outputs[1] is x
    assert len(graph.ops_of_kind("onnx.Neg")) == 1


def test_no_pattern_matches_returns_false_and_leaves_graph_alone() -> None:
    graph = neg_chain(1)
    before = graph.ops
    assert not apply_patterns(graph, [AddZero()])
    assert graph.ops == before


def test_dispatch_by_root_kind() -> None:
    seen: list[str] = []

    class Spy(RewritePattern):
        root = ("onnx.Add", "onnx.Mul")

        def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
            seen.append(op.kind)
            return False

    class Everything(RewritePattern):
        def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
            seen.append("*" + op.kind)
            return False

    graph = Graph()
    x = graph.add_input("x", F32)
    a = graph.create("onnx.Neg", [x], result_types=[F32]).result
    b = graph.create("onnx.Mul", [a, x], result_types=[F32]).result
    graph.set_outputs([b], ["y"])
    apply_patterns(graph, [Spy(), Everything()])
    assert seen == ["*onnx.Neg", "onnx.Mul", "*onnx.Mul"]


def test_higher_benefit_first() -> None:
    order: list[str] = []

    def make(tag: str, benefit: int) -> RewritePattern:
        class Tagged(RewritePattern):
            root = "onnx.Neg"

            def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
                order.append(tag)
                return False

        Tagged.benefit = benefit
        return Tagged()

    apply_patterns(neg_chain(1), [make("low", 1), make("high", 5)])
    assert order == ["high", "low"]


def test_non_convergence_names_the_pattern() -> None:
    class Flip(RewritePattern):
        """Replaces Neg by a fresh Neg forever."""

        root = "onnx.Neg"

        def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
            rw.replace_with_op(op, "onnx.Neg", [op.operand(0)], result_types=[op.result.type])
            return True

    with pytest.raises(ConvergenceError, match="Flip"):
        apply_patterns(neg_chain(3), [Flip()], max_iterations=2)


def test_pattern_that_changes_but_returns_false_is_caught() -> None:
    class Liar(RewritePattern):
        root = "onnx.Neg"

        def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
            rw.const(np.zeros(1, np.float32))
            return False

    with pytest.raises(QCompilerError, match="Liar changed the graph but returned False"):
        apply_patterns(neg_chain(1), [Liar()])


def test_in_place_modification_revisits_and_frees_old_operands() -> None:
    class AddToMul(RewritePattern):
        """Add(x, c) -> Mul(x, c) in place, swapping the constant for a fresh one."""

        root = "onnx.Add"

        def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
            op.kind = "onnx.Mul"
            rw.set_operand(op, 1, rw.const(np.full((2, 3), 3.0, np.float32)))
            return True

    graph = Graph()
    x = graph.add_input("x", F32)
    two = graph.const(np.full((2, 3), 2.0, np.float32))
    y = graph.create("onnx.Add", [x, two], result_types=[F32]).result
    graph.set_outputs([y], ["y"])
    apply_patterns(graph, [AddToMul()])
    verify(graph)
    assert [op.kind for op in graph] == ["const", "onnx.Mul"]
    np.testing.assert_array_equal(outputs(graph)["y"], X * 3)


def test_inserting_after_and_replace_value() -> None:
    class DoubleOutput(RewritePattern):
        """Neg(x) -> Neg(x) * 2 for its users, built after the Neg."""

        root = "onnx.Neg"

        def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
            if op.attrs.get("done"):
                return False
            op.attrs["done"] = 1
            with rw.inserting_after(op):
                two = rw.const(np.full((2, 3), 2.0, np.float32))
                mul = rw.create("onnx.Mul", [op.result, two], result_types=[F32])
            users = [u for u in op.result.uses if u.op is not mul]
            for use in users:
                rw.set_operand(use.op, use.index, mul.result)
            rw.modified(op)
            return True

    graph = neg_chain(1)
    apply_patterns(graph, [DoubleOutput()])
    verify(graph)
    assert [op.kind for op in graph] == ["onnx.Neg", "const", "onnx.Mul"]
    np.testing.assert_array_equal(outputs(graph)["y"], -X * 2)


def test_dead_code_is_erased_but_side_effects_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = Graph()
    x = graph.add_input("x", F32)
    graph.create("onnx.Neg", [x], result_types=[F32])  # unused
    kept = graph.create("onnx.Abs", [x], result_types=[F32])
    graph.set_outputs([x], ["y"])
    from qcompiler.ops.registry import lookup_op_def
    import qcompiler.rewrite as rewrite

    monkeypatch.setattr(rewrite, "_SIDE_EFFECTS", {})
    monkeypatch.setattr(lookup_op_def("onnx.Abs"), "has_side_effects", True, raising=False)
    assert has_side_effects(kept)
    assert apply_patterns(graph, [])
    assert [op.kind for op in graph] == ["onnx.Abs"]
    assert not is_trivially_dead(kept)


def test_unknown_ops_count_as_effectful() -> None:
    graph = Graph()
    x = graph.add_input("x", F32)
    op = graph.create("mystery.op", [x], result_types=[F32])
    graph.set_outputs([x], ["y"])
    assert has_side_effects(op)
    apply_patterns(graph, [])
    assert graph.ops == [op]


def test_creating_before_an_erased_op_is_a_clear_error() -> None:
    class Careless(RewritePattern):
        root = "onnx.Neg"

        def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
            rw.replace(op, op.operand(0))
            rw.create("onnx.Neg", [op.operand(0)] if op.operands else [], result_types=[F32])
            return True

    with pytest.raises(QCompilerError, match="erased"):
        apply_patterns(neg_chain(1), [Careless()])


def test_rewriter_outside_the_driver_uses_graph_insertion_point() -> None:
    graph = neg_chain(1)
    rw = Rewriter(graph)
    with graph.inserting_before(graph.first):
        value = rw.const(np.zeros((2, 3), np.float32), name="z")
    assert graph.first.result is value


def test_visits_are_linear_in_graph_size() -> None:
    """The driver must not rescan: pattern tries stay proportional to the number of ops."""
    tries = 0

    class Counting(CancelDoubleNeg):
        def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
            nonlocal tries
            tries += 1
            return super().match_and_rewrite(op, rw)

    graph = neg_chain(2001)
    apply_patterns(graph, [Counting()])
    assert len(graph) == 1
    assert tries <= 3 * 2001


class AbsOfAbs(RewritePattern):
    """Abs(Abs(x)) -> Abs(x)."""

    root = "onnx.Abs"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        inner = op.operand(0).producer
        if inner is None or inner.kind != "onnx.Abs":
            return False
        rw.replace(op, inner.result)
        return True


class AbsOfNeg(RewritePattern):
    """Abs(Neg(x)) -> Abs(x), edited in place."""

    root = "onnx.Abs"
    benefit = 2

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        inner = op.operand(0).producer
        if inner is None or inner.kind != "onnx.Neg":
            return False
        rw.set_operand(op, 0, inner.operand(0))
        return True


RANDOM_PATTERNS = [CancelDoubleNeg(), AddZero(), SubToAddNeg(), AbsOfAbs(), AbsOfNeg()]


def random_graph(seed: int, size: int = 60) -> Graph:
    """A random DAG of Neg/Abs/Add(·, 0 or c)/Sub over two inputs, with two outputs and some dead ops."""
    rng = np.random.default_rng(seed)
    graph = Graph()
    values = [graph.add_input("x", F32), graph.add_input("w", F32)]
    for _ in range(size):
        pick = lambda: values[int(rng.integers(max(0, len(values) - 6), len(values)))]  # noqa: E731
        kind = ["onnx.Neg", "onnx.Abs", "onnx.Add", "onnx.Sub"][int(rng.integers(4))]
        if kind == "onnx.Add":
            scale = float(rng.integers(2))  # zero half of the time
            constant = graph.const(np.full((2, 3), scale, np.float32))
            operands = [pick(), constant]
        elif kind == "onnx.Sub":
            operands = [pick(), pick()]
        else:
            operands = [pick()]
        values.append(graph.create(kind, operands, loc=f"n{len(values)}", result_types=[F32]).result)
    graph.set_outputs([values[-1], values[len(values) // 2]], ["y", "z"])
    return graph


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_keep_meaning_and_reach_a_fixed_point(seed: int) -> None:
    graph = random_graph(seed)
    feeds = {"x": X, "w": X[::-1].copy() * 3}
    expected = run(graph, feeds)
    apply_patterns(graph, RANDOM_PATTERNS)
    verify(graph)
    got = run(graph, feeds)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-5)
    assert not apply_patterns(graph, RANDOM_PATTERNS)  # a fixed point: nothing left to rewrite or erase
    assert not graph.ops_of_kind("onnx.Sub")


class ReluToMax(RewritePattern):
    """Relu(x) -> Max(x, 0), with the result type inferred by ONNX."""

    root = "onnx.Relu"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        zero = rw.const(np.zeros((), dtype=op.operand(0).type.dtype))
        rw.replace_with_op(op, "onnx.Max", [op.operand(0), zero])
        return True


def test_rewrite_on_an_imported_model_keeps_outputs_and_locations(shared_models_dir) -> None:
    from qcompiler.onnx_import import import_onnx

    graph = import_onnx(str(shared_models_dir / "digits_cnn.onnx"))
    relu_locs = [op.loc for op in graph.ops_of_kind("onnx.Relu")]
    assert relu_locs
    value = graph.inputs[0]
    feeds = {value.name: np.random.default_rng(1).random(value.type.shape).astype(np.float32)}
    expected = run(graph, feeds)
    assert apply_patterns(graph, [ReluToMax()])
    verify(graph)
    assert not graph.ops_of_kind("onnx.Relu")
    assert [op.loc for op in graph.ops_of_kind("onnx.Max")] == relu_locs
    got = run(graph, feeds)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])


def test_pattern_errors_get_the_op_location() -> None:
    class Refuses(RewritePattern):
        root = "onnx.Neg"

        def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
            raise QCompilerError("unsupported negation")

    graph = Graph()
    x = graph.add_input("x", F32)
    graph.set_outputs([graph.create("onnx.Neg", [x], loc="/model/neg", result_types=[F32]).result], ["y"])
    with pytest.raises(QCompilerError) as info:
        apply_patterns(graph, [Refuses()])
    assert str(info.value) == "/model/neg: unsupported negation"
