"""Quantized graphs exported to TFLite: quantized tensors carry their parameters, q ops become the TFLite
operators of their float counterparts, and LiteRT's reference kernels give our interpreter's bytes."""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from qcompiler import interpreter
from qcompiler.ir import CONST, Graph
from qcompiler.ops.registry import get_op_def, lookup_op_def
from qcompiler.types import QuantParams, TensorType

from tflite_checks import assert_litert_exact, operator_codes, read_model

Op = schema.BuiltinOperator

#: Parameters of the operand and (for ops whose output parameters are free) of the result, by storage.
OPERAND = {"i8": QuantParams.per_tensor("i8", 0.05, -3), "i16": QuantParams.per_tensor("i16", 0.0005, 0)}
RESULT = {"i8": QuantParams.per_tensor("i8", 0.04, 5), "i16": QuantParams.per_tensor("i16", 0.0004, 0)}

#: kind -> (attrs, whether the op fixes its own output parameters, storages, TFLite operator)
UNARY_CASES = {
    "q.logistic": ({}, True, ("i8", "i16"), Op.LOGISTIC),
    "q.tanh": ({}, True, ("i8", "i16"), Op.TANH),
    "q.softmax": ({"beta": 0.7}, True, ("i8", "i16"), Op.SOFTMAX),
    "q.hard_swish": ({}, False, ("i8",), Op.HARD_SWISH),
    "q.gelu": ({}, False, ("i8",), Op.GELU),
    "q.relu": ({}, False, ("i8", "i16"), Op.RELU),
    "q.relu6": ({}, False, ("i8", "i16"), Op.RELU6),
    "q.leaky_relu": ({"alpha": 0.1}, False, ("i8", "i16"), Op.LEAKY_RELU),
    "q.exp": ({}, False, ("i8",), Op.EXP),
}


def single_q_op(kind: str, attrs: dict, fixed_output: bool, storage: str, shape=(2, 16)) -> Graph:
    """A graph quantized input -> ``kind`` -> quantized output, integer attributes derived."""
    graph = Graph()
    x = graph.add_input("x", TensorType(shape, storage, OPERAND[storage]))
    result_types = None if fixed_output else [TensorType(shape, storage, RESULT[storage])]
    op = graph.create(kind, [x], dict(attrs), result_types)
    derive = getattr(get_op_def(kind), "derive_attrs", None)
    if derive is not None:
        op.attrs.update(derive(op))
    graph.set_outputs([op.result], ["y"])
    return graph


@pytest.mark.parametrize("kind, storage", [(k, s) for k, case in UNARY_CASES.items() for s in case[2]])
def test_single_q_op_is_bit_exact_in_litert(kind, storage):
    if lookup_op_def(kind) is None:
        pytest.skip(f"{kind} is not registered yet")
    attrs, fixed, _, code = UNARY_CASES[kind]
    graph = single_q_op(kind, attrs, fixed, storage)
    model = assert_litert_exact(graph)
    assert operator_codes(model) == [code]
    subgraph = read_model(model).subgraphs[0]
    source, out = subgraph.tensors[subgraph.inputs[0]], subgraph.tensors[subgraph.outputs[0]]
    expected_type = schema.TensorType.INT8 if storage == "i8" else schema.TensorType.INT16
    assert source.type == out.type == expected_type
    assert list(source.quantization.scale) == [np.float32(OPERAND[storage].scale)]
    assert list(source.quantization.zeroPoint) == [OPERAND[storage].zero_point]
    assert list(out.quantization.zeroPoint) == list(graph.outputs[0].type.quant.zero_points)


def test_quantized_data_movement_keeps_parameters():
    graph = Graph()
    params = OPERAND["i8"]
    x = graph.add_input("x", TensorType((1, 4, 4, 2), "i8", params))
    padded = graph.create("core.pad", [x], {"pads": [0, 1, 1, 0, 0, 1, 1, 0], "value": float(params.zero_point)}).result
    cut = graph.create("core.slice", [padded], {"begin": [0, 5, 0, 0], "end": [1, -100, 6, 2],
                                                "strides": [1, -2, 2, 1]}).result
    flat = graph.create("core.reshape", [cut], {"shape": [1, -1]}).result
    flipped = graph.create("core.transpose", [flat], {"perm": [1, 0]}).result
    graph.set_outputs([graph.create("core.pad", [flipped], {"pads": [0, 0, 1, 0], "value": 7.0}).result], ["y"])
    model = assert_litert_exact(graph)
    assert operator_codes(model) == [Op.PAD, Op.STRIDED_SLICE, Op.RESHAPE, Op.TRANSPOSE, Op.PADV2]
    tensors = read_model(model).subgraphs[0].tensors
    activations = [t for t in tensors if t.type == schema.TensorType.INT8]
    assert len(activations) == 7  # 6 activations and PADV2's constant
    assert all(list(t.quantization.zeroPoint) == [params.zero_point] for t in activations)


def q_graph(kind: str, input_shapes, attrs: dict, result_shape, storage: str = "i8",
            input_params=None, result_params=None) -> Graph:
    """A graph of one q op on quantized inputs x0, x1, ... (parameters given or the OPERAND ones), its
    result quantized with ``result_params`` (RESULT by default) and its integer attributes derived."""
    graph = Graph()
    params = input_params or [OPERAND[storage]] * len(input_shapes)
    inputs = [graph.add_input(f"x{i}", TensorType(tuple(shape), storage, p))
              for i, (shape, p) in enumerate(zip(input_shapes, params))]
    op = graph.create(kind, inputs, dict(attrs),
                      [TensorType(tuple(result_shape), storage, result_params or RESULT[storage])])
    derive = getattr(get_op_def(kind), "derive_attrs", None)
    if derive is not None:
        op.attrs.update(derive(op))
    graph.set_outputs([op.result], ["y"])
    return graph


