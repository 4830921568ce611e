"""Tests for decompose-layer-norm: the decomposed graph computes the layer norm (float), covers normalized
dims from ``axis`` to the last, and the int8 transformer built on it runs on integers end to end."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.ir import Graph
from qcompiler.pass_manager import PassManager, parse_pipeline
from qcompiler.quantize import load, prepare, quantize
from qcompiler.types import TensorType
from qcompiler.verifier import verify

from quant_support import digits_split, run_one


def layer_norm_graph(axis: int, with_affine: bool) -> Graph:
    rng = np.random.default_rng(axis + 7)
    graph = Graph()
    x = graph.add_input("x", TensorType((2, 3, 5), "f32"))
    normalized = (2, 3, 5)[axis:]
    operands = [x]
    if with_affine:
        operands += [graph.const(rng.normal(1, 0.3, normalized).astype(np.float32), "gamma"),
                     graph.const(rng.normal(0, 0.3, normalized).astype(np.float32), "beta")]
    y = graph.create("core.layer_norm", operands, {"axis": axis, "epsilon": 1e-3}, loc="ln", result_names=["y"])
    graph.set_outputs([y.result])
    return graph


@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("with_affine", [True, False])
@pytest.mark.parametrize("squared_difference", [True, False])
def test_decomposition_keeps_the_outputs(axis, with_affine, squared_difference):
    graph = layer_norm_graph(axis, with_affine)
    x = np.random.default_rng(3).normal(2.0, 3.0, (2, 3, 5)).astype(np.float32)
    expected = run_one(graph, x=x)[0]
    pipeline = f"decompose-layer-norm{{squared_difference={str(squared_difference).lower()}}}"
    PassManager(parse_pipeline(pipeline), verify_each=True).run(graph)
    kinds = [op.kind for op in graph if op.kind != "const"]
    assert "core.layer_norm" not in kinds and kinds.count("core.rsqrt") == 1
    assert kinds.count("core.squared_difference") == int(squared_difference)
    assert all(op.loc == "ln" for op in graph if op.kind != "const")
    np.testing.assert_allclose(run_one(graph, x=x)[0], expected, rtol=1e-5, atol=1e-5)


def test_int8_transformer_has_no_float_island(shared_models_dir):
    calib, _ = digits_split(shared_models_dir, "digits_transformer", "calib", 40)
    model = shared_models_dir / "digits_transformer.onnx"
    graph = quantize(model, "int8", {"input": calib})
    verify(graph)
    float_ops = {op.kind for op in graph if op.kind.startswith("core.")}
    assert float_ops <= {"core.reshape", "core.transpose", "core.gather"}
    assert graph.ops_of_kind("q.rsqrt") and graph.ops_of_kind("q.squared_difference")
    kept = quantize(model, "int8", {"input": calib}, decompose_layer_norm=False)
    assert kept.ops_of_kind("core.layer_norm")
    excluded = quantize(model, "int8", {"input": calib}, exclude_types=["core.layer_norm"])
    assert excluded.ops_of_kind("core.layer_norm")
    float_graph = prepare(load(model))
    x, _ = digits_split(shared_models_dir, "digits_transformer", "test", 5)
    for image in x:
        assert np.argmax(run_one(graph, input=image[None])[0]) == np.argmax(run_one(float_graph, input=image[None])[0])


def test_int16x8_transformer_keeps_only_gelu_float(shared_models_dir):
    # int16x8 squares with MUL (TFLite has no int16 SQUARED_DIFFERENCE); GELU has no int16 kernel and stays float
    calib, _ = digits_split(shared_models_dir, "digits_transformer", "calib", 40)
    graph = quantize(shared_models_dir / "digits_transformer.onnx", "int16x8", {"input": calib})
    float_ops = {op.kind for op in graph if op.kind.startswith("core.")}
    assert float_ops <= {"core.reshape", "core.transpose", "core.gather", "core.gelu"}
    assert graph.ops_of_kind("q.rsqrt") and not graph.ops_of_kind("q.squared_difference")
    assert {op.result.type.quant.storage for op in graph.ops_of_kind("q.mean")} == {"i16"}
