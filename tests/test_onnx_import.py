"""The ONNX importer: structure of the imported graph, types, input_shapes, external data, and the
one-line errors for every kind of bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcompiler.errors import ModelImportError, QCompilerError, UnsupportedOpError
from qcompiler.interpreter import run
from qcompiler.ir import CONST
from qcompiler.onnx_import import import_onnx
from qcompiler.verifier import verify


def make_model(nodes: Sequence[onnx.NodeProto], inputs: Sequence[onnx.ValueInfoProto],
               outputs: Sequence[onnx.ValueInfoProto], initializers: Sequence[onnx.TensorProto] = (),
               opset: int = 17, extra_opsets: Sequence[tuple[str, int]] = ()) -> onnx.ModelProto:
    """A small model at ``opset`` (IR version 8, which every opset from 7 to 21 accepts)."""
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model


def tensor(name: str, shape: Optional[Sequence] = None, elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    """A tensor value info."""
    return helper.make_tensor_value_info(name, elem, shape)


def import_error(source, **kwargs) -> QCompilerError:
    """The error ``import_onnx`` raises; it must be a one-line ModelImportError."""
    with pytest.raises(ModelImportError) as info:
        import_onnx(source, **kwargs)
    text = str(info.value)
    assert "\n" not in text and text
    return info.value


def relu_model() -> onnx.ModelProto:
    """y = Relu(x @ W + b) with a dynamic batch dim."""
    weight = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4) - 5, "W")
    bias = numpy_helper.from_array(np.array([1, -1, 2, -2], dtype=np.float32), "b")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"], name="mm"),
             helper.make_node("Add", ["xw", "b"], ["z"], name="add"),
             helper.make_node("Relu", ["z"], ["y"])]
    return make_model(nodes, [tensor("x", ["N", 3])], [tensor("y", ["N", 4])], [weight, bias])


# -- structure -----------------------------------------------------------------------------------------

def test_shared_model_structure(shared_models_dir: Path) -> None:
    path = shared_models_dir / "digits_cnn.onnx"
    model = onnx.load(str(path))
    graph = import_onnx(path)
    verify(graph)
    assert graph.attrs["onnx.opset"] == 17
    assert [v.name for v in graph.inputs] == [i.name for i in model.graph.input]
    assert graph.output_names == [o.name for o in model.graph.output]
    consts = graph.ops_of_kind(CONST)
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    const_names = {op.result.name for op in consts}
    assert set(initializers) <= const_names
    for op in consts:
        if op.result.name in initializers:
            np.testing.assert_array_equal(op.attrs["value"], initializers[op.result.name])
    computed = [op for op in graph if op.kind != CONST]
    onnx_nodes = [n for n in model.graph.node if n.op_type != "Constant"]
    assert [op.kind for op in computed] == [f"onnx.{n.op_type}" for n in onnx_nodes]
    assert [op.loc for op in computed] == [n.name for n in onnx_nodes]
    assert [[v.name for v in op.results] for op in computed] == [list(n.output) for n in onnx_nodes]
    assert not graph.ops_of_kind("onnx.Constant")
    assert all(v.type.is_static for v in graph.values())


def test_constant_nodes_become_consts() -> None:
    nodes = [helper.make_node("Constant", [], ["c"], name="const_c", value_floats=[1.0, 2.0]),
             helper.make_node("Constant", [], ["k"], value_int=3),
             helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    graph = import_onnx(make_model(nodes, [tensor("x", [2])], [tensor("y", [2])]))
    consts = {op.result.name: op for op in graph.ops_of_kind(CONST)}
    np.testing.assert_array_equal(consts["c"].attrs["value"], np.array([1, 2], np.float32))
    assert consts["c"].loc == "const_c"
    assert consts["k"].attrs["value"].dtype == np.int64 and consts["k"].attrs["value"].shape == ()
    assert consts["k"].loc == "Constant(k)"
    np.testing.assert_array_equal(run(graph, {"x": np.ones(2, np.float32)})["y"], [2, 3])


def test_unnamed_node_gets_stable_location() -> None:
    graph = import_onnx(relu_model())
    assert [op.loc for op in graph if op.kind != CONST] == ["mm", "add", "Relu(y)"]


def test_model_proto_source_and_initializer_values_are_not_copied() -> None:
    model = relu_model()
    before = model.SerializeToString()
    graph = import_onnx(model, input_shapes={"x": (2, 3)})
    assert model.SerializeToString() == before  # the user's proto is left alone
    x = np.array([[1, 2, 3], [-1, 0, 4]], np.float32)
    weight = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    expected = np.maximum(x @ weight + np.array([1, -1, 2, -2], np.float32), 0)
    np.testing.assert_array_equal(run(graph, {"x": x})["y"], expected)


def test_omitted_inputs_and_trailing_outputs() -> None:
    nodes = [helper.make_node("Clip", ["x", "", "hi"], ["c"], name="clip"),
             helper.make_node("Dropout", ["c"], ["y", ""], name="drop")]
    hi = numpy_helper.from_array(np.array(0.5, np.float32), "hi")
    graph = import_onnx(make_model(nodes, [tensor("x", [4])], [tensor("y", [4])], [hi]))
    verify(graph)
    clip, drop = graph.ops_of_kind("onnx.Clip")[0], graph.ops_of_kind("onnx.Dropout")[0]
    assert clip.num_operands == 3 and clip.operands[1] is None and clip.operands[2].name == "hi"
    assert len(drop.results) == 1
    out = run(graph, {"x": np.array([-1, 0.25, 0.75, 2], np.float32)})["y"]
    np.testing.assert_array_equal(out, [-1, 0.25, 0.5, 0.5])


def test_trailing_omitted_input_is_a_none_operand() -> None:
    lo = numpy_helper.from_array(np.array(0.0, np.float32), "lo")
    model = make_model([helper.make_node("Clip", ["x", "lo", ""], ["y"], name="clip")], [tensor("x", [3])],
                       [tensor("y", [3])], [lo])
    graph = import_onnx(model)
    verify(graph)
    assert graph.ops_of_kind("onnx.Clip")[0].operands[1:] == (graph.ops_of_kind(CONST)[0].result, None)
    np.testing.assert_array_equal(run(graph, {"x": np.array([-1, 0, 2], np.float32)})["y"], [0, 0, 2])


def test_initializers_listed_as_inputs_are_constants() -> None:
    model = relu_model()
    model.graph.input.append(tensor("W", [3, 4]))
    model.ir_version = 3
    graph = import_onnx(model)
    assert [v.name for v in graph.inputs] == ["x"]
    assert graph.ops_of_kind(CONST)[0].result.name == "W"


def test_nodes_out_of_order_are_sorted() -> None:
    model = relu_model()
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))
    graph = import_onnx(model)
    verify(graph)
    assert [op.loc for op in graph if op.kind != CONST] == ["mm", "add", "Relu(y)"]


def test_cycle_is_reported() -> None:
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second")]
    error = import_error(make_model(nodes, [tensor("x", [2])], [tensor("b", [2])]))
    assert "cycle through nodes first, second" in str(error)


def test_light_model_at_opset_9(light_models_dir: Path) -> None:
    graph = import_onnx(light_models_dir / "light_bvlc_alexnet.onnx")
    assert graph.attrs["onnx.opset"] == 9
    assert [v.name for v in graph.inputs] == ["data_0"]  # initializers listed as inputs are constants
    assert all(v.type is not None for v in graph.values())
    mask = graph.ops_of_kind("onnx.Dropout")[0].results[1]
    assert mask.type.element == "f32"  # Dropout-7's mask is typed like its input


def test_foreign_opset_import_without_use_is_fine() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [2])], [tensor("y", [2])],
                       extra_opsets=[("com.microsoft", 1)])
    assert len(import_onnx(model)) == 1


# -- types and input_shapes ---------------------------------------------------------------------------

def test_dynamic_dims_stay_symbolic_without_input_shapes() -> None:
    graph = import_onnx(relu_model())
    assert graph.input("x").type.shape == ("N", 3)
    assert graph.outputs[0].type.shape == ("N", 4)


def test_input_shapes_fix_dynamic_dims_everywhere() -> None:
    graph = import_onnx(relu_model(), input_shapes={"x": [5, 3]})
    assert graph.input("x").type.shape == (5, 3)
    assert all(v.type.shape in ((5, 3), (5, 4), (3, 4), (4,)) for v in graph.values())


def test_input_shapes_wrong_rank() -> None:
    error = import_error(relu_model(), input_shapes={"x": (1, 2, 3)})
    assert "'x'" in str(error) and "rank 3" in str(error) and "rank 2" in str(error)


def test_input_shapes_conflicting_dim() -> None:
    error = import_error(relu_model(), input_shapes={"x": (2, 7)})
    assert "'x'" in str(error) and "dim 1 = 7" in str(error) and "fixes it to 3" in str(error)


def test_input_shapes_cannot_turn_a_fixed_dim_into_a_symbol() -> None:
    error = import_error(relu_model(), input_shapes={"x": ("B", "C")})
    assert "'x'" in str(error) and "dim 1 = C" in str(error)


def test_input_shapes_rejects_negative_dims() -> None:
    assert "dims are sizes >= 0 or names" in str(import_error(relu_model(), input_shapes={"x": (-1, 3)}))


def test_input_shapes_unknown_input_name() -> None:
    error = import_error(relu_model(), input_shapes={"images": (1, 3)})
    assert "'images'" in str(error) and "not a model input" in str(error) and "inputs: x" in str(error)


def test_input_shapes_cannot_name_an_initializer() -> None:
    error = import_error(relu_model(), input_shapes={"W": (3, 4)})
    assert "'W'" in str(error) and "not a model input" in str(error)


def test_types_inference_leaves_open_come_from_evaluating_constant_chains() -> None:
    # ONNX data propagation does not go through Abs, so whole-model inference leaves ConstantOfShape's dims
    # unknown (it calls them unk__N); the importer evaluates the constant chain and then re-infers Add.
    nodes = [helper.make_node("Constant", [], ["s"], value_ints=[-2, -3]), helper.make_node("Abs", ["s"], ["a"]),
             helper.make_node("ConstantOfShape", ["a"], ["c"], name="cos"),
             helper.make_node("Add", ["x", "c"], ["y"], name="add")]
    graph = import_onnx(make_model(nodes, [tensor("x", [2, 1])], [tensor("y", None)]))
    assert graph.ops_of_kind("onnx.ConstantOfShape")[0].result.type.shape == (2, 3)
    assert graph.outputs[0].type.shape == (2, 3)
    assert graph.ops_of_kind("onnx.ConstantOfShape")[0].kind == "onnx.ConstantOfShape"  # not folded away


def test_unknown_dims_are_question_marks_not_generated_symbols() -> None:
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Abs", ["s"], ["a"]),
             helper.make_node("Reshape", ["x", "a"], ["y"], name="r")]
    graph = import_onnx(make_model(nodes, [tensor("x", ["N", 3])], [tensor("y", None)]))
    assert graph.input("x").type.shape == ("N", 3)
    assert graph.outputs[0].type.shape == ("?", "?")


# -- bad files ----------------------------------------------------------------------------------------

@pytest.fixture
def cnn_bytes(shared_models_dir: Path) -> bytes:
    return (shared_models_dir / "digits_cnn.onnx").read_bytes()


def test_truncated_file(tmp_path: Path, cnn_bytes: bytes) -> None:
    path = tmp_path / "cut.onnx"
    path.write_bytes(cnn_bytes[: len(cnn_bytes) // 2])
    error = import_error(path)
    assert str(path) in str(error) and "truncated" in str(error)


def test_file_cut_before_its_opset(tmp_path: Path) -> None:
    model = relu_model()
    del model.opset_import[:]
    path = tmp_path / "no_opset.onnx"
    path.write_bytes(model.SerializeToString())  # what a file cut right before opset_import looks like
    error = import_error(path)
    assert str(path) in str(error) and "no default-domain ONNX opset" in str(error)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_bytes(b"this is a text file, not a model\n" * 3)
    error = import_error(path)
    assert str(path) in str(error) and "not a valid ONNX model" in str(error)


def test_protobuf_that_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    path.write_bytes(b"\x08\x07")  # a valid ModelProto with only ir_version set
    error = import_error(path)
    assert str(path) in str(error) and "not an ONNX model" in str(error)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    assert "empty" in str(import_error(path))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.onnx"
    error = import_error(str(path))
    assert str(error) == f"{path}: no such file"


def test_folder_instead_of_file(tmp_path: Path) -> None:
    assert "is a folder" in str(import_error(tmp_path))


def test_wrong_source_type() -> None:
    assert "expected a file path or an onnx.ModelProto" in str(import_error(b"bytes"))


@pytest.mark.parametrize("opset", [6, onnx.defs.onnx_opset_version() + 1])
def test_opset_out_of_range(opset: int) -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [2])], [tensor("y", [2])])
    model.opset_import[0].version = opset
    error = import_error(model)
    assert f"ONNX opset {opset} is not supported" in str(error) and "supported: 7 to" in str(error)


# -- unsupported content ------------------------------------------------------------------------------

def test_every_unsupported_op_is_listed_once() -> None:
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"])], "body",
                             [tensor("i", [], TensorProto.INT64), tensor("c", [], TensorProto.BOOL)],
                             [tensor("c_out", [], TensorProto.BOOL)])
    nodes = [
        helper.make_node("RandomUniformLike", ["x"], ["r1"], name="rand_1"),
        helper.make_node("FusedConv", ["x"], ["f"], name="c1", domain="com.microsoft"),
        helper.make_node("Loop", ["", "cond"], [], name="loop_1", body=body),
        helper.make_node("RandomUniformLike", ["x"], ["r2"]),
        helper.make_node("Add", ["r1", "r2"], ["y"], name="fine"),
    ]
    model = make_model(nodes, [tensor("x", [2]), tensor("cond", [], TensorProto.BOOL)], [tensor("y", [2])],
                       extra_opsets=[("com.microsoft", 1)])
    error = import_error(model)
    assert isinstance(error, UnsupportedOpError)
    assert str(error) == ("unsupported ONNX ops: RandomUniformLike (nodes: rand_1, "
                          "RandomUniformLike(r2)); com.microsoft.FusedConv (nodes: c1); Loop (nodes: loop_1)")
    assert error.ops == {"RandomUniformLike": ["rand_1", "RandomUniformLike(r2)"],
                         "com.microsoft.FusedConv": ["c1"], "Loop": ["loop_1"]}


def test_unsupported_ops_in_a_file_name_the_file(tmp_path: Path) -> None:
    nodes = [helper.make_node("Bernoulli", ["x"], ["b1"], name="bern_1"),
             helper.make_node("Bernoulli", ["x"], ["b2"], name="bern_2"),
             helper.make_node("Multinomial", ["x"], ["m"], name="multi"),
             helper.make_node("Add", ["b1", "b2"], ["y"])]
    model = make_model(nodes, [tensor("x", [1, 2])], [tensor("y", [1, 2])])
    path = tmp_path / "random.onnx"
    onnx.save(model, str(path))
    error = import_error(path)
    assert str(error) == f"{path}: unsupported ONNX ops: Bernoulli (nodes: bern_1, bern_2); Multinomial (nodes: multi)"


def test_sequence_input_is_refused() -> None:
    seq = helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, [2])
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [2]), seq], [tensor("y", [2])])
    error = import_error(model)
    assert str(error) == "input 'seq' is a sequence; only tensors are supported"


def test_sparse_initializer_is_refused() -> None:
    values = numpy_helper.from_array(np.array([1.0], np.float32), "sp")
    indices = numpy_helper.from_array(np.array([0], np.int64), "sp_idx")
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [2])], [tensor("y", [2])])
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [2]))
    assert "sparse initializers are not supported (sp)" in str(import_error(model))


def test_sparse_constant_is_refused() -> None:
    values = numpy_helper.from_array(np.array([1.0], np.float32), "sp")
    indices = numpy_helper.from_array(np.array([0], np.int64), "sp_idx")
    node = helper.make_node("Constant", [], ["c"], name="sparse_c",
                            sparse_value=helper.make_sparse_tensor(values, indices, [2]))
    model = make_model([node, helper.make_node("Add", ["x", "c"], ["y"])], [tensor("x", [2])], [tensor("y", [2])])
    assert str(import_error(model)) == "sparse_c: Constant with a sparse value is not supported"


def test_undefined_tensor_names_the_node() -> None:
    model = make_model([helper.make_node("Add", ["x", "ghost"], ["y"], name="add_1")], [tensor("x", [2])],
                       [tensor("y", [2])])
    error = import_error(model)
    assert "add_1" in str(error) and "'ghost'" in str(error)


def test_undefined_output() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [2])], [tensor("z", [2])])
    assert "graph output 'z' is not produced" in str(import_error(model))


# -- external data ------------------------------------------------------------------------------------

@pytest.fixture
def external_model(tmp_path: Path, shared_models_dir: Path) -> Path:
    """digits_mlp saved with every initializer in one external file next to it, in its own folder."""
    folder = tmp_path / "model"
    folder.mkdir()
    model = onnx.load(str(shared_models_dir / "digits_mlp.onnx"))
    path = folder / "mlp.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    assert (folder / "weights.bin").stat().st_size > 0
    return path


def _set_locations(path: Path, location: str) -> str:
    """Point every external tensor of the model at ``location``; returns the first tensor's name."""
    model = onnx.load(str(path), load_external_data=False)
    first = None
    for tensor_proto in model.graph.initializer:
        for entry in tensor_proto.external_data:
            if entry.key == "location":
                entry.value = location
                first = first or tensor_proto.name
    path.write_bytes(model.SerializeToString())
    assert first is not None
    return first


