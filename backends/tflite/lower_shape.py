"""Lowering rules of the data-movement ops: RESHAPE, TRANSPOSE, CONCATENATION (inputs requantized to the
output's parameters), PAD/PADV2, STRIDED_SLICE, GATHER, SPLIT_V and BROADCAST_TO, their shapes, axes and
indices given as int32 constant tensors."""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from qcompiler.ir import Op

from qcompiler.backends.tflite.lower import LoweringContext, lowering
from qcompiler.backends.tflite.lower_common import (Op_, activation_code, emit_pad, emit_transpose, options,
                                                    result)


@lowering("core.reshape")
def lower_reshape(op: Op, ctx: LoweringContext) -> None:
    """RESHAPE to the static result shape (given as an int32 tensor and in the options)."""
    shape = [int(d) for d in op.result.type.shape]
    ctx.emit(Op_.RESHAPE, [ctx.tensor(op.operand(0)), ctx.int32_const(shape, ctx.hint("shape"))],
             [result(ctx, op)], options(schema.ReshapeOptionsT, newShape=shape))


@lowering("core.transpose")
def lower_transpose(op: Op, ctx: LoweringContext) -> None:
    """TRANSPOSE by the op's perm."""
    emit_transpose(ctx, ctx.tensor(op.operand(0)), [int(p) for p in op.attr("perm")], result(ctx, op))


@lowering("core.concat", "q.concat")
def lower_concat(op: Op, ctx: LoweringContext) -> None:
    """CONCATENATION along the op's axis. TFLite's integer kernels need every input quantized like the output,
    so a quantized input with other parameters is first brought to them with QUANTIZE (a requantization)."""
    rank = op.operand(0).type.rank
    out_type = op.result.type
    inputs = []
    for value in op.operands:
        source = ctx.tensor(value)
        if out_type.quant is not None and value.type.quant != out_type.quant:
            requantized = ctx.intermediate(out_type.with_shape(value.type.shape), ctx.hint("requantized"))
            ctx.emit(Op_.QUANTIZE, [source], [requantized])
            source = requantized
        inputs.append(source)
    ctx.emit(Op_.CONCATENATION, inputs, [result(ctx, op)], options(
        schema.ConcatenationOptionsT, axis=int(op.attr("axis")) % rank, fusedActivationFunction=activation_code(op)))


@lowering("core.pad")
def lower_pad(op: Op, ctx: LoweringContext) -> None:
    """PAD when the padding value is zero (the zero point of a quantized tensor, whose ``value`` is the
    stored integer), else PADV2 with the value as a constant of the input's type."""
    type = op.operand(0).type
    rank = type.rank
    pads = op.attr("pads")
    value = float(op.attr("value", 0.0))
    zero = float(type.quant.zero_points[0]) if type.quant is not None else 0.0
    constant = None if value == zero else np.asarray(value, dtype=type.dtype)
    emit_pad(ctx, ctx.tensor(op.operand(0)), [(int(pads[i]), int(pads[i + rank])) for i in range(rank)],
             constant, ctx.hint("pad"), result(ctx, op))


@lowering("core.slice")
def lower_slice(op: Op, ctx: LoweringContext) -> None:
    """STRIDED_SLICE with Python's slice semantics resolved against the static shape (an end before index 0
    of a negative stride becomes an end mask bit)."""
    shape = op.operand(0).type.shape
    begins, ends, end_mask = [], [], 0
    for dim, (size, begin, end, stride) in enumerate(zip(shape, op.attr("begin"), op.attr("end"),
                                                         op.attr("strides"))):
        start, stop, step = slice(int(begin), int(end), int(stride)).indices(int(size))
        if step < 0 and stop < 0:
            end_mask |= 1 << dim
            stop = 0
        begins.append(start)
        ends.append(stop)
    strides = [int(s) for s in op.attr("strides")]
    ctx.emit(Op_.STRIDED_SLICE, [ctx.tensor(op.operand(0)), ctx.int32_const(begins, ctx.hint("begin")),
                                 ctx.int32_const(ends, ctx.hint("end")), ctx.int32_const(strides, ctx.hint("strides"))],
             [result(ctx, op)], options(schema.StridedSliceOptionsT, endMask=end_mask))


@lowering("core.gather")
def lower_gather(op: Op, ctx: LoweringContext) -> None:
    """GATHER along the op's axis; constant indices are made non-negative int32 (TFLite rejects negative
    ones)."""
    source, indices = op.operand(0), op.operand(1)
    axis = int(op.attr("axis")) % source.type.rank
    array = indices.const_value
    if array is not None:
        size = int(source.type.shape[axis])
        index_tensor = ctx.int32_const(np.where(array < 0, array + size, array).astype(np.int32),
                                       ctx.value_name(indices))
    else:
        index_tensor = ctx.tensor(indices)
    ctx.emit(Op_.GATHER, [ctx.tensor(source), index_tensor], [result(ctx, op)],
             options(schema.GatherOptionsT, axis=axis))


@lowering("core.split")
def lower_split(op: Op, ctx: LoweringContext) -> None:
    """SPLIT_V with the op's sizes along its axis."""
    axis = int(op.attr("axis")) % op.operand(0).type.rank
    sizes = [int(s) for s in op.attr("sizes")]
    ctx.emit(Op_.SPLIT_V, [ctx.tensor(op.operand(0)), ctx.int32_const(sizes, ctx.hint("sizes")),
                           ctx.int32_const(axis, ctx.hint("axis"))],
             [result(ctx, op, i) for i in range(len(op.results))], options(schema.SplitVOptionsT, numSplits=len(sizes)))


@lowering("core.broadcast_to")
def lower_broadcast_to(op: Op, ctx: LoweringContext) -> None:
    """BROADCAST_TO the static shape."""
    ctx.emit(Op_.BROADCAST_TO, [ctx.tensor(op.operand(0)),
                                ctx.int32_const([int(d) for d in op.attr("shape")], ctx.hint("shape"))],
             [result(ctx, op)])
