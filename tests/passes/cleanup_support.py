"""Test support for the cleanup passes: build small graphs, run a pipeline on a copy, and check with the
reference interpreter that the outputs did not change."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from qcompiler.interpreter import run
from qcompiler.ir import CONST, Graph, Op
from qcompiler.onnx_import import import_onnx
from qcompiler.pass_manager import PassManager
from qcompiler.types import TensorType

#: Tolerance on max|after - before| / max|before| (folding reassociates float arithmetic).
RELATIVE_TOLERANCE = 1e-4

#: Weights up to this many elements get random values in ``with_random_weights`` (bigger ones stay splats).
RANDOM_WEIGHT_ELEMENTS = 20_000_000


def new_graph(opset: int = 17) -> Graph:
    """An empty graph whose onnx ops follow ``opset``."""
    graph = Graph()
    graph.attrs["onnx.opset"] = opset
    return graph


def f32(*shape: int) -> TensorType:
    """A static f32 tensor type."""
    return TensorType(tuple(shape), "f32")


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random data for every graph input (floats in [-1, 1), integers in [0, 4))."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for value in graph.inputs:
        shape = [d if isinstance(d, int) else 1 for d in value.type.shape]
        if value.type.dtype.kind == "f":
            feeds[value.name] = rng.uniform(-1, 1, shape).astype(value.type.dtype)
        else:
            feeds[value.name] = rng.integers(0, 4, shape).astype(value.type.dtype)
    return feeds


def relative_error(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]) -> float:
    """The largest max|after - before| / max|before| over the outputs (which must have the same names)."""
    assert list(before) == list(after), f"outputs changed from {list(before)} to {list(after)}"
    worst = 0.0
    for name, reference in before.items():
        got = after[name]
        assert got.shape == reference.shape and got.dtype == reference.dtype, name
        scale = max(float(np.max(np.abs(reference))) if reference.size else 0.0, 1e-12)
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - reference))) / scale if got.size else 0.0)
    return worst


def apply(graph: Graph, pipeline: str) -> bool:
    """Run ``pipeline`` on ``graph`` in place with the verifier after every pass."""
    return PassManager(pipeline, verify_each=True).run(graph)


def assert_keeps_meaning(graph: Graph, pipeline: str, feeds: Optional[dict[str, np.ndarray]] = None,
                         reference: Optional[dict[str, np.ndarray]] = None) -> Graph:
    """Run ``pipeline`` on a copy of ``graph``, assert the outputs stay the same, and return the copy."""
    feeds = random_feeds(graph) if feeds is None else feeds
    reference = run(graph, feeds) if reference is None else reference
    result = graph.clone()
    apply(result, pipeline)
    error = relative_error(reference, run(result, feeds))
    assert error <= RELATIVE_TOLERANCE, f"{pipeline}: outputs moved by {error:.3g} (relative)"
    return result


def model_for_meaning(path: Path) -> Graph:
    """The model at ``path`` imported as a sharp oracle for passes (see ``sensitive_variant``); a fresh copy
    of the one imported once per session."""
    return _meaning_oracle(Path(path))[0].clone()


def assert_model_keeps_meaning(path: Path, pipeline: str) -> Graph:
    """``assert_keeps_meaning`` on ``model_for_meaning(path)``, with the reference outputs computed once per
    session and model (the interpreter run on a 224x224 CNN is most of such a test's time)."""
    graph, feeds, reference = _meaning_oracle(Path(path))
    return assert_keeps_meaning(graph, pipeline, feeds, reference)


@functools.lru_cache(maxsize=None)
def _meaning_oracle(path: Path) -> tuple[Graph, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The sensitive variant of the model at ``path`` (never changed: callers get copies), its random feeds and
    its outputs on them."""
    graph = sensitive_variant(import_onnx(path))
    feeds = random_feeds(graph)
    return graph, feeds, run(graph, feeds)


def sensitive_variant(graph: Graph, seed: int = 0) -> Graph:
    """``graph`` made a sharp oracle for passes: random weights (``with_random_weights``) and a final Softmax
    dropped, so that the outputs are logits (a saturated or uniform softmax would hide a changed meaning)."""
    graph = with_random_weights(graph, seed)
    outputs = list(graph.outputs)
    for index, value in enumerate(outputs):
        if value.producer is not None and value.producer.kind == "onnx.Softmax":
            outputs[index] = value.producer.operand(0)
    if outputs != list(graph.outputs):
        softmaxes = [v.producer for v in graph.outputs if v.producer is not None]
        graph.set_outputs(outputs, graph.output_names)
        graph.erase_unused(softmaxes)
    return graph


def with_random_weights(graph: Graph, seed: int = 0) -> Graph:
    """``graph`` with every f32 ConstantOfShape (how the light models spell their weights and batch-norm
    statistics: one value repeated) replaced by seeded random data, so that the outputs depend on every channel
    and comparing outputs before and after a pass really tests it: weights (rank 2 and up) He-scaled normal,
    vectors uniform in [0.5, 1.5) (valid variances too); weights over ``RANDOM_WEIGHT_ELEMENTS`` become the
    splat 1 / fan-in (an average, keeping activations in range without the memory)."""
    rng = np.random.default_rng(seed)
    for op in graph.ops_of_kind("onnx.ConstantOfShape"):
        out = op.result.type
        if out.element != "f32" or not out.is_static:
            continue
        if len(out.shape) < 2:
            array = rng.uniform(0.5, 1.5, out.shape).astype(np.float32)
        else:
            fan_in = max(int(np.prod(out.shape[1:])), 1)
            if out.num_elements > RANDOM_WEIGHT_ELEMENTS:
                array = np.broadcast_to(np.float32(1.0 / fan_in), out.shape)
            else:
                array = rng.standard_normal(out.shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        with graph.inserting_before(op):
            value = graph.const(array, op.result.name, op.loc)
        op.result.name = None
        op.replace_with(value)
    return graph


def kinds(graph: Graph) -> Counter:
    """How many ops of each kind the graph holds, constants left out."""
    return Counter(op.kind for op in graph if op.kind != CONST)


def constant_only_ops(graph: Graph) -> list[Op]:
    """The non-constant ops whose operands are all constants (a constant-only subgraph left unfolded)."""
    return [op for op in graph if op.kind != CONST and op.operands
            and all(v is None or v.is_const for v in op.operands)]