def test_external_data_inside_the_folder_loads_and_runs(external_model: Path, shared_models_dir: Path) -> None:
    graph = import_onnx(external_model)
    verify(graph)
    plain = import_onnx(shared_models_dir / "digits_mlp.onnx")
    x = np.random.default_rng(1).random((1, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(run(graph, {"input": x})["logits"], run(plain, {"input": x})["logits"])


def test_external_data_in_a_subfolder_loads(external_model: Path) -> None:
    sub = external_model.parent / "data"
    sub.mkdir()
    shutil.move(str(external_model.parent / "weights.bin"), str(sub / "weights.bin"))
    _set_locations(external_model, "data/weights.bin")
    verify(import_onnx(external_model))


def test_external_data_escaping_with_dotdot(external_model: Path) -> None:
    shutil.copy(external_model.parent / "weights.bin", external_model.parent.parent / "x.bin")
    name = _set_locations(external_model, "../x.bin")
    error = import_error(external_model)
    assert f"tensor '{name}'" in str(error) and "'../x.bin'" in str(error)
    assert "outside the model's folder" in str(error)


def test_external_data_with_an_absolute_path(external_model: Path) -> None:
    absolute = str(external_model.parent / "weights.bin")  # even inside the folder: absolute is refused
    name = _set_locations(external_model, absolute)
    error = import_error(external_model)
    assert f"tensor '{name}'" in str(error) and f"'{absolute}'" in str(error) and "absolute path" in str(error)


def test_external_data_escaping_through_a_symlink(external_model: Path) -> None:
    outside = external_model.parent.parent / "elsewhere.bin"
    shutil.move(str(external_model.parent / "weights.bin"), str(outside))
    os.symlink(outside, external_model.parent / "weights.bin")
    error = import_error(external_model)
    assert "'weights.bin'" in str(error) and "outside the model's folder" in str(error)


def test_missing_external_file(external_model: Path) -> None:
    (external_model.parent / "weights.bin").unlink()
    error = import_error(external_model)
    assert str(external_model) in str(error) and "'weights.bin'" in str(error) and "no such file" in str(error)


def test_short_external_file(external_model: Path) -> None:
    weights = external_model.parent / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:100])
    error = import_error(external_model)
    assert "'weights.bin'" in str(error) and "holds 100 bytes" in str(error)


