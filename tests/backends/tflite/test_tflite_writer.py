"""The flatbuffer the writer produces: operator codes (deprecated vs extended), buffers (empty buffer 0,
deduplicated, 16-byte aligned), quantization parameters, signature, metadata, description, determinism,
padding decisions, and one-line errors for what the backend cannot take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from qcompiler.backends.tflite import describe_tflite, export_tflite
from qcompiler.backends.tflite.lower_image import same_padding, tflite_padding
from qcompiler.errors import QCompilerError, UnsupportedOpError
from qcompiler.ir import Graph
from qcompiler.types import QuantParams, TensorType

from tflite_checks import assert_litert_matches, buffer_data_offsets, build_graph, read_model

Op = schema.BuiltinOperator


def two_layer_graph() -> Graph:
    """x -> fully_connected(w) -> gelu -> fully_connected(w again, a separate but identical constant)."""
    weight = np.arange(16, dtype=np.float32).reshape(4, 4) / 16

    def body(g, x):
        hidden = g.create("core.fully_connected", [x[0], g.const(weight, "w1")]).result
        hidden = g.create("core.gelu", [hidden]).result
        return [g.create("core.fully_connected", [hidden, g.const(weight.copy(), "w2")], {"activation": "relu"},
                         loc="fc2").result]

    return build_graph([(1, 4)], body)


def test_operator_codes_use_the_extended_field_above_127():
    model = read_model(export_tflite(two_layer_graph()))
    codes = {code.builtinCode: code for code in model.operatorCodes}
    assert sorted(codes) == [Op.FULLY_CONNECTED, Op.GELU]
    assert Op.GELU > 127 and codes[Op.GELU].deprecatedBuiltinCode == 127
    assert codes[Op.FULLY_CONNECTED].deprecatedBuiltinCode == Op.FULLY_CONNECTED


def test_buffers_empty_first_deduplicated_and_aligned():
    data = export_tflite(two_layer_graph())
    model = read_model(data)
    assert model.buffers[0].data is None
    subgraph = model.subgraphs[0]
    weights = [t for t in subgraph.tensors if t.name in (b"w1", b"w2")]
    assert len(weights) == 2 and weights[0].buffer == weights[1].buffer != 0
    activations = [t for t in subgraph.tensors if t.name not in (b"w1", b"w2")]
    assert all(t.buffer == 0 for t in activations)
    offsets = buffer_data_offsets(data)
    assert offsets and all(offset % 16 == 0 for offset in offsets)
    weight_bytes = bytes(np.asarray(model.buffers[weights[0].buffer].data, dtype=np.uint8))
    assert weight_bytes == (np.arange(16, dtype=np.float32) / 16).astype("<f4").tobytes()


def test_signature_metadata_description_and_names():
    graph = two_layer_graph()
    data = export_tflite(graph)
    model = read_model(data)
    assert model.version == 3 and model.description.decode().startswith("qcompiler ")
    signature, = model.signatureDefs
    assert signature.signatureKey == b"serving_default"
    subgraph = model.subgraphs[0]
    assert [(m.name, m.tensorIndex) for m in signature.inputs] == [(b"x0", subgraph.inputs[0])]
    assert [(m.name, m.tensorIndex) for m in signature.outputs] == [(b"y0", subgraph.outputs[0])]
    assert subgraph.tensors[subgraph.outputs[0]].name == b"y0"
    metadata, = model.metadata
    assert metadata.name == b"min_runtime_version"
    raw = bytes(np.asarray(model.buffers[metadata.buffer].data, dtype=np.uint8))
    assert len(raw) == 16 and raw.rstrip(b"\0") == b"2.9.0"  # GELU needs 2.9
    assert data[4:8] == b"TFL3"


def test_export_is_deterministic_and_leaves_the_graph_alone():
    graph = two_layer_graph()
    before = [op.kind for op in graph]
    assert export_tflite(graph) == export_tflite(graph) == export_tflite(two_layer_graph())
    assert [op.kind for op in graph] == before


def test_quantization_parameters_per_tensor_and_per_axis():
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 4), "f32"))
    per_tensor = QuantParams.per_tensor("i8", 0.5, -3)
    per_axis = QuantParams.per_axis("i8", [0.25, 0.125, 0.5], [0, 0, 0], 0)
    xq = graph.create("q.quantize", [x], {}, [TensorType((1, 4), "i8", per_tensor)]).result \
        if _has_q_dialect() else None
    if xq is None:
        pytest.skip("the q dialect is not registered yet")
    wq = graph.create("const", [], {"value": np.arange(12, dtype=np.int8).reshape(3, 4)},
                      [TensorType((3, 4), "i8", per_axis)], result_names=["w"]).result
    wd = graph.create("q.dequantize", [wq], {}, [TensorType((3, 4), "f32")]).result
    xd = graph.create("q.dequantize", [xq], {}, [TensorType((1, 4), "f32")]).result
    y = graph.create("core.fully_connected", [xd, wd]).result
    graph.set_outputs([y], ["y"])
    subgraph = read_model(export_tflite(graph)).subgraphs[0]
    by_name = {t.name: t for t in subgraph.tensors}
    w = by_name[b"w"].quantization
    assert list(w.scale) == [0.25, 0.125, 0.5] and list(w.zeroPoint) == [0, 0, 0] and w.quantizedDimension == 0
    quantized = [t for t in subgraph.tensors if t.type == schema.TensorType.INT8 and t.name != b"w"]
    assert [list(t.quantization.scale) + list(t.quantization.zeroPoint) for t in quantized] == [[0.5, -3]]


def test_equal_quantization_parameters_are_written_once():
    # Per-channel zero points are int64 zeros: weights of equal width (and a weight and its bias) share one
    # vector, and tensors with equal parameters one table, which keeps int8 files near a quarter of float32.
    graph = Graph()
    params = QuantParams.per_tensor("i8", 0.5, -3)
    x = graph.add_input("x", TensorType((1, 4), "i8", params))
    flat = graph.create("core.reshape", [x], {"shape": [4]}).result
    back = graph.create("core.reshape", [flat], {"shape": [1, 4]}).result
    weights = [graph.create("const", [], {"value": np.full((3, 4), i + 1, dtype=np.int8)},
                            [TensorType((3, 4), "i8", QuantParams.per_axis("i8", scales, [0, 0, 0], 0))]).result
               for i, scales in enumerate(([0.25, 0.125, 0.5], [0.5, 0.25, 0.125]))]
    graph.set_outputs([back] + weights, ["y", "w1", "w2"])
    subgraph = schema.Model.GetRootAs(export_tflite(graph), 0).Subgraphs(0)
    quantizations = [q for q in (subgraph.Tensors(i).Quantization() for i in range(subgraph.TensorsLength()))
                     if q is not None and q.ScaleLength()]
    activations = [q for q in quantizations if q.ScaleLength() == 1]
    channels = [q for q in quantizations if q.ScaleLength() == 3]
    assert len(activations) == 3 and len(channels) == 2
    # the generated reader keeps a table's position in _tab.Pos; field 10 is zero_point (vtable slot 3)
    assert len({q._tab.Pos for q in activations}) == 1
    assert len({q._tab.Vector(q._tab.Offset(10)) for q in channels}) == 1
    assert len({q._tab.Pos for q in channels}) == 2
    assert [q.ZeroPoint(0) for q in activations] == [-3] * 3 and [q.Scale(1) for q in channels] == [0.125, 0.25]


def _has_q_dialect() -> bool:
    from qcompiler.ops.registry import lookup_op_def

    return lookup_op_def("q.quantize") is not None


@pytest.mark.parametrize("size, kernel, stride, dilation, expected", [
    (8, 3, 1, 1, (1, 1)), (8, 3, 2, 1, (0, 1)), (7, 3, 2, 1, (1, 1)), (8, 2, 2, 1, (0, 0)),
    (9, 3, 1, 2, (2, 2)), (5, 4, 1, 1, (1, 2)), (2, 5, 3, 1, (1, 2))])
def test_same_padding_rule(size, kernel, stride, dilation, expected):
    assert same_padding(size, kernel, stride, dilation) == expected


def test_padding_choice():
    shape = (1, 8, 8, 3)
    assert tflite_padding(shape, (3, 3), (1, 1), (1, 1), (0, 0, 0, 0)) == schema.Padding.VALID
    assert tflite_padding(shape, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)) == schema.Padding.SAME
    assert tflite_padding(shape, (3, 3), (2, 2), (1, 1), (0, 0, 1, 1)) == schema.Padding.SAME
    assert tflite_padding(shape, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1)) is None


def test_every_op_that_cannot_be_lowered_is_listed_with_its_location():
    def body(g, x):
        erf = g.create("core.erf", [x[0]], loc="/a/Erf").result
        relu = g.create("core.relu", [erf]).result
        return [g.create("core.erf", [relu], loc="/b/Erf").result]

    with pytest.raises(UnsupportedOpError) as info:
        export_tflite(build_graph([(2, 3)], body))
    message = str(info.value)
    assert "2 op(s)" in message and "core.erf at '/a/Erf'" in message and "core.erf at '/b/Erf'" in message
    assert "\n" not in message


def test_nchw_image_ops_are_refused():
    nchw = build_graph([(1, 3, 8, 8)], lambda g, x: [g.create(
        "core.max_pool2d", [x[0]], {"kernel": [2, 2], "layout": "NCHW"}, loc="pool").result])
    with pytest.raises(UnsupportedOpError, match="pool: .*to-nhwc"):
        export_tflite(nchw)


def test_dynamic_shapes_and_bad_io_type_are_one_line_errors():
    graph = Graph()
    x = graph.add_input("x", TensorType(("batch", 4), "f32"))
    graph.set_outputs([graph.create("core.relu", [x]).result], ["y"])
    with pytest.raises(QCompilerError, match="static input shapes; input 'x'"):
        export_tflite(graph)
    with pytest.raises(QCompilerError, match="io_type must be one of float, int8"):
        export_tflite(two_layer_graph(), io_type="uint8")
    with pytest.raises(QCompilerError, match="io_type int8 needs graph input 'x0'"):
        export_tflite(two_layer_graph(), io_type="int8")


def test_describe_lists_operators_tensors_and_buffers():
    text = describe_tflite(export_tflite(two_layer_graph()))
    assert "FULLY_CONNECTED v" in text and "GELU v1" in text
    assert "metadata min_runtime_version: 2.9.0" in text
    assert "signature 'serving_default' (subgraph 0): inputs x0=t0; outputs y0=" in text
    assert "w1: 4x4 FLOAT32 buffer 1 (64 bytes)" in text and "w2: 4x4 FLOAT32 buffer 1 (64 bytes)" in text
    assert "fusedActivationFunction=RELU" in text


def test_describe_refuses_what_is_not_a_tflite_model():
    with pytest.raises(QCompilerError, match="not a .tflite model"):
        describe_tflite(b"\x00" * 64)
    data = bytearray(export_tflite(two_layer_graph()))
    with pytest.raises(QCompilerError, match="corrupt .tflite model"):
        describe_tflite(bytes(data[:40]))


def test_two_layer_graph_runs():
    assert_litert_matches(two_layer_graph())


def test_describe_reads_a_converter_made_model():
    tflite_micro = pytest.importorskip("tflite_micro")
    path = Path(tflite_micro.__file__).parent / "python" / "tflite_micro" / "sine_float.tflite"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    text = describe_tflite(path.read_bytes())
    assert "description 'MLIR Converted.'" in text
    assert text.count(" FULLY_CONNECTED v1 ") == 3
    assert "metadata CONVERSION_METADATA: " in text and "bytes" in text.split("CONVERSION_METADATA: ")[1].split("\n")[0]
    assert all(line.startswith(("model:", "metadata ", "signature ", "subgraph ", "  ")) for line in text.splitlines())


def _t(shape, element, quant=None) -> TensorType:
    return TensorType(shape, element, quant)


I8 = QuantParams.per_tensor("i8", 0.1, 0)
I16 = QuantParams.per_tensor("i16", 0.001, 0)
W_AXIS = QuantParams.per_axis("i8", [0.1, 0.2], [0, 0], 0)


@pytest.mark.parametrize("code, types, fields, version", [
    (Op.CONV_2D, [_t((1, 4, 4, 2), "f32"), _t((2, 3, 3, 2), "f32"), _t((1, 2, 2, 2), "f32")], {}, 1),
    (Op.CONV_2D, [_t((1, 4, 4, 2), "i8", I8), _t((2, 3, 3, 2), "i8", W_AXIS), _t((1, 2, 2, 2), "i8", I8)], {}, 3),
    (Op.CONV_2D, [_t((1, 4, 4, 2), "i16", I16), _t((2, 3, 3, 2), "i8", W_AXIS), _t((1, 2, 2, 2), "i16", I16)],
     {}, 4),
    (Op.CONV_2D, [_t((1, 4, 4, 2), "f32"), _t((2, 3, 3, 2), "i8", W_AXIS), _t((1, 2, 2, 2), "f32")], {}, 5),
    (Op.CONV_2D, [_t((1, 4, 4, 4), "f32"), _t((2, 3, 3, 2), "f32"), _t((1, 2, 2, 2), "f32")], {}, 6),
    (Op.DEPTHWISE_CONV_2D, [_t((1, 4, 4, 2), "f32"), _t((1, 3, 3, 2), "f32"), _t((1, 2, 2, 2), "f32")],
     {"dilationWFactor": 2}, 2),
    (Op.FULLY_CONNECTED, [_t((2, 3, 4), "f32"), _t((5, 4), "f32"), _t((2, 3, 5), "f32")], {"keepNumDims": True}, 5),
    (Op.FULLY_CONNECTED, [_t((1, 4), "i8", I8), _t((2, 4), "i8", W_AXIS), _t((1, 2), "i8", I8)], {}, 4),
    (Op.QUANTIZE, [_t((1, 4), "f32"), _t((1, 4), "i8", I8)], {}, 1),
    (Op.QUANTIZE, [_t((1, 4), "f32"), _t((1, 4), "i16", I16)], {}, 2),
    (Op.DEQUANTIZE, [_t((1, 4), "f16"), _t((1, 4), "f32")], {}, 3),
    (Op.DEQUANTIZE, [_t((2, 4), "i8", W_AXIS), _t((2, 4), "f32")], {}, 5),
    (Op.ADD, [_t((1, 4), "i16", I16), _t((1, 4), "i16", I16), _t((1, 4), "i16", I16)], {"potScaleInt16": False}, 3),
    (Op.BROADCAST_TO, [_t((1, 4), "f32"), _t((2,), "i32"), _t((3, 4), "f32")], {}, 2),
])
def test_operator_versions_follow_tflite_rules(code, types, fields, version):
    from qcompiler.backends.tflite.versions import operator_version
    from qcompiler.backends.tflite.writer import TflOperator

    table = {Op.CONV_2D: schema.Conv2DOptionsT, Op.DEPTHWISE_CONV_2D: schema.DepthwiseConv2DOptionsT,
             Op.FULLY_CONNECTED: schema.FullyConnectedOptionsT, Op.ADD: schema.AddOptionsT}.get(code)
    options = None
    if table is not None:
        options = table()
        for name, value in fields.items():
            setattr(options, name, value)
    operator = TflOperator(code, list(range(len(types) - 1)), [len(types) - 1], options)
    assert operator_version(operator, lambda index: types[index]) == version


def test_min_runtime_version_is_the_newest_release_needed():
    from qcompiler.backends.tflite.versions import min_runtime_version
    from qcompiler.backends.tflite.writer import TflOperator

    operators = [TflOperator(Op.CONV_2D, [], [], version=3), TflOperator(Op.QUANTIZE, [], [], version=1),
                 TflOperator(Op.GELU, [], [], version=2)]
    assert min_runtime_version(operators) == "2.9.0"
    assert min_runtime_version(operators[:2]) == "1.14.0"
    assert min_runtime_version([TflOperator(Op.RESHAPE, [], [], version=1)]) == "1.5.0"
