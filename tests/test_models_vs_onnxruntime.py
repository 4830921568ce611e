"""Every shared example model and every light architecture model imports, verifies, and runs in the
reference interpreter with outputs matching onnxruntime on fixed random inputs.

The light models' weights are constants (ConstantOfShape), so their softmax outputs are nearly uniform;
the operands of the output ops (the logits) are compared as well, which makes the check discriminating.
Those logits reach 1e9 and more, where float32 summation order alone moves them by thousands, and a softmax
over them is then arbitrarily ill-conditioned: so an output whose producer's operands are compared is checked
by running our op on onnxruntime's operands (the op itself), the operands end to end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from qcompiler.interpreter import run
from qcompiler.ir import Graph
from qcompiler.onnx_import import import_onnx
from qcompiler.ops.registry import evaluate_op
from qcompiler.verifier import verify

ort = pytest.importorskip("onnxruntime")

RELATIVE_TOLERANCE = 1e-4


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random arrays for every graph input (symbolic dims become 1)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for value in graph.inputs:
        shape = tuple(d if isinstance(d, int) else 1 for d in value.type.shape)
        dtype = value.type.dtype
        if dtype.kind == "f":
            feeds[value.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[value.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[value.name] = rng.integers(0, 4, shape).astype(dtype)
    return feeds


def _checked_values(graph: Graph) -> list[str]:
    """The graph outputs and the computed operands of the ops that produce them, by name."""
    names = list(graph.output_names)
    for value in graph.outputs:
        if value.producer is None:
            continue
        for operand in value.producer.operands:
            if operand is not None and operand.producer is not None and not operand.is_const and operand.name:
                if operand.name not in names:
                    names.append(operand.name)
    return names


def _onnxruntime_values(path: Path, names: list[str], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    model = onnx.load(str(path))
    declared = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names if n not in declared)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = [o.name for o in session.get_outputs()]
    return dict(zip(wanted, session.run(None, feeds)))


def _outputs_from_reference_operands(graph: Graph, names: list[str],
                                     reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each graph output whose producer's computed operands are all among ``names``, as our op computes it
    from onnxruntime's values of those operands (constants as they are)."""
    results = {}
    for name, value in zip(graph.output_names, graph.outputs):
        op = value.producer
        if op is None or op.kind == "const":
            continue
        operands = [None if v is None else v.const_value if v.is_const else reference.get(v.name)
                    for v in op.operands]
        if any(v is not None and a is None for v, a in zip(op.operands, operands)):
            continue
        results[name] = evaluate_op(op, operands)[value.result_index]
    return results


def check_against_onnxruntime(path: Path) -> float:
    """Import, verify and run ``path``; return the worst max|diff| / max|ref| over the checked values."""
    graph = import_onnx(path)
    verify(graph)
    for value in graph.values():
        assert value.type is not None, f"{value.name} has no type"
    feeds = random_feeds(graph)
    names = _checked_values(graph)
    seen: dict[str, np.ndarray] = {}
    outputs = run(graph, feeds, observe=lambda v, a: seen.__setitem__(v.name, a) if v.name in names else None)
    seen.update(outputs)
    reference = _onnxruntime_values(path, names, feeds)
    seen.update(_outputs_from_reference_operands(graph, names, reference))
    worst = 0.0
    for name in names:
        ours, ref = np.asarray(seen[name]), np.asarray(reference[name])
        assert ours.shape == ref.shape, f"{name}: shape {ours.shape} vs onnxruntime {ref.shape}"
        scale = float(np.abs(ref).max()) or 1.0
        worst = max(worst, float(np.abs(ours.astype(np.float64) - ref).max()) / scale)
    print(f"\n{path.name}: max relative diff vs onnxruntime {worst:.3g} over {', '.join(names)}")
    return worst


def test_shared_model_matches_onnxruntime(shared_model_path: Path) -> None:
    assert check_against_onnxruntime(shared_model_path) <= RELATIVE_TOLERANCE


def test_light_model_matches_onnxruntime(light_model_path: Path) -> None:
    assert check_against_onnxruntime(light_model_path) <= RELATIVE_TOLERANCE


def test_all_models_are_found(shared_models_dir: Path, light_models_dir: Path) -> None:
    """Guard against the parametrized tests silently running over an empty folder."""
    assert len(list(shared_models_dir.glob("*.onnx"))) >= 4
    assert len(list(light_models_dir.glob("*.onnx"))) == 9
