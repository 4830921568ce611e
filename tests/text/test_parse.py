"""Parsing hand-written IR (comments, shorthand forms) and the errors bad text gets: a ParseError at
``file:line:column`` saying what was expected and what was found."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.errors import ParseError, QCompilerError
from qcompiler.ir import Graph
from qcompiler.text import load_graph, parse_graph, print_graph, save_graph
from qcompiler.types import TensorType

HAND_WRITTEN = """\
// RUN: qcompiler-opt %s -p fold-constants | FileCheck %s
func @main(%x: tensor<2xf32>) -> tensor<2xf32> {   // the DESIGN.md shorthand: one unlabeled result
  // CHECK: onnx.Add
  %c = const dense<1.5> : tensor<2xf32>             // a splat
  %y = onnx.Add(%x, %c) : tensor<2xf32>
  return %y
}
"""


def test_hand_written_text_with_comments_and_shorthands():
    graph = parse_graph(HAND_WRITTEN)
    assert graph.output_names == ["y"]
    add = graph.ops[1]
    assert add.kind == "onnx.Add" and add.operands == (graph.inputs[0], graph.ops[0].result)
    np.testing.assert_array_equal(graph.ops[0].attrs["value"], np.array([1.5, 1.5], np.float32))
    assert add.attrs == {} and add.loc is None


def test_blanks_are_free_and_keys_may_be_quoted():
    text = ('func @m ( %a : tensor<f32> ) -> ( "r" : tensor<f32> ) {\n'
            '  %b = t.op ( %a ) { "k" = [ 1 , 2 ] , j = "s" } : tensor<f32>   loc ( "n" )\n  return %b }')
    graph = parse_graph(text)
    assert graph.ops[0].attrs == {"k": [1, 2], "j": "s"} and graph.ops[0].loc == "n"
    assert graph.output_names == ["r"]


def test_hex_dense_literal_and_resource_with_trailing_comma():
    text = """func @main() -> (a: tensor<2xi16>, b: tensor<3xi8>) {
  %a = const dense<"0x0100FFFF"> : tensor<2xi16>
  %b = const dense_resource<"b key"> : tensor<3xi8>
  return %a, %b
}
{-#
  dialect_resources: {
    builtin: {
      "b key": "0x01000000FF0102",
    },
  },
#-}
"""
    graph = parse_graph(text)
    assert graph.outputs[0].const_value.tolist() == [1, -1]
    array = graph.outputs[1].const_value
    assert array.tolist() == [-1, 1, 2] and array.dtype == np.int8
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, memoryview) and isinstance(base.obj, bytearray)  # views the decoded bytes


def parse_error(text: str, filename: str = "<string>") -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_graph(text, filename)
    assert isinstance(info.value, QCompilerError)
    return info.value


GOOD = """func @main(%x: tensor<2xf32>) -> (y: tensor<2xf32>) {
  %y = onnx.Relu(%x) : tensor<2xf32>
  return %y
}
"""


@pytest.mark.parametrize("old, new, location, message", [
    ("onnx.Relu(%x)", "onnx.Relu(%z)", "2:18", "use of undefined value %z"),
    ("%y = onnx.Relu", "%x = onnx.Relu", "2:3", "value %x is defined twice"),
    ("tensor<2xf32>) {", "tensor<2xf33>) {", "1:47", "expected a dimension or an element type"),
    (": tensor<2xf32>\n", ": tensor<2xf32\n", "2:36", "expected '>' closing the tensor type, found 'return'"),
    ("onnx.Relu(%x)", "onnx.Relu(%x) {a = }", "2:27", "expected an attribute value, found '}'"),
    ("onnx.Relu(%x)", "onnx.Relu(%x) {a = 1 b = 2}", "2:29", "expected ',' or '}' after attribute 'a', found 'b'"),
    ("onnx.Relu(%x)", "onnx.Relu(%x) {a = 1, a = 2}", "2:30", "attribute 'a' is given twice"),
    ("onnx.Relu(%x)", "onnx.Relu(%x %x)", "2:21", "expected ',' or ')' after an operand, found '%x'"),
    ("  return %y\n", "", "3:1", "expected an op or 'return', found '}'"),
    ("return %y", "return %y, %x", "3:3", "return gives 2 value(s) but the signature declares 1"),
    ("(y: tensor<2xf32>)", "(y: tensor<3xf32>)", "3:3", "output 0 has type tensor<2xf32>"),
    ("}\n", "}\ngarbage\n", "5:1", "expected end of file, found 'garbage'"),
    ("func @main", "fun @main", "1:1", "expected 'func', found 'fun'"),
    (": tensor<2xf32>\n", ": tensor<2xf32>, tensor<2xf32>\n", "2:8", "1 result name(s) but 2 result type(s)"),
    (": tensor<2xf32>\n", ': tensor<2xf32> loc("a\\q")\n', "2:42", "unknown escape in string"),
    ("onnx.Relu(%x)", "onnx.Relu(%x) {a = dense<[1, 2, 3]> : tensor<2xi8>}", "2:27",
     "dense literal has 3 elements but tensor<2xi8> has 2"),
    ("onnx.Relu(%x)", "onnx.Relu(%x) {a = dense<[1, 300]> : tensor<2xi8>}", "2:27", "bad dense literal for tensor<2xi8>"),
    ("onnx.Relu(%x)", "onnx.Relu(%x) {a = dense<[1.5, 3]> : tensor<2xi8>}", "2:27", "i8 tensors take integers"),
    ("onnx.Relu(%x)", "onnx.Relu(%x) {a = dense<[1, 0]> : tensor<2xbool>}", "2:27", "bool tensors take true or false"),
    ("onnx.Relu(%x)", "onnx.Relu(%x) {a = dense<[1]> : tensor<?xi8>}", "2:27", "needs a static type"),
    ("tensor<2xf32>) {", "tensor<2x!quant.uniform<i8:f32, 0.5:1, 2>>) {", "1:75",
     "expected '>' closing the quantized type, found ','"),
    ("tensor<2xf32>) {", "tensor<2x!quant.uniform<i7:f32, 0.5:1>>) {", "1:47", "quantized storage type must be one of"),
])
def test_errors_point_at_the_problem(old, new, location, message):
    assert old in GOOD
    error = parse_error(GOOD.replace(old, new, 1), "model.qir")
    assert error.location == f"model.qir:{location}", str(error)
    assert message in error.message, str(error)
    assert str(error).startswith(f"model.qir:{location}: ")


def test_elided_constants_do_not_parse():
    graph = Graph()
    graph.set_outputs([graph.const(np.zeros(64, np.float32), "w")], ["w"])
    error = parse_error(print_graph(graph, elide_constants=True))
    assert error.location == "<string>:2:14"
    assert "elided" in error.message


@pytest.mark.parametrize("section, location, message", [
    ("", "2:14", "no resource named 'w'"),
    ('{-#\n  dialect_resources: {\n    builtin: {\n      w: "0x0400000000"\n    }\n  }\n#-}\n', "2:14",
     "resource 'w' holds 1 bytes but tensor<2xf32> needs 8"),
    ('{-#\n  dialect_resources: {\n    mine: {\n      w: "0x04000000"\n    }\n  }\n#-}\n', "7:5",
     "only builtin resources are supported"),
    ('{-#\n  dialect_resources: {\n    builtin: {\n      w: "0x040"\n    }\n  }\n#-}\n', "8:10",
     "a resource blob needs 4 alignment bytes"),
    ('{-#\n  dialect_resources: {\n    builtin: {\n      w: 12\n    }\n  }\n#-}\n', "8:10",
     "expected a hex blob"),
    ('{-#\n  dialect_resources: {\n    builtin: {\n      w: "0x04000000",\n      w: "0x04000000"\n    }\n  }\n#-}\n',
     "9:7", "resource 'w' is given twice"),
    ('{-#\n  external_resources: {}\n#-}\n', "6:3", "expected 'dialect_resources' in the resource section, found 'external_resources'"),
])
def test_resource_errors(section, location, message):
    text = "func @main() -> (w: tensor<2xf32>) {\n  %w = const dense_resource<w> : tensor<2xf32>\n  return %w\n}\n"
    error = parse_error(text + section)
    assert message in error.message, str(error)
    assert error.location == f"<string>:{location}", str(error)


def test_load_and_save(tmp_path):
    graph = parse_graph(GOOD)
    graph.ops[0].attrs["table"] = np.arange(40, dtype=np.int32)
    path = tmp_path / "m.qir"
    save_graph(graph, path)
    assert path.read_text() == print_graph(graph)
    assert [p.name for p in tmp_path.iterdir()] == ["m.qir"]  # no temp file left behind
    loaded = load_graph(path)
    assert print_graph(loaded) == print_graph(graph)
    path.write_text(GOOD.replace("%x)", "%q)"))
    with pytest.raises(ParseError, match=rf"^{str(path)}:2:18: use of undefined value %q$".replace(".", r"\.")):
        load_graph(path)
    with pytest.raises(QCompilerError, match="cannot read"):
        load_graph(tmp_path / "missing.qir")
    with pytest.raises(QCompilerError, match="does not exist"):
        save_graph(graph, tmp_path / "no" / "dir.qir")


def test_parser_ignores_the_registry_for_result_types():
    text = "func @main(%x: tensor<2xf32>) -> (y: tensor<7xi8>) {\n  %y = onnx.Relu(%x) : tensor<7xi8>\n  return %y\n}\n"
    graph = parse_graph(text)
    assert graph.outputs[0].type == TensorType((7,), "i8")
