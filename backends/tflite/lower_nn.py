"""Lowering rules of the dense and normalization ops: FULLY_CONNECTED, BATCH_MATMUL, SOFTMAX (moved to the
last axis when needed), the reductions, and layer normalization as TFLite's decomposition."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from qcompiler.ir import Op
from qcompiler.types import TensorType

from qcompiler.backends.tflite.lower import LoweringContext, lowering
from qcompiler.backends.tflite.lower_common import Op_, activation_code, emit_transpose, options, result
from qcompiler.backends.tflite.lower_quant import weight_tensor


@lowering("core.fully_connected", "q.fully_connected")
def lower_fully_connected(op: Op, ctx: LoweringContext) -> None:
    """FULLY_CONNECTED; leading dims kept (keep_num_dims) unless the input is a matrix already."""
    rank = op.operand(0).type.rank
    ctx.emit(Op_.FULLY_CONNECTED, [ctx.tensor(op.operand(0)), weight_tensor(ctx, op.operand(1)),
                                   ctx.tensor(op.operand(2))], [result(ctx, op)],
             options(schema.FullyConnectedOptionsT, fusedActivationFunction=activation_code(op),
                     keepNumDims=rank != 2))


@lowering("core.batch_matmul", "q.batch_matmul")
def lower_batch_matmul(op: Op, ctx: LoweringContext) -> None:
    """BATCH_MATMUL with adj_x/adj_y."""
    ctx.emit(Op_.BATCH_MATMUL, [ctx.tensor(op.operand(0)), weight_tensor(ctx, op.operand(1))], [result(ctx, op)],
             options(schema.BatchMatMulOptionsT, adjX=bool(op.attr("adj_x", False)),
                     adjY=bool(op.attr("adj_y", False))))


REDUCTIONS = {"mean": Op_.MEAN, "sum": Op_.SUM, "reduce_max": Op_.REDUCE_MAX, "reduce_min": Op_.REDUCE_MIN,
              "reduce_prod": Op_.REDUCE_PROD}


def emit_reduce(ctx: LoweringContext, code: int, source: int, axes: Sequence[int], keep: bool, out: int) -> None:
    """A reduction operator over ``axes`` (an int32 tensor) with keep_dims."""
    ctx.emit(code, [source, ctx.int32_const(list(axes), ctx.hint("axes"))], [out],
             options(schema.ReducerOptionsT, keepDims=keep))


@lowering(*(f"core.{n}" for n in REDUCTIONS), "q.mean")
def lower_reduction(op: Op, ctx: LoweringContext) -> None:
    """MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD over the op's axes."""
    rank = op.operand(0).type.rank
    axes = sorted({int(a) % rank for a in op.attr("axes")})
    emit_reduce(ctx, REDUCTIONS[op.kind.split(".", 1)[1]], ctx.tensor(op.operand(0)), axes,
                bool(op.attr("keepdims", False)), result(ctx, op))


@lowering("core.softmax", "q.softmax")
def lower_softmax(op: Op, ctx: LoweringContext) -> None:
    """SOFTMAX over the last axis; another axis is moved last with TRANSPOSE around it."""
    rank = op.operand(0).type.rank
    axis = int(op.attr("axis", -1)) % rank
    beta = float(op.attr("beta", 1.0))
    if axis == rank - 1:
        ctx.emit(Op_.SOFTMAX, [ctx.tensor(op.operand(0))], [result(ctx, op)], options(schema.SoftmaxOptionsT,
                                                                                     beta=beta))
        return
    perm = [d for d in range(rank) if d != axis] + [axis]
    inverse = [perm.index(d) for d in range(rank)]
    moved = emit_transpose(ctx, ctx.tensor(op.operand(0)), perm, None)
    normalized = ctx.intermediate(ctx.type_of(moved), ctx.hint("softmax"))
    ctx.emit(Op_.SOFTMAX, [moved], [normalized], options(schema.SoftmaxOptionsT, beta=beta))
    emit_transpose(ctx, normalized, inverse, result(ctx, op))


@lowering("core.layer_norm")
def lower_layer_norm(op: Op, ctx: LoweringContext) -> None:
    """TFLite's decomposition of layer normalization: MEAN, SQUARED_DIFFERENCE, MEAN, ADD epsilon, RSQRT,
    SUB, MUL, then MUL scale and ADD bias."""
    source = ctx.tensor(op.operand(0))
    type = ctx.type_of(source)
    rank = type.rank
    axes = list(range(int(op.attr("axis", -1)) % rank, rank))
    stats = type.with_shape([1 if i in axes else d for i, d in enumerate(type.shape)])

    def step(code: int, inputs: list[int], out_type: TensorType, name: str, table: Any = None) -> int:
        out = ctx.intermediate(out_type, ctx.hint(name))
        ctx.emit(code, inputs, [out], table)
        return out

    mean = ctx.intermediate(stats, ctx.hint("mean"))
    emit_reduce(ctx, Op_.MEAN, source, axes, True, mean)
    squares = step(Op_.SQUARED_DIFFERENCE, [source, mean], type, "squared_difference")
    variance = ctx.intermediate(stats, ctx.hint("variance"))
    emit_reduce(ctx, Op_.MEAN, squares, axes, True, variance)
    epsilon = ctx.const(np.asarray(float(op.attr("epsilon")), dtype=type.dtype), ctx.hint("epsilon"))
    shifted = step(Op_.ADD, [variance, epsilon], stats, "variance_epsilon", options(schema.AddOptionsT))
    inverse = step(Op_.RSQRT, [shifted], stats, "rsqrt")
    centered = step(Op_.SUB, [source, mean], type, "centered", options(schema.SubOptionsT))
    tail = [(Op_.MUL, schema.MulOptionsT, ctx.tensor(op.operand(1)) if op.operand(1) is not None else None),
            (Op_.ADD, schema.AddOptionsT, ctx.tensor(op.operand(2)) if op.operand(2) is not None else None)]
    tail = [(code, table, operand) for code, table, operand in tail if operand is not None]
    out = result(ctx, op)
    normalized = out if not tail else ctx.intermediate(type, ctx.hint("normalized"))
    ctx.emit(Op_.MUL, [centered, inverse], [normalized], options(schema.MulOptionsT))
    for number, (code, table, operand) in enumerate(tail):
        target = out if number == len(tail) - 1 else ctx.intermediate(type, ctx.hint("scaled"))
        ctx.emit(code, [normalized, operand], [target], options(table))
        normalized = target
