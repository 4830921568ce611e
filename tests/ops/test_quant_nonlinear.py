"""Tests of the q dialect's nonlinear integer ops: bit-exact against LiteRT's reference kernels (BUILTIN_REF) on
hand-built single-op graphs over every int8 input value and random scales, plus the fixed-point helpers
against their real-number definitions, hand-computed Prepare values and the op's error messages."""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import pytest

from qcompiler import fixed_point as fp
from qcompiler import interpreter
from qcompiler.backends.tflite import export_tflite
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.errors import QCompilerError, VerificationError
from qcompiler.ir import Graph
from qcompiler.ops.quant_nonlinear import gelu_approximate_f32, gelu_f32
from qcompiler.quant_math import choose_quant_params, float32_scale
from qcompiler.text.parser import parse_graph
from qcompiler.text.printer import print_graph
from qcompiler.types import QuantParams, TensorType
from qcompiler.verifier import verify

SEEDS = range(6)


# -- graph building and the LiteRT oracle ------------------------------------------------------------------------


def single_op_graph(kind: str, input_types: list[TensorType], attrs: Optional[dict] = None,
                    result: Optional[TensorType] = None) -> Graph:
    """A verified graph running one q op on quantized inputs x0, x1, ... with output y."""
    graph = Graph()
    inputs = [graph.add_input(f"x{i}", t) for i, t in enumerate(input_types)]
    op = graph.create(kind, inputs, attrs or {}, None if result is None else [result], loc=f"test/{kind}")
    graph.set_outputs([op.result], ["y"])
    verify(graph)
    return graph


def assert_matches_litert(graph: Graph, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """Export the graph, run it in LiteRT's reference kernels and require bit-identical output; returns it."""
    ours = interpreter.run(graph, feeds)["y"]
    theirs = run_tflite(export_tflite(graph), feeds)["y"]
    assert theirs.dtype == ours.dtype
    bad = np.flatnonzero(theirs != ours)
    assert bad.size == 0, (f"{bad.size} of {ours.size} differ; first inputs "
                           f"{[f[bad[:5] % f.size] for f in feeds.values()]} litert {theirs.flat[bad[:5]]} "
                           f"ours {ours.flat[bad[:5]]}")
    return ours


def all_int8_values(rng: np.random.Generator, shape: tuple[int, ...] = (4, 64)) -> np.ndarray:
    """Every int8 value once, shuffled into ``shape`` (256 elements)."""
    return rng.permutation(np.arange(-128, 128)).astype(np.int8).reshape(shape)


def random_input_params(rng: np.random.Generator, storage: str = "i8") -> QuantParams:
    """A random per-tensor input quantization (int16: zero point 0)."""
    if storage == "i16":
        return QuantParams.per_tensor("i16", float32_scale(10 ** rng.uniform(-5, -2.5)), 0)
    scale = float32_scale(10 ** rng.uniform(-2.7, -0.7))
    return QuantParams.per_tensor("i8", scale, int(rng.integers(-100, 100)))


def output_params_for(function: Callable[[np.ndarray], np.ndarray], source: QuantParams,
                      rng: np.random.Generator, storage: str = "i8") -> QuantParams:
    """Output parameters covering ``function`` over the input's real range, widened or narrowed at random."""
    qmin, qmax = source.qmin, source.qmax
    reals = source.scale * (np.arange(qmin, qmax + 1, dtype=np.float64) - source.zero_point)
    values = function(reals)
    factor = rng.uniform(0.6, 1.6)
    low, high = float(values.min()) * factor, float(values.max()) * factor
    return choose_quant_params(low, high, storage, symmetric=storage == "i16")


REAL_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "q.hard_swish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "q.gelu": lambda x: gelu_f32(x.astype(np.float32)).astype(np.float64),
    "q.exp": lambda x: np.exp(np.minimum(x, 6.0)),
    "q.relu": lambda x: np.maximum(x, 0),
    "q.relu6": lambda x: np.clip(x, 0, 6),
    "q.relu_n1_to_1": lambda x: np.clip(x, -1, 1),
    "q.rsqrt": lambda x: 1 / np.sqrt(np.maximum(x, 0.05)),
}