OTHER = {"i8": QuantParams.per_tensor("i8", 0.03, 11), "i16": QuantParams.per_tensor("i16", 0.0003, 0)}

#: name -> (kind, input shapes, attrs, result shape, storages, input params (None: OPERAND), TFLite operator)
MULTI_CASES = {
    "add_broadcast_relu": ("q.add", [(2, 3, 4), (3, 1)], {"activation": "relu"}, (2, 3, 4), ("i8", "i16"),
                           "other", Op.ADD),
    "sub": ("q.sub", [(2, 5), (2, 5)], {}, (2, 5), ("i8", "i16"), "other", Op.SUB),
    "mul_broadcast": ("q.mul", [(1, 4, 4, 3), (3,)], {}, (1, 4, 4, 3), ("i8", "i16"), "other", Op.MUL),
    "squared_difference": ("q.squared_difference", [(3, 4), (3, 4)], {}, (3, 4), ("i8",), "other",
                           Op.SQUARED_DIFFERENCE),
    "concat_mixed_params": ("q.concat", [(2, 3), (2, 2)], {"axis": 1}, (2, 5), ("i8", "i16"), "other",
                            [Op.QUANTIZE, Op.QUANTIZE, Op.CONCATENATION]),
    "requantize": ("q.requantize", [(3, 7)], {}, (3, 7), ("i8", "i16"), None, Op.QUANTIZE),
    "avg_pool_same": ("q.avg_pool2d", [(1, 5, 5, 2)], {"kernel": [3, 3], "padding": [1, 1, 1, 1]},
                      (1, 5, 5, 2), ("i8", "i16"), None, Op.AVERAGE_POOL_2D),
    "mean": ("q.mean", [(1, 4, 4, 3)], {"axes": [1, 2], "keepdims": True}, (1, 1, 1, 3), ("i8", "i16"), None,
             Op.MEAN),
    "batch_matmul": ("q.batch_matmul", [(2, 3, 4), (2, 4, 5)], {}, (2, 3, 5), ("i8", "i16"), "other",
                     Op.BATCH_MATMUL),
}


@pytest.mark.parametrize("name, storage", [(n, s) for n, case in MULTI_CASES.items() for s in case[4]])
def test_q_op_with_its_own_parameters_is_bit_exact(name, storage):
    kind, shapes, attrs, result_shape, _, params, code = MULTI_CASES[name]
    if lookup_op_def(kind) is None:
        pytest.skip(f"{kind} is not registered yet")
    input_params = [OPERAND[storage], OTHER[storage]] if params == "other" else None
    graph = q_graph(kind, shapes, attrs, result_shape, storage, input_params)
    assert operator_codes(assert_litert_exact(graph)) == (code if isinstance(code, list) else [code])


@pytest.mark.parametrize("storage", ["i8", "i16"])
def test_fully_connected_rounds_like_litert_near_ties(storage):
    # s_in * s_w / s_out = (1 + 2^-23)(1 - 2^-23) / 2 = 0.5 - 2^-47: its 31-bit multiplier is exactly 2^30,
    # so an odd accumulator lands on a tie under fixed-point rescaling (rounded half up), while LiteRT's
    # reference FULLY_CONNECTED rescales in double and rounds 0.5 - tiny towards zero.
    info = np.iinfo(np.int8 if storage == "i8" else np.int16)
    values = np.arange(info.min, info.max + 1, dtype=info.dtype).reshape(-1, 1)
    graph = Graph()
    x = graph.add_input("x", TensorType(values.shape, storage, QuantParams.per_tensor(storage, 1 + 2.0**-23, 0)))
    weight = graph.create(CONST, [], {"value": np.ones((1, 1), np.int8)},
                          [TensorType((1, 1), "i8", QuantParams.per_tensor("i8", 1 - 2.0**-23, 0))]).result
    op = graph.create("q.fully_connected", [x, weight], {},
                      [TensorType(values.shape, storage, QuantParams.per_tensor(storage, 2.0, 0))])
    op.attrs.update(get_op_def("q.fully_connected").derive_attrs(op))
    graph.set_outputs([op.result], ["y"])
    assert op.attr("multiplier") == [2**30]
    assert_litert_exact(graph, {"x": values})
    got = interpreter.run(graph, {"x": values})["y"].astype(np.int64)
    np.testing.assert_array_equal(got, np.fix(values.astype(np.int64) / 2))  # 0.5 - tiny rounds towards zero


@pytest.mark.parametrize("padding", [[1, 1, 1, 1], [0, 0, 1, 1]])
def test_int8_max_pool_pads_with_the_lowest_value(padding):
    # Padded cells never win, even when every real value is negative (a pad of zeros or -inf would fail).
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 5, 5, 2), "i8", OPERAND["i8"]))
    pooled = graph.create("core.max_pool2d", [x], {"kernel": [3, 3], "strides": [2, 2], "padding": padding})
    graph.set_outputs([pooled.result], ["y"])
    values = np.random.default_rng(0).integers(-128, -100, (1, 5, 5, 2)).astype(np.int8)
    assert_litert_exact(graph, {"x": values})
    assert interpreter.run(graph, {"x": values})["y"].max() < -100
