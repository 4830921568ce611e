"""Lowering rules of the elementwise ops: binary arithmetic with fused activations, activations and math
functions, clamps (a RELU variant when the bounds are one's), swish, cast."""

from __future__ import annotations

import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from qcompiler.ir import Op

from qcompiler.backends.tflite.lower import LoweringContext, lowering
from qcompiler.backends.tflite.lower_common import Op_, activation_code, options, result
from qcompiler.backends.tflite.writer import ELEMENT_CODES


FUSED_BINARY = {
    "add": (Op_.ADD, schema.AddOptionsT), "sub": (Op_.SUB, schema.SubOptionsT),
    "mul": (Op_.MUL, schema.MulOptionsT), "div": (Op_.DIV, schema.DivOptionsT),
}
PLAIN_BINARY = {
    "core.maximum": Op_.MAXIMUM, "core.minimum": Op_.MINIMUM, "core.pow": Op_.POW,
    "core.squared_difference": Op_.SQUARED_DIFFERENCE, "q.squared_difference": Op_.SQUARED_DIFFERENCE,
    "core.prelu": Op_.PRELU,
}
UNARY = {
    "core.relu": Op_.RELU, "core.relu6": Op_.RELU6, "core.relu_n1_to_1": Op_.RELU_N1_TO_1,
    "core.sigmoid": Op_.LOGISTIC, "core.tanh": Op_.TANH, "core.hard_swish": Op_.HARD_SWISH, "core.exp": Op_.EXP,
    "core.log": Op_.LOG, "core.sqrt": Op_.SQRT, "core.rsqrt": Op_.RSQRT, "core.abs": Op_.ABS, "core.neg": Op_.NEG,
    "core.square": Op_.SQUARE, "core.floor": Op_.FLOOR, "core.ceil": Op_.CEIL, "core.sin": Op_.SIN,
    "core.cos": Op_.COS,
    "q.logistic": Op_.LOGISTIC, "q.tanh": Op_.TANH, "q.hard_swish": Op_.HARD_SWISH, "q.rsqrt": Op_.RSQRT,
    "q.relu": Op_.RELU, "q.relu6": Op_.RELU6, "q.relu_n1_to_1": Op_.RELU_N1_TO_1, "q.exp": Op_.EXP,
}


@lowering(*(f"core.{n}" for n in FUSED_BINARY), "q.add", "q.sub", "q.mul")
def lower_fused_binary(op: Op, ctx: LoweringContext) -> None:
    """ADD/SUB/MUL/DIV with their fused activation (broadcasting as numpy). An int16 ADD/SUB asks for TFLite's
    general-scale kernel (pot_scale_int16 false, as the converter writes), the one the q ops implement."""
    code, table = FUSED_BINARY[op.kind.split(".", 1)[1]]
    fields = {"fusedActivationFunction": activation_code(op)}
    if hasattr(table(), "potScaleInt16"):
        fields["potScaleInt16"] = op.result.type.element != "i16"
    ctx.emit(code, [ctx.tensor(op.operand(0)), ctx.tensor(op.operand(1))], [result(ctx, op)],
             options(table, **fields))


@lowering(*PLAIN_BINARY)
def lower_plain_binary(op: Op, ctx: LoweringContext) -> None:
    """Binary operators without options: MAXIMUM, MINIMUM, POW, SQUARED_DIFFERENCE, PRELU."""
    ctx.emit(PLAIN_BINARY[op.kind], [ctx.tensor(op.operand(0)), ctx.tensor(op.operand(1))], [result(ctx, op)])


@lowering(*UNARY)
def lower_unary(op: Op, ctx: LoweringContext) -> None:
    """Unary operators without options (activations and math functions)."""
    ctx.emit(UNARY[op.kind], [ctx.tensor(op.operand(0))], [result(ctx, op)])


@lowering("core.gelu", "q.gelu")
def lower_gelu(op: Op, ctx: LoweringContext) -> None:
    """GELU, exact or tanh-approximated."""
    ctx.emit(Op_.GELU, [ctx.tensor(op.operand(0))], [result(ctx, op)],
             options(schema.GeluOptionsT, approximate=bool(op.attr("approximate", False))))


@lowering("core.leaky_relu", "q.leaky_relu")
def lower_leaky_relu(op: Op, ctx: LoweringContext) -> None:
    """LEAKY_RELU with its slope."""
    ctx.emit(Op_.LEAKY_RELU, [ctx.tensor(op.operand(0))], [result(ctx, op)],
             options(schema.LeakyReluOptionsT, alpha=float(op.attr("alpha"))))


#: Clamp bounds that TFLite has a dedicated operator for.
CLAMP_OPERATORS = {(0.0, math.inf): Op_.RELU, (0.0, 6.0): Op_.RELU6, (-1.0, 1.0): Op_.RELU_N1_TO_1,
                   (0.0, 1.0): Op_.RELU_0_TO_1}


@lowering("core.clamp")
def lower_clamp(op: Op, ctx: LoweringContext) -> None:
    """RELU/RELU6/RELU_N1_TO_1/RELU_0_TO_1 when the bounds are theirs, else MAXIMUM and/or MINIMUM."""
    low, high = float(op.attr("min")), float(op.attr("max"))
    source, out = ctx.tensor(op.operand(0)), result(ctx, op)
    if (low, high) in CLAMP_OPERATORS:
        ctx.emit(CLAMP_OPERATORS[(low, high)], [source], [out])
        return
    steps = [(code, bound) for code, bound in ((Op_.MAXIMUM, low), (Op_.MINIMUM, high)) if math.isfinite(bound)]
    type = ctx.type_of(source)
    for number, (code, bound) in enumerate(steps):
        target = out if number == len(steps) - 1 else ctx.intermediate(type, ctx.hint("clamp_low"))
        bound_tensor = ctx.const(np.asarray(bound, dtype=type.dtype), ctx.hint("bound"))
        ctx.emit(code, [source, bound_tensor], [target])
        source = target
    if not steps:
        ctx.bind(op.result, source)


@lowering("core.swish")
def lower_swish(op: Op, ctx: LoweringContext) -> None:
    """x * LOGISTIC(x)."""
    source = ctx.tensor(op.operand(0))
    sigmoid = ctx.intermediate(ctx.type_of(source), ctx.hint("sigmoid"))
    ctx.emit(Op_.LOGISTIC, [source], [sigmoid])
    ctx.emit(Op_.MUL, [source, sigmoid], [result(ctx, op)], options(schema.MulOptionsT))


@lowering("core.cast")
def lower_cast(op: Op, ctx: LoweringContext) -> None:
    """CAST between element types."""
    source = ctx.tensor(op.operand(0))
    ctx.emit(Op_.CAST, [source], [result(ctx, op)], options(
        schema.CastOptionsT, inDataType=ELEMENT_CODES[op.operand(0).type.element],
        outDataType=ELEMENT_CODES[op.result.type.element]))