# -- int8 against LiteRT ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["q.tanh", "q.logistic"])
def test_fixed_output_int8_tables_match_litert(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    source = random_input_params(rng)
    graph = single_op_graph(kind, [TensorType((4, 64), "i8", source)])
    assert_matches_litert(graph, {"x0": all_int8_values(rng)})


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind,attrs", [
    ("q.hard_swish", {}), ("q.gelu", {"approximate": False}), ("q.gelu", {"approximate": True}),
    ("q.exp", {}), ("q.relu", {}), ("q.relu6", {}), ("q.leaky_relu", {"alpha": 0.1}),
    ("q.leaky_relu", {"alpha": 0.37}),
])
def test_int8_unary_ops_match_litert(kind: str, attrs: dict, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    source = random_input_params(rng)
    if kind == "q.leaky_relu":
        alpha = attrs["alpha"]
        function: Callable = lambda x: np.where(x >= 0, x, alpha * x)  # noqa: E731
    elif kind == "q.gelu" and attrs["approximate"]:
        function = lambda x: gelu_approximate_f32(x.astype(np.float32)).astype(np.float64)  # noqa: E731
    else:
        function = REAL_FUNCTIONS[kind]
    result = output_params_for(function, source, rng)
    graph = single_op_graph(kind, [TensorType((4, 64), "i8", source)], attrs, TensorType((4, 64), "i8", result))
    assert_matches_litert(graph, {"x0": all_int8_values(rng)})


@pytest.mark.parametrize("seed", SEEDS)
def test_rsqrt_int8_matches_litert(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    source = QuantParams.per_tensor("i8", float32_scale(10 ** rng.uniform(-3, -1)), int(rng.integers(-128, -60)))
    result = output_params_for(REAL_FUNCTIONS["q.rsqrt"], source, rng)
    graph = single_op_graph("q.rsqrt", [TensorType((1, 256), "i8", source)], {}, TensorType((1, 256), "i8", result))
    values = rng.permutation(np.arange(-128, 128))
    values = np.maximum(values, source.zero_point).astype(np.int8).reshape(1, 256)  # TFLite rejects x < zp
    assert_matches_litert(graph, {"x0": values})


def softmax_feeds(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random int8 rows that contain every int8 value when there is room."""
    values = rng.integers(-128, 128, size=shape)
    count = min(256, values.size)
    values.flat[:count] = rng.permutation(np.arange(-128, 128))[:count]
    return values.astype(np.int8)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(4, 64), (2, 8, 16), (1, 200), (3, 2, 2, 7)])
def test_softmax_int8_matches_litert(shape: tuple[int, ...], seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    source = random_input_params(rng)
    beta = float(rng.choice([1.0, 0.5, 2.0, float(rng.uniform(0.2, 3.0))]))
    graph = single_op_graph("q.softmax", [TensorType(shape, "i8", source)], {"beta": beta})
    out = assert_matches_litert(graph, {"x0": softmax_feeds(rng, shape)})
    sums = (out.astype(np.int64) + 128).sum(axis=-1)
    assert np.all(np.abs(sums - 256) <= shape[-1])  # probabilities in 1/256 add up to about one


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_softmax_over_an_inner_axis_is_litert_on_moved_rows(seed: int) -> None:
    rng = np.random.default_rng(350 + seed)
    source = random_input_params(rng)
    shape = (3, 10, 5)
    inner = single_op_graph("q.softmax", [TensorType(shape, "i8", source)], {"axis": 1})
    last = single_op_graph("q.softmax", [TensorType((3, 5, 10), "i8", source)], {"axis": -1})
    values = softmax_feeds(rng, shape)
    moved = assert_matches_litert(last, {"x0": np.ascontiguousarray(np.moveaxis(values, 1, -1))})
    np.testing.assert_array_equal(interpreter.run(inner, {"x0": values})["y"], np.moveaxis(moved, -1, 1))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shapes", [((2, 8, 16), (2, 8, 16)), ((2, 8, 16), (2, 8, 1)), ((4, 64), (64,))])
def test_squared_difference_int8_matches_litert(shapes: tuple, seed: int) -> None:
    rng = np.random.default_rng(400 + seed)
    lhs, rhs = random_input_params(rng), random_input_params(rng)
    reach = max(abs(lhs.scale * (v - lhs.zero_point)) for v in (-128, 127)) + \
        max(abs(rhs.scale * (v - rhs.zero_point)) for v in (-128, 127))
    result = choose_quant_params(0.0, reach * reach * rng.uniform(0.05, 1.0))
    out_shape = np.broadcast_shapes(*shapes)
    graph = single_op_graph("q.squared_difference", [TensorType(s, "i8", p) for s, p in zip(shapes, (lhs, rhs))],
                            {}, TensorType(out_shape, "i8", result))
    feeds = {f"x{i}": rng.integers(-128, 128, size=s).astype(np.int8) for i, s in enumerate(shapes)}
    assert_matches_litert(graph, feeds)


# -- int16 against LiteRT ---------------------------------------------------------------------------------------


def int16_values(rng: np.random.Generator, shape: tuple[int, ...] = (8, 512)) -> np.ndarray:
    """Random int16 values over the whole range, with the extremes and zero included."""
    values = rng.integers(-32768, 32768, size=shape)
    values.flat[:5] = [-32768, -1, 0, 1, 32767]
    return values.astype(np.int16)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["q.tanh", "q.logistic"])
@pytest.mark.parametrize("power_of_two", [False, True])
def test_int16_sigmoid_family_matches_litert(kind: str, power_of_two: bool, seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    if power_of_two:
        # shifts 12 + log2(scale) of 0 (both ops) and 1 (tanh's second power-of-two case; logistic rescales)
        source = QuantParams.per_tensor("i16", 2.0 ** -(12 - seed % 2), 0)
    else:
        source = random_input_params(rng, "i16")
    graph = single_op_graph(kind, [TensorType((8, 512), "i16", source)])
    assert_matches_litert(graph, {"x0": int16_values(rng)})


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_int16_matches_litert(seed: int) -> None:
    rng = np.random.default_rng(600 + seed)
    source = random_input_params(rng, "i16")
    beta = float(rng.choice([1.0, float(rng.uniform(0.3, 2.0))]))
    graph = single_op_graph("q.softmax", [TensorType((8, 512), "i16", source)], {"beta": beta})
    assert_matches_litert(graph, {"x0": int16_values(rng)})


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind,attrs", [("q.relu", {}), ("q.relu6", {}), ("q.leaky_relu", {"alpha": 0.2}),
                                        ("q.exp", {}), ("q.rsqrt", {})])
def test_int16_rescaling_activations_match_litert(kind: str, attrs: dict, seed: int) -> None:
    rng = np.random.default_rng(700 + seed)
    source = random_input_params(rng, "i16")
    if kind in ("q.exp", "q.rsqrt"):
        result = output_params_for(REAL_FUNCTIONS[kind], source, rng, "i16")
    else:
        result = QuantParams.per_tensor("i16", float32_scale(source.scale * rng.uniform(0.3, 3.0)), 0)
    graph = single_op_graph(kind, [TensorType((8, 512), "i16", source)], attrs, TensorType((8, 512), "i16", result))
    values = int16_values(rng)
    if kind == "q.rsqrt":
        values = np.abs(values.astype(np.int64)).clip(0, 32767).astype(np.int16)  # TFLite rejects x < 0
    assert_matches_litert(graph, {"x0": values})


# -- Prepare values and op rules --------------------------------------------------------------------------------


def test_softmax_int8_derived_attrs_are_tflites() -> None:
    # beta * scale * 2^26 = 0.05 * 2^26 = 0.8 * 2^22: multiplier round(0.8 * 2^31), shift 22,
    # diff_min = -floor((2^5 - 1) * 2^26 / 2^22) = -496
    source = QuantParams.per_tensor("i8", float32_scale(0.05), 0)
    graph = single_op_graph("q.softmax", [TensorType((1, 8), "i8", source)])
    op = graph.ops[0]
    scale64 = float(np.float32(0.05))
    significand, shift = math.frexp(scale64 * 2**26)
    assert op.definition.derive_attrs(op) == {
        "input_multiplier": int(round(significand * 2**31)), "input_left_shift": shift, "diff_min": -496}
    assert shift == 22


def test_fixed_output_types_are_inferred() -> None:
    source = QuantParams.per_tensor("i8", 0.1, 5)
    for kind, expected in (("q.softmax", (1 / 256, -128)), ("q.logistic", (1 / 256, -128)),
                           ("q.tanh", (1 / 128, 0))):
        graph = single_op_graph(kind, [TensorType((2, 3), "i8", source)])
        quant = graph.outputs[0].type.quant
        assert (quant.scale, quant.zero_point) == expected
    int16 = QuantParams.per_tensor("i16", 0.001, 0)
    graph = single_op_graph("q.tanh", [TensorType((2, 3), "i16", int16)])
    assert graph.outputs[0].type.quant == QuantParams.per_tensor("i16", 1 / 32768, 0)


def test_hard_swish_derived_attrs_are_16_bit() -> None:
    source = QuantParams.per_tensor("i8", 0.05, 3)
    result = QuantParams.per_tensor("i8", 0.03, -20)
    graph = single_op_graph("q.hard_swish", [TensorType((4,), "i8", source)], {}, TensorType((4,), "i8", result))
    attrs = graph.ops[0].definition.derive_attrs(graph.ops[0])
    # hires input scale 0.05/128 over 0.03 is 0.0130..: 2^-6 * 0.833.., over 3/32768 it is 4.266..: 2^3 * 0.533..
    assert attrs["output_shift"] == -6 and attrs["reluish_shift"] == 3
    assert attrs["output_multiplier"] == round(np.float32(np.float32(0.05 / 128) / np.float32(0.03)) * 2**6 * 2**15)
    assert 0 < attrs["reluish_multiplier"] <= 32767


def test_stored_attributes_are_used_and_checked() -> None:
    source = QuantParams.per_tensor("i8", 0.05, 3)
    result = QuantParams.per_tensor("i8", 0.05, 3)
    graph = single_op_graph("q.relu", [TensorType((256,), "i8", source)], {}, TensorType((256,), "i8", result))
    op = graph.ops[0]
    op.attrs.update(op.definition.derive_attrs(op))
    verify(graph)
    values = np.arange(-128, 128).astype(np.int8)
    np.testing.assert_array_equal(interpreter.run(graph, {"x0": values})["y"], np.maximum(values, 3))
    op.attrs["act_max"] = 100
    with pytest.raises(VerificationError, match="act_max"):
        verify(graph)


def test_textual_round_trip_keeps_table_and_outputs() -> None:
    rng = np.random.default_rng(7)
    source = random_input_params(rng)
    graph = single_op_graph("q.gelu", [TensorType((4, 64), "i8", source)], {"approximate": False},
                            TensorType((4, 64), "i8", output_params_for(REAL_FUNCTIONS["q.gelu"], source, rng)))
    op = graph.ops[0]
    op.attrs.update(op.definition.derive_attrs(op))
    text = print_graph(graph)
    again = parse_graph(text)
    verify(again)
    assert print_graph(again) == text
    feeds = {"x0": all_int8_values(rng)}
    np.testing.assert_array_equal(interpreter.run(again, feeds)["y"], interpreter.run(graph, feeds)["y"])


@pytest.mark.parametrize("case,message", [
    ("float operand", "must be quantized"),
    ("int16 zero point", "zero point 0"),
    ("wrong fixed output", "result must be quantized"),
    ("missing result type", "explicitly"),
    ("u8 softmax", "supports i8, i16"),
])
def test_bad_ops_fail_verification_with_location(case: str, message: str) -> None:
    graph = Graph()
    int8 = QuantParams.per_tensor("i8", 0.1, 0)
    if case == "float operand":
        x = graph.add_input("x", TensorType((4,), "f32"))
        op = graph.create("q.tanh", [x], {}, [TensorType((4,), "i8", QuantParams.per_tensor("i8", 1 / 128, 0))],
                          loc="node7")
    elif case == "int16 zero point":
        x = graph.add_input("x", TensorType((4,), "i16", QuantParams.per_tensor("i16", 0.001, 3)))
        op = graph.create("q.logistic", [x], {}, [TensorType((4,), "i16", QuantParams.per_tensor("i16", 1 / 32768))],
                          loc="node7")
    elif case == "wrong fixed output":
        x = graph.add_input("x", TensorType((4,), "i8", int8))
        op = graph.create("q.logistic", [x], {}, [TensorType((4,), "i8", QuantParams.per_tensor("i8", 0.01, 0))],
                          loc="node7")
    elif case == "missing result type":
        x = graph.add_input("x", TensorType((4,), "i8", int8))
        with pytest.raises(VerificationError, match=message) as raised:
            graph.create("q.gelu", [x], {}, loc="node7")
        assert raised.value.location == "node7"
        return
    else:
        x = graph.add_input("x", TensorType((4,), "u8", QuantParams.per_tensor("u8", 0.1, 0)))
        op = graph.create("q.softmax", [x], {}, [TensorType((4,), "u8", QuantParams.per_tensor("u8", 1 / 256))],
                          loc="node7")
    graph.set_outputs([op.result], ["y"])
    with pytest.raises(VerificationError, match=message) as raised:
        verify(graph)
    assert raised.value.location == "node7"
    assert "\n" not in str(raised.value)


def test_softmax_row_beyond_tflites_int8_kernel_is_a_clear_error() -> None:
    # 1000 equal values: the sum of exponentials is 1000 > 256, where LiteRT's reference kernel aborts
    source = QuantParams.per_tensor("i8", 0.01, 0)
    graph = single_op_graph("q.softmax", [TensorType((1, 1000), "i8", source)])
    with pytest.raises(QCompilerError, match="more than 256") as raised:
        interpreter.run(graph, {"x0": np.full((1, 1000), 5, dtype=np.int8)})
    assert raised.value.location == "test/q.softmax"
    rows = np.full((1, 256), 5, dtype=np.int8)  # exactly 256: the largest sum the kernel takes
    graph = single_op_graph("q.softmax", [TensorType((1, 256), "i8", source)])
    np.testing.assert_array_equal(assert_matches_litert(graph, {"x0": rows}), np.full((1, 256), -127))


def test_rsqrt_below_zero_point_is_a_clear_error() -> None:
    source = QuantParams.per_tensor("i8", 0.05, 0)
    graph = single_op_graph("q.rsqrt", [TensorType((2,), "i8", source)], {}, TensorType((2,), "i8", source))
    with pytest.raises(QCompilerError, match="zero point") as raised:
        interpreter.run(graph, {"x0": np.array([4, -1], dtype=np.int8)})
    assert raised.value.location == "test/q.rsqrt"


def test_hard_swish_output_scale_too_small_is_rejected() -> None:
    source = QuantParams.per_tensor("i8", 1.0, 0)
    result = QuantParams.per_tensor("i8", 1e-5, 0)
    graph = Graph()
    x = graph.add_input("x", TensorType((2,), "i8", source))
    op = graph.create("q.hard_swish", [x], {}, [TensorType((2,), "i8", result)], loc="hs")
    graph.set_outputs([op.result], ["y"])
    with pytest.raises(VerificationError, match="too small"):
        verify(graph)


# -- fixed-point helpers against their real-number definitions --------------------------------------------------


def test_exp_on_negative_values_follows_exp() -> None:
    raw = np.concatenate([-np.arange(0, 2**31 - 1, 2**31 // 4099, dtype=np.int64), [-(2**31 - 1)]])
    for integer_bits in (0, 5, 8):
        got = fp.exp_on_negative_values(raw, integer_bits) / 2**31
        want = np.exp(raw / 2.0 ** (31 - integer_bits))
        assert np.max(np.abs(got - want)) < 1e-6  # gemmlowp's polynomial is good to about 2^-22
    assert fp.exp_on_negative_values(np.array([0]), 5)[0] == 2**31 - 1


def test_one_over_one_plus_x_and_reciprocal() -> None:
    raw = np.arange(0, 2**31 - 1, 2**31 // 1000, dtype=np.int64)
    got = fp.one_over_one_plus_x_for_x_in_0_1(raw) / 2**31
    np.testing.assert_allclose(got, 1 / (1 + raw / 2**31), atol=3e-9)
    values = np.array([1 << 19, 3 << 19, 12345678, 2**31 - 1], dtype=np.int64)
    scale, bits_over_unit = fp.get_reciprocal(values, 12)
    np.testing.assert_allclose(scale / 2**31 * 2.0 ** -bits_over_unit, 2.0**19 / values, rtol=1e-8)


def test_inverse_square_root_multipliers() -> None:
    assert fp.inv_sqrt_quantized_multiplier(0) == (2**31 - 1, 0)
    assert fp.inv_sqrt_quantized_multiplier(1) == (2**31 - 1, 0)
    for value in (2, 3, 17, 255, 1000, 2**20 + 7, 2**30 + 5):
        multiplier, shift = fp.inv_sqrt_quantized_multiplier(value)
        assert multiplier * 2.0 ** (shift - 31) == pytest.approx(1 / math.sqrt(value), rel=2e-6)


def test_count_leading_zeros() -> None:
    values = np.array([0, 1, 2, 3, 255, 256, 2**31 - 1, 2**31, 2**32 - 1], dtype=np.int64)
    np.testing.assert_array_equal(fp.count_leading_zeros_u32(values), [32, 31, 30, 30, 24, 23, 1, 0, 0])


def test_int16_lookup_interpolates_between_entries() -> None:
    table = np.arange(513, dtype=np.int64) * 64 - 16384  # a line: entry i = 64 i - 16384
    x = np.array([-32768, -32705, -1, 0, 1, 127, 128, 32767], dtype=np.int64)
    # index 256 + (x >> 7) and a 7-bit fraction: the line 64 * (256 + x / 128) - 16384 = x / 2, rounded
    np.testing.assert_array_equal(fp.lut_lookup_int16(x, table), np.floor(x / 2 + 0.5).astype(np.int64))


def test_int8_table_of_identity_is_requantization() -> None:
    table = fp.lut_populate_8bit(0.5, 10, 0.25, -3, lambda v: v)
    values = np.arange(-128, 128)
    want = np.clip(np.floor((values - 10) * 2 + 0.5) - 3, -128, 127)
    np.testing.assert_array_equal(fp.lut_lookup_8bit(values, table), want)


def test_int16_sigmoid_kernels_follow_the_functions() -> None:
    x = np.arange(-32768, 32768, 97, dtype=np.int64)
    multiplier, shift = 0, 0  # input scale 2^-12: reals in [-8, 8)
    logistic = fp.logistic_int16(x, multiplier, shift) / 32768
    np.testing.assert_allclose(logistic, 1 / (1 + np.exp(-x / 4096)), atol=4e-4)
    tanh = fp.tanh_int16(x, multiplier, shift) / 32768
    np.testing.assert_allclose(tanh, np.tanh(x / 4096), atol=8e-4)


# -- through the quantization pipeline ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["int8", "int16x8"])
def test_quantized_activations_from_the_pipeline_match_litert(mode: str) -> None:
    from qcompiler.quantize import quantize

    graph = Graph()
    x = graph.add_input("x", TensorType((1, 4, 32), "f32"))
    kinds = [("core.softmax", {}), ("core.sigmoid", {}), ("core.tanh", {}), ("core.leaky_relu", {"alpha": 0.2}),
             ("core.relu6", {})]
    if mode == "int8":
        kinds += [("core.hard_swish", {}), ("core.gelu", {}), ("core.gelu", {"approximate": True}),
                  ("core.exp", {})]
    outputs = [graph.create(kind, [x], attrs).result for kind, attrs in kinds]
    graph.set_outputs(outputs, [f"y{i}" for i in range(len(outputs))])
    rng = np.random.default_rng(11)
    calibration = [{"x": (rng.standard_normal((1, 4, 32)) * 2).astype(np.float32)} for _ in range(4)]
    quantized = quantize(graph, mode, calibration)
    lowered = {op.kind for op in quantized if op.kind.startswith("q.")} - {"q.quantize", "q.dequantize"}
    assert len(lowered) == len({k for k, _ in kinds})
    feeds = {"x": (rng.standard_normal((1, 4, 32)) * 2).astype(np.float32)}
    ours = interpreter.run(quantized, feeds)
    theirs = run_tflite(export_tflite(quantized), feeds)
    for name, want in ours.items():
        np.testing.assert_array_equal(theirs[name], want, err_msg=name)


def test_relu_n1_to_1_with_equal_scales_is_a_clamp() -> None:
    # The backend has no RELU_N1_TO_1 lowering for q ops yet; with equal parameters the requantization is
    # exact and the op is a clamp to the quantized -1 and 1.
    params = QuantParams.per_tensor("i8", float32_scale(1 / 40), 7)
    graph = single_op_graph("q.relu_n1_to_1", [TensorType((256,), "i8", params)], {}, TensorType((256,), "i8", params))
    values = np.arange(-128, 128).astype(np.int8)
    np.testing.assert_array_equal(interpreter.run(graph, {"x0": values})["y"], np.clip(values, 7 - 40, 7 + 40))
