"""The ``cleanup`` pipeline on the shared and light models: no BatchNormalization, Identity, Dropout, Shape,
ConstantOfShape or constant-only subgraph survives, digits_transformer's shape chains are gone, and every pass
of the pipeline (one after the other, and the whole pipeline) keeps the model's outputs."""

from __future__ import annotations

import pytest

from cleanup_support import (RELATIVE_TOLERANCE, apply, assert_keeps_meaning, assert_model_keeps_meaning,
                             constant_only_ops, kinds, model_for_meaning, random_feeds, relative_error)
from qcompiler.interpreter import run
from qcompiler.onnx_import import import_onnx
from qcompiler.pass_manager import parse_pipeline, registered_passes, registered_pipelines

FORBIDDEN = ("onnx.BatchNormalization", "onnx.Identity", "onnx.Dropout", "onnx.Shape", "onnx.ConstantOfShape")


def check_cleaned(graph) -> None:
    left = [op.kind for op in graph if op.kind in FORBIDDEN]
    assert not left, f"cleanup left {sorted(set(left))}"
    unfolded = constant_only_ops(graph)
    assert not unfolded, f"constant-only ops left: {[(op.kind, op.loc) for op in unfolded]}"


def test_cleanup_is_a_fixed_point_pipeline_of_the_cleanup_passes():
    pipeline = registered_pipelines()["cleanup"]
    assert pipeline.fixed_point
    names = pipeline.text.split(",")
    assert names[:5] == ["fold-constants", "fold-batchnorm", "canonicalize", "cse", "dce"]
    assert ("fuse-activations" in names) == ("fuse-activations" in registered_passes())
    (group,) = parse_pipeline("cleanup")
    assert [p.name for p in group.passes] == names


def test_shared_models_after_cleanup(shared_model_path):
    graph = import_onnx(shared_model_path)
    cleaned = assert_keeps_meaning(graph, "cleanup")
    assert_model_keeps_meaning(shared_model_path, "cleanup")
    check_cleaned(cleaned)
    assert len(cleaned) <= len(graph)
    assert not apply(cleaned, "cleanup"), "a second cleanup still changed the graph"


def test_light_models_after_cleanup(light_model_path):
    graph = import_onnx(light_model_path)
    cleaned = graph.clone()
    apply(cleaned, "cleanup")
    check_cleaned(cleaned)
    assert len(cleaned) < len(graph)
    check_cleaned(assert_model_keeps_meaning(light_model_path, "cleanup"))


def test_transformer_shape_chains_are_gone(shared_models_dir):
    cleaned = assert_keeps_meaning(import_onnx(shared_models_dir / "digits_transformer.onnx"), "cleanup")
    integer_ops = [(op.kind, op.loc) for op in cleaned
                   if op.kind != "const" and any(r.type.dtype.kind in "iu" for r in op.results)]
    assert not integer_ops, f"shape arithmetic left: {integer_ops}"
    for op in cleaned.ops_of_kind("onnx.Reshape"):
        assert op.operand(1).is_const, op.loc
    found = kinds(cleaned)
    assert found["core.layer_norm"] == 5 and found["core.gelu"] == 2
    assert not cleaned.ops_of_kind("onnx.Erf", "onnx.LayerNormalization", "onnx.Gemm", "onnx.Concat",
                                   "onnx.Unsqueeze", "onnx.Cast", "onnx.Slice")


def _pass_by_pass(path) -> None:
    """Apply the cleanup passes one after the other, checking the outputs after each that changed the graph."""
    graph = model_for_meaning(path)
    feeds = random_feeds(graph, seed=1)
    reference = run(graph, feeds)
    for name in registered_pipelines()["cleanup"].text.split(","):
        if not apply(graph, name):
            continue
        error = relative_error(reference, run(graph, feeds))
        assert error <= RELATIVE_TOLERANCE, f"{name} moved the outputs by {error:.3g}"


def test_each_pass_keeps_shared_models_meaning(shared_model_path):
    _pass_by_pass(shared_model_path)


def test_each_pass_keeps_light_models_meaning(light_model_path):
    _pass_by_pass(light_model_path)


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mobilenet"])
def test_batchnorm_is_folded_into_convolutions(shared_models_dir, name):
    graph = model_for_meaning(shared_models_dir / f"{name}.onnx")
    convs = len(graph.ops_of_kind("onnx.Conv"))
    cleaned = assert_keeps_meaning(graph, "cleanup")
    assert kinds(cleaned)["onnx.Conv"] == convs
    assert not cleaned.ops_of_kind("onnx.Mul", "onnx.Add") or name == "digits_mobilenet"