def test_model_proto_with_unloaded_external_data(external_model: Path) -> None:
    model = onnx.load(str(external_model), load_external_data=False)
    error = import_error(model)
    assert "'weights.bin'" in str(error) and "import the model from its file path" in str(error)


# -- element types ------------------------------------------------------------------------------------

def test_initializer_with_an_element_type_the_ir_lacks() -> None:
    weird = helper.make_tensor("w8", TensorProto.FLOAT8E4M3FN, [2], [1.0, 2.0])
    model = make_model([helper.make_node("Identity", ["w8"], ["y"])], [], [tensor("y", [2], TensorProto.FLOAT8E4M3FN)],
                       [weird])
    error = import_error(model)
    assert "FLOAT8E4M3FN is not supported" in str(error) and ("'w8'" in str(error) or "'y'" in str(error))


def test_input_with_an_element_type_the_ir_lacks() -> None:
    model = make_model([helper.make_node("Identity", ["x"], ["y"])], [tensor("x", [2], TensorProto.COMPLEX64)],
                       [tensor("y", [2], TensorProto.COMPLEX64)])
    error = import_error(model)
    assert "'x'" in str(error) and "COMPLEX64" in str(error)


def test_int64_and_bool_graphs_run() -> None:
    nodes = [helper.make_node("Greater", ["a", "b"], ["g"], name="gt"),
             helper.make_node("Where", ["g", "a", "b"], ["y"], name="max")]
    model = make_model(nodes, [tensor("a", [3], TensorProto.INT64), tensor("b", [3], TensorProto.INT64)],
                       [tensor("y", [3], TensorProto.INT64)])
    graph = import_onnx(model)
    assert graph.ops_of_kind("onnx.Greater")[0].result.type.element == "bool"
    out = run(graph, {"a": np.array([1, 5, 3]), "b": np.array([4, 2, 3])})["y"]
    np.testing.assert_array_equal(out, [4, 5, 3])
