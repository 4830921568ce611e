"""Lowering rules of the q dialect's conversions: q.quantize and q.requantize -> QUANTIZE, q.dequantize ->
DEQUANTIZE, except the dequantize of an int8 weight that only float convolutions and matmuls read: those read
the int8 tensor directly (TFLite's hybrid kernels, the dynamic-range mode)."""

from __future__ import annotations

from typing import Optional

from ai_edge_litert import schema_py_generated as schema

from qcompiler.ir import Op, Value

from qcompiler.backends.tflite.lower import LoweringContext, lowering

#: Float ops whose TFLite kernels take an int8 weight (operand 1) directly: the hybrid kernels.
HYBRID_CONSUMERS = ("core.conv2d", "core.depthwise_conv2d", "core.fully_connected", "core.batch_matmul")
#: Storage types hybrid kernels read.
HYBRID_STORAGE = ("i8",)


def hybrid_weight(ctx: LoweringContext, value: Optional[Value]) -> Optional[Value]:
    """The quantized constant behind ``value`` when hybrid kernels are allowed and ``value`` is the
    q.dequantize of an int8 constant that only hybrid-capable float ops read, as their weight; else None."""
    if not ctx.hybrid or value is None or value.producer is None or value.producer.kind != "q.dequantize":
        return None
    stored = value.producer.operand(0)
    if stored is None or not stored.is_const or stored.type.quant is None \
            or stored.type.quant.storage not in HYBRID_STORAGE:
        return None
    if not value.uses or any(use.op.kind not in HYBRID_CONSUMERS or use.index != 1 for use in value.uses):
        return None
    return stored


def weight_tensor(ctx: LoweringContext, value: Optional[Value]) -> int:
    """The tensor a convolution or matmul reads as its weight: the int8 constant itself for a hybrid weight,
    else the value's own tensor."""
    stored = hybrid_weight(ctx, value)
    return ctx.tensor(stored if stored is not None else value)


@lowering("q.quantize", "q.requantize")
def lower_quantize(op: Op, ctx: LoweringContext) -> None:
    """QUANTIZE: float -> quantized, or quantized -> quantized with other parameters."""
    ctx.emit(schema.BuiltinOperator.QUANTIZE, [ctx.tensor(op.operand(0))], [ctx.tensor(op.result)])


@lowering("q.dequantize")
def lower_dequantize(op: Op, ctx: LoweringContext) -> None:
    """DEQUANTIZE (int8/int16 or float16 -> float32); nothing for a weight that hybrid kernels read."""
    if hybrid_weight(ctx, op.result) is not None:
        return
    ctx.emit(schema.BuiltinOperator.DEQUANTIZE, [ctx.tensor(op.operand(0))], [ctx.tensor(op.result)])
