"""Round trips of hand-built graphs through print_graph and parse_graph: every attribute kind, type form,
name form and constant dtype comes back equal, and prints to the same text."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from qcompiler.ir import Graph, Op
from qcompiler.text import parse_graph, print_graph
from qcompiler.types import QuantParams, TensorType

F32 = TensorType((2, 3), "f32")


def graph_with_attrs(attrs: dict) -> Graph:
    """One op carrying ``attrs`` on a graph input."""
    graph = Graph()
    x = graph.add_input("x", F32)
    op = graph.create("test.op", [x], attrs, [F32], loc="node")
    graph.set_outputs([op.result], ["y"])
    return graph


ATTRIBUTES = {
    "int": 3,
    "negative": -7,
    "huge": 2**70,
    "zero_float": 0.0,
    "negative_zero": -0.0,
    "float": 1.0,
    "small": 1e-05,
    "third": 1 / 3,
    "tiny": 5e-324,
    "big": 1.7976931348623157e308,
    "inf": float("inf"),
    "minus_inf": float("-inf"),
    "nan": float("nan"),
    "true": True,
    "false": False,
    "string": "NOTSET",
    "escapes": 'a "quoted" \\ back\nnew\ttab\x01\x7f end',
    "unicode": "héllo wörld ✓",
    "empty_string": "",
    "empty_list": [],
    "ints": [1, -2, 3],
    "floats": [0.5, -1.25, float("inf")],
    "strings": ["a", "b,c", "]"],
    "bools": [True, False],
    "nested": [[1, 2], [3]],
    "none": None,
    "dict": {"a": 1, "b c": [2.5]},
    "type": TensorType(("batch", 3), "f16"),
    "quant": QuantParams.per_axis("i8", [0.1, 0.2], [0, 1], 0),
    "array_f32": np.array([[1.5, 2.0], [-3.0, 0.1]], np.float32),
    "array_i64": np.array([1, 2, 3], np.int64),
    "array_scalar": np.array(7, np.int32),
    "array_large": np.arange(100, dtype=np.float32) / 7,
    "with space": 1,
    "onnx.dotted": 2,
    "9starts_with_digit": 3,
}


def test_every_attribute_kind(assert_round_trip):
    graph = graph_with_attrs(ATTRIBUTES)
    parsed = assert_round_trip(graph)
    attrs = parsed.ops[0].attrs
    assert type(attrs["int"]) is int and type(attrs["float"]) is float and type(attrs["true"]) is bool
    assert attrs["huge"] == 2**70
    assert attrs["escapes"] == ATTRIBUTES["escapes"]
    assert attrs["array_large"].dtype == np.float32


def test_attribute_spelling():
    text = print_graph(graph_with_attrs({"a": 1.0, "b": 1e-05, "c": float("nan"), "d": float("-inf"),
                                         "e": "x\"y", "f": [], "g": True, "h": 3}))
    assert '{a = 1.0, b = 1e-05, c = nan, d = -inf, e = "x\\"y", f = [], g = true, h = 3}' in text


def test_attrs_sorted_and_omitted_when_empty():
    graph = graph_with_attrs({"zeta": 1, "alpha": 2})
    graph.create("test.other", [graph.inputs[0]], {}, [F32])
    text = print_graph(graph)
    assert "{alpha = 2, zeta = 1}" in text
    assert "= test.other(%x) : tensor<2x3xf32>\n" in text


def test_graph_attributes(assert_round_trip):
    graph = graph_with_attrs({})
    graph.attrs = {"onnx.opset": 17, "producer": "pytorch", "weights": np.ones(40, np.float32)}
    assert_round_trip(graph)
    assert "attributes {onnx.opset = 17, producer" in print_graph(graph)
    graph.attrs = {}
    assert "attributes" not in print_graph(graph)


@pytest.mark.parametrize("type_text, type_", [
    ("tensor<1x8x16x16xf32>", TensorType((1, 8, 16, 16), "f32")),
    ("tensor<{batch}x3xf32>", TensorType(("batch", 3), "f32")),
    ('tensor<{"seq len"}x?xi64>', TensorType(("seq len", "?"), "i64")),
    ("tensor<f32>", TensorType((), "f32")),
    ("tensor<*xf32>", TensorType(None, "f32")),
    ("tensor<0x4xu8>", TensorType((0, 4), "u8")),
    ("tensor<1x4x!quant.uniform<i8:f32, 0.0235:-128>>",
     TensorType((1, 4), "i8", QuantParams.per_tensor("i8", 0.0235, -128))),
    ("tensor<3x!quant.uniform<i8:f32:0, {0.1:0, 0.2:0, 1e-07:0}>>",
     TensorType((3,), "i8", QuantParams.per_axis("i8", [0.1, 0.2, 1e-07], [0, 0, 0], 0))),
    ("tensor<2x!quant.uniform<i16:f16:1, {0.5:1, 0.25:-2}>>",
     TensorType((2,), "i16", QuantParams.per_axis("i16", [0.5, 0.25], [1, -2], 1, "f16"))),
    ("tensor<{N}x!quant.uniform<u8:f32, 0.00392156862745098:0>>",
     TensorType(("N",), "u8", QuantParams.per_tensor("u8", 1 / 255, 0))),
])
def test_types(type_text, type_, assert_round_trip):
    graph = Graph()
    x = graph.add_input("x", type_)
    op = graph.create("test.id", [x], {}, [type_])
    graph.set_outputs([op.result], ["y"])
    text = print_graph(graph)
    assert f"%x: {type_text})" in text
    parsed = assert_round_trip(graph)
    assert parsed.inputs[0].type == type_


@pytest.mark.parametrize("element", ["f64", "f32", "f16", "bf16", "i64", "i32", "i16", "i8",
                                     "u64", "u32", "u16", "u8", "bool", "string"])
def test_every_element_type(element, assert_round_trip):
    graph = Graph()
    x = graph.add_input("x", TensorType((2,), element))
    graph.set_outputs([x], ["x"])
    assert f"tensor<2x{element}>" in print_graph(graph)
    assert_round_trip(graph)


def scalar_float_values(dtype) -> np.ndarray:
    """Awkward floats of ``dtype``: extremes, subnormals, signed zeros, infinities, NaN, 1/3."""
    info = ml_dtypes.finfo(dtype) if dtype == ml_dtypes.bfloat16 else np.finfo(dtype)
    values = [0.0, -0.0, 1.0, -1.5, 1 / 3, 0.1, float(info.max), float(info.tiny), float(info.smallest_subnormal),
              float("inf"), float("-inf"), float("nan"), -float(info.max), 12345.678]
    return np.array(values, dtype=np.float64).astype(dtype)


CONSTANTS = {
    "f32": np.array([0.5, -1.25, 1e-8, 3.4028235e38], np.float32),
    "f32_awkward": scalar_float_values(np.float32),
    "f16_awkward": scalar_float_values(np.float16),
    "bf16_awkward": scalar_float_values(ml_dtypes.bfloat16),
    "f64_awkward": scalar_float_values(np.float64),
    "f16_matrix": np.array([[1, 2], [3, 4]], np.float16),
    "i8": np.array([-128, 0, 127], np.int8),
    "i64": np.array([[-(2**63), 2**63 - 1]], np.int64),
    "u64": np.array([2**64 - 1], np.uint64),
    "bool": np.array([[True, False, True]]),
    "scalar_f32": np.array(3.0, np.float32),
    "scalar_i64": np.array(-4, np.int64),
    "scalar_bool": np.array(True),
    "empty": np.zeros((0, 3), np.float32),
    "empty_inner": np.zeros((2, 0), np.int32),
    "rank3": np.arange(12, dtype=np.int16).reshape(2, 3, 2),
    "strings": np.array(["a", 'b"\n', ""], dtype=object),
    "large_f32": np.random.default_rng(0).standard_normal((8, 1, 3, 3)).astype(np.float32),
    "large_f16": np.random.default_rng(1).standard_normal(100).astype(np.float16),
    "large_bf16": np.random.default_rng(2).standard_normal(100).astype(ml_dtypes.bfloat16),
    "large_i8": np.random.default_rng(3).integers(-128, 128, (4, 5, 6)).astype(np.int8),
    "large_i64": np.arange(-50, 50, dtype=np.int64),
    "large_bool": np.random.default_rng(4).random(40) > 0.5,
    "large_f64": np.random.default_rng(5).standard_normal(17),
    "noncontiguous": np.arange(64, dtype=np.float32).reshape(8, 8).T,
}


def constants_graph(arrays: dict[str, np.ndarray]) -> Graph:
    """A graph returning one const per array."""
    graph = Graph()
    values = [graph.const(array, name) for name, array in arrays.items()]
    graph.set_outputs(values, list(arrays))
    return graph


def test_constants_of_every_dtype(assert_round_trip):
    graph = constants_graph(CONSTANTS)
    parsed = assert_round_trip(graph)
    for name, value in zip(CONSTANTS, parsed.outputs):
        array = value.const_value
        assert array.flags.writeable
        if array.dtype != object:
            assert array.tobytes() == CONSTANTS[name].tobytes() and array.shape == CONSTANTS[name].shape


def test_small_constants_inline_and_large_as_resources():
    text = print_graph(constants_graph(CONSTANTS))
    assert "%f32 = const dense<[0.5, -1.25, 1e-08, 3.4028235e+38]> : tensor<4xf32>" in text
    assert "%f16_matrix = const dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf16>" in text
    assert "%bool = const dense<[[true, false, true]]> : tensor<1x3xbool>" in text
    assert "%scalar_f32 = const dense<3.0> : tensor<f32>" in text
    assert "%empty = const dense<[]> : tensor<0x3xf32>" in text
    assert "%empty_inner = const dense<[[], []]> : tensor<2x0xi32>" in text
    assert "%large_f32 = const dense_resource<large_f32> : tensor<8x1x3x3xf32>" in text
    assert text.index("{-#\n  dialect_resources: {\n    builtin: {\n") > text.index("\n}\n")
    blob = np.arange(17, dtype=np.int64)
    line = [line for line in print_graph(constants_graph({"r": blob})).splitlines() if line.strip().startswith("r:")]
    assert line == [f'      r: "0x08000000{blob.tobytes().hex().upper()}"']


def test_large_constant_threshold(assert_round_trip):
    graph = constants_graph({"w": np.arange(4, dtype=np.float32)})
    assert "dense<[0.0, 1.0, 2.0, 3.0]>" in print_graph(graph, large_constant_elements=4)
    assert "dense_resource<w>" in print_graph(graph, large_constant_elements=3)
    assert_round_trip(graph, large_constant_elements=0)


def test_nan_payloads_print_as_hex(assert_round_trip):
    bits = np.array([0x7FC00001, 0xFFC00000, 0x3F800000], np.uint32)
    graph = constants_graph({"n": bits.view(np.float32)})
    assert 'dense<"0x0100C07F0000C0FF0000803F">' in print_graph(graph)
    parsed = assert_round_trip(graph)
    assert parsed.outputs[0].const_value.view(np.uint32).tolist() == bits.tolist()


def test_shared_array_is_one_resource(assert_round_trip):
    graph = Graph()
    shared = np.arange(32, dtype=np.float32)
    a, b = graph.const(shared, "a"), graph.const(shared, "b")
    graph.set_outputs([a, b], ["a", "b"])
    text = print_graph(graph)
    assert text.count("dense_resource<a>") == 2 and '"0x04000000' in text and text.count(': "0x') == 1
    parsed = assert_round_trip(graph)
    assert parsed.outputs[0].const_value is parsed.outputs[1].const_value


def test_resource_keys_are_sanitized_and_unique(assert_round_trip):
    graph = Graph()
    first = graph.const(np.zeros(20, np.float32), "w/0:x")
    second = graph.const(np.ones(20, np.float32), "w_0_x")
    graph.set_outputs([first, second], ["a", "b"])
    text = print_graph(graph)
    assert 'dense_resource<w_0_x> : tensor<20xf32>' in text and 'dense_resource<w_0_x_1>' in text
    assert_round_trip(graph)


def test_quantized_constants(assert_round_trip):
    graph = Graph()
    per_axis = QuantParams.per_axis("i8", [0.02, 0.015625, 3e-3], [0, 0, 0], 0)
    weights = np.random.default_rng(0).integers(-127, 128, (3, 2, 3, 3)).astype(np.int8)
    w = graph.create("const", [], {"value": weights}, [TensorType((3, 2, 3, 3), "i8", per_axis)], result_names=["w"])
    b = graph.const(np.array([1, -2, 3], np.int32), "b")
    per_tensor = QuantParams.per_tensor("u8", 0.5, 128)
    s = graph.create("const", [], {"value": np.array(200, np.uint8)}, [TensorType((), "u8", per_tensor)],
                     result_names=["s"])
    graph.set_outputs([w.result, b, s.result])
    text = print_graph(graph)
    assert "%w = const dense_resource<w> : tensor<3x2x3x3x!quant.uniform<i8:f32:0, {0.02:0, 0.015625:0, 0.003:0}>>" \
        in text
    assert "%s = const dense<200> : tensor<!quant.uniform<u8:f32, 0.5:128>>" in text
    assert_round_trip(graph)


def test_const_whose_value_does_not_match_its_type(assert_round_trip):
    graph = Graph()
    op = graph.create("const", [], {"value": np.arange(3, dtype=np.float32), "note": "x"},
                      [TensorType((3,), "f16")], result_names=["c"])
    graph.set_outputs([op.result])
    text = print_graph(graph)
    assert '%c = const() {note = "x", value = dense<[0.0, 1.0, 2.0]> : tensor<3xf32>} : tensor<3xf16>' in text
    assert_round_trip(graph)


def test_value_names_quoted_numbered_and_uniqued(same_graph):
    graph = Graph()
    x = graph.add_input("input:0", F32)
    a = graph.create("test.a", [x], {}, [F32], result_names=[None]).result
    b = graph.create("test.b", [a], {}, [F32], result_names=["0"]).result      # clashes with numbering
    c = graph.create("test.c", [b], {}, [F32], result_names=["dup"]).result
    d = graph.create("test.d", [c], {}, [F32], result_names=["dup"]).result    # duplicate
    e = graph.create("test.e", [d], {}, [F32], result_names=["dup_1"]).result  # clashes with the suffix
    f = graph.create("test.f", [e], {}, [F32], result_names=[None]).result
    graph.set_outputs([f], ["out:0"])
    text = print_graph(graph)
    assert 'func @main(%"input:0": tensor<2x3xf32>) -> ("out:0": tensor<2x3xf32>) {' in text
    for line in ['%1 = test.a(%"input:0")', "%0 = test.b(%1)", "%dup = test.c(%0)", "%dup_2 = test.d(%dup)",
                 "%dup_1 = test.e(%dup_2)", "%2 = test.f(%dup_1)", "return %2"]:
        assert line in text
    parsed = parse_graph(text)
    names = dict(zip(map(id, graph.values()), ["input:0", "1", "0", "dup", "dup_2", "dup_1", "2"]))
    same_graph(graph, parsed, names)
    assert print_graph(parsed) == text


def test_multi_result_none_operand_zero_result_and_unknown_kinds(assert_round_trip):
    graph = Graph("my model")
    x = graph.add_input("x", TensorType((4, 6), "f32"))
    split = graph.create("onnx.Split", [x, None], {"axis": 1}, [TensorType((4, 3), "f32")] * 2,
                         loc="/split", result_names=["lo", "hi"])
    graph.create("my.sink", [split.results[1]], {"tag": "t"}, [], loc="sink")
    graph.create("my dialect/op", [], {}, [TensorType((1,), "i8")], result_names=["z"])
    graph.create("my.gen", [], {}, [TensorType(None, "f32")], result_names=["g"])
    graph.set_outputs([split.results[0], split.results[0]], ["first", "again"])
    text = print_graph(graph)
    assert 'func @"my model"(' in text
    assert '%lo, %hi = onnx.Split(%x, none) {axis = 1} : tensor<4x3xf32>, tensor<4x3xf32> loc("/split")' in text
    assert '  my.sink(%hi) {tag = "t"} loc("sink")\n' in text
    assert '%z = "my dialect/op"() : tensor<1xi8>' in text
    assert "return %lo, %lo" in text
    assert_round_trip(graph)


def test_graph_without_inputs_or_outputs(assert_round_trip):
    graph = Graph()
    graph.create("my.effect", [], {}, [])
    assert print_graph(graph) == "func @main() -> () {\n  my.effect()\n  return\n}\n"
    assert_round_trip(graph)


def test_elided_constants_print_without_section():
    graph = constants_graph({"big": np.zeros(100, np.float32), "small": np.ones(2, np.float32)})
    graph.attrs = {"table": np.zeros(50, np.int8)}
    text = print_graph(graph, elide_constants=True)
    assert "%big = const dense_resource<__elided__> : tensor<100xf32>" in text
    assert "%small = const dense<[1.0, 1.0]> : tensor<2xf32>" in text
    assert "table = dense_resource<__elided__> : tensor<50xi8>" in text
    assert "{-#" not in text and "dialect_resources" not in text


def test_parsed_graph_runs_like_the_original():
    from qcompiler.interpreter import run

    graph = Graph()
    x = graph.add_input("x", TensorType((2, 3), "f32"))
    w = graph.const(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32), "w")
    b = graph.const(np.array([0.5, -1, 2, 0], np.float32), "b")
    mm = graph.create("onnx.MatMul", [x, w], {}, [TensorType((2, 4), "f32")])
    add = graph.create("onnx.Add", [mm.result, b], {}, [TensorType((2, 4), "f32")])
    graph.set_outputs([add.result], ["y"])
    feed = {"x": np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)}
    expected = run(graph, feed)["y"]
    got = run(parse_graph(print_graph(graph)), feed)["y"]
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(got, feed["x"] @ w.const_value + b.const_value, rtol=1e-6)


def test_printed_op_line_format():
    graph = Graph()
    x = graph.add_input("input", TensorType((1, 1, 16, 16), "f32"))
    op = Op("onnx.Conv", [x, None], [TensorType((1, 8, 16, 16), "f32")],
            {"strides": [1, 1], "pads": [1, 1, 1, 1]}, "/c1/Conv", ["0"])
    graph.insert(op)
    graph.set_outputs([op.result], ["output"])
    assert print_graph(graph).splitlines()[1] == (
        '  %0 = onnx.Conv(%input, none) {pads = [1, 1, 1, 1], strides = [1, 1]} : tensor<1x8x16x16xf32> '
        'loc("/c1/Conv")')


def test_unicode_string_arrays_read_back_as_object_arrays():
    graph = constants_graph({"s": np.array(["ab", "c"])})
    text = print_graph(graph)
    assert '%s = const dense<["ab", "c"]> : tensor<2xstring>' in text
    parsed = parse_graph(text)
    assert parsed.outputs[0].const_value.dtype == object
    assert parsed.outputs[0].const_value.tolist() == ["ab", "c"]
    assert print_graph(parsed) == text


def test_unprintable_attribute_is_a_clear_error():
    from qcompiler.errors import QCompilerError

    graph = graph_with_attrs({"callback": print})
    with pytest.raises(QCompilerError) as info:
        print_graph(graph)
    assert str(info.value) == ("node: cannot print test.op: attribute 'callback': "
                               "cannot print an attribute value of type builtin_function_or_method")


def random_attr(rng: np.random.Generator, depth: int = 0):
    """A random attribute value: scalars of every kind, lists, dicts and arrays of random dtypes."""
    choice = rng.integers(0, 9 if depth < 2 else 6)
    if choice == 0:
        return int(rng.integers(-2**40, 2**40))
    if choice == 1:
        return float(rng.choice([rng.standard_normal() * 10.0 ** rng.integers(-30, 30), 0.0, -0.0, np.inf]))
    if choice == 2:
        return bool(rng.integers(0, 2))
    if choice == 3:
        return "".join(chr(c) for c in rng.integers(1, 0x2FF, rng.integers(0, 8)))
    if choice == 4:
        dtype = rng.choice(["f32", "f16", "bf16", "f64", "i8", "u8", "i32", "i64", "bool"])
        shape = tuple(int(d) for d in rng.integers(0, 4, rng.integers(0, 4)))
        raw = rng.standard_normal(shape) * 100
        return np.asarray(raw).astype(TensorType((), dtype).dtype)
    if choice == 5:
        return None
    if choice in (6, 7):
        return [random_attr(rng, depth + 1) for _ in range(rng.integers(0, 4))]
    return {f"k{i}": random_attr(rng, depth + 1) for i in range(rng.integers(0, 3))}


@pytest.mark.parametrize("seed", range(20))
def test_random_attributes_round_trip(seed, assert_round_trip):
    rng = np.random.default_rng(seed)
    graph = graph_with_attrs({f"a{i}": random_attr(rng) for i in range(12)})
    assert_round_trip(graph, large_constant_elements=int(rng.integers(0, 20)))
