"""IR -> ONNX export: imported models export to valid ONNX with the same nodes and the same outputs in
onnxruntime; edge cases of naming (outputs that are inputs or returned twice) and refused graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from qcompiler.errors import UnsupportedOpError
from qcompiler.interpreter import run
from qcompiler.ir import Graph, Op
from qcompiler.onnx_export import export_onnx
from qcompiler.onnx_import import import_onnx
from qcompiler.types import QuantParams, TensorType

ort = pytest.importorskip("onnxruntime")


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs by name of ``model`` in onnxruntime."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def _round_trip(path: Path) -> None:
    source = onnx.load(str(path))
    graph = import_onnx(path)
    exported = export_onnx(graph)
    onnx.checker.check_model(exported, full_check=True)
    assert [n.op_type for n in exported.graph.node] == [n.op_type for n in source.graph.node
                                                         if n.op_type != "Constant"]
    assert [o.name for o in exported.graph.output] == [o.name for o in source.graph.output]
    rng = np.random.default_rng(0)
    feeds = {v.name: rng.standard_normal(v.type.shape).astype(np.float32) for v in graph.inputs}
    expected, got = ort_run(source, feeds), ort_run(exported, feeds)
    for name, ref in expected.items():
        np.testing.assert_allclose(got[name], ref, rtol=1e-5, atol=1e-6 * float(np.abs(ref).max()))


def test_shared_model_round_trips(shared_model_path: Path) -> None:
    _round_trip(shared_model_path)


def test_light_model_round_trips(light_model_path: Path) -> None:
    _round_trip(light_model_path)


def _graph_returning_input_twice() -> Graph:
    graph = Graph()
    x = graph.add_input("x", TensorType((2,), "f32"))
    y = graph.create("onnx.Relu", [x], result_types=[TensorType((2,), "f32")], loc="relu", result_names=["y"])
    graph.set_outputs([x, y.result, y.result], ["x_out", "y", "y_again"])
    graph.attrs["onnx.opset"] = 13
    return graph


def test_inputs_and_repeated_values_become_identity_copies() -> None:
    graph = _graph_returning_input_twice()
    model = export_onnx(graph)
    onnx.checker.check_model(model)
    assert [o.name for o in model.graph.output] == ["x_out", "y", "y_again"]
    assert [n.op_type for n in model.graph.node] == ["Relu", "Identity", "Identity"]
    x = np.array([-1.0, 2.0], np.float32)
    outputs = ort_run(model, {"x": x})
    ours = run(graph, {"x": x})
    for name in graph.output_names:
        np.testing.assert_array_equal(outputs[name], ours[name])
    reimported = import_onnx(model)
    assert reimported.output_names == graph.output_names and reimported.attrs["onnx.opset"] == 13


def test_duplicate_and_missing_value_names_are_made_unique() -> None:
    graph = Graph()
    x = graph.add_input("x", TensorType((2,), "f32"))
    a = graph.create("onnx.Neg", [x], result_types=[TensorType((2,), "f32")], result_names=["t"]).result
    b = graph.create("onnx.Abs", [a], result_types=[TensorType((2,), "f32")], result_names=["t"]).result
    c = graph.create("onnx.Add", [a, b], result_types=[TensorType((2,), "f32")]).result
    graph.set_outputs([c], ["out"])
    model = export_onnx(graph)
    onnx.checker.check_model(model)
    produced = [name for node in model.graph.node for name in node.output]
    assert len(set(produced)) == len(produced) and produced[-1] == "out"
    np.testing.assert_array_equal(ort_run(model, {"x": np.array([-1, 3], np.float32)})["out"], [2, 0])


def test_foreign_ops_are_listed() -> None:
    graph = Graph()
    x = graph.add_input("x", TensorType((2,), "f32"))
    first = graph.insert(Op("core.relu", [x], [TensorType((2,), "f32")], loc="r1"))
    second = graph.insert(Op("core.relu", [first.result], [TensorType((2,), "f32")], loc="r2"))
    graph.set_outputs([second.result], ["y"])
    with pytest.raises(UnsupportedOpError) as info:
        export_onnx(graph)
    assert str(info.value) == "cannot export to ONNX, only onnx.* and const ops: core.relu (ops: r1, r2)"


def test_quantized_types_are_refused() -> None:
    graph = Graph()
    quant = QuantParams.per_tensor("i8", 0.1, 0)
    x = graph.add_input("x", TensorType((2,), "i8", quant))
    y = graph.create("onnx.Identity", [x], result_types=[TensorType((2,), "i8", quant)], loc="id", result_names=["y"])
    graph.set_outputs([y.result])
    with pytest.raises(UnsupportedOpError, match="input %x has a quantized type"):
        export_onnx(graph)
