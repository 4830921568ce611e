"""Helpers shared by the TFLite lowering rules: options tables, fused activations, result tensors, and the
PAD and TRANSPOSE emitters that several rules need."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from qcompiler.errors import UnsupportedOpError
from qcompiler.ir import Op
from qcompiler.types import TensorType

from qcompiler.backends.tflite.lower import LoweringContext

Op_ = schema.BuiltinOperator

#: Fused activation names of core ops -> TFLite ActivationFunctionType.
ACTIVATIONS = {
    "none": schema.ActivationFunctionType.NONE,
    "relu": schema.ActivationFunctionType.RELU,
    "relu6": schema.ActivationFunctionType.RELU6,
    "relu_n1_to_1": schema.ActivationFunctionType.RELU_N1_TO_1,
}


def options(cls: type, **fields: Any) -> Any:
    """An options table of schema class ``cls`` with the given fields (unknown field names are a bug)."""
    table = cls()
    for name, value in fields.items():
        if not hasattr(table, name):
            raise AttributeError(f"{cls.__name__} has no field {name}")
        setattr(table, name, value)
    return table


def activation_code(op: Op) -> int:
    """The TFLite fused activation of ``op``."""
    name = op.attr("activation", "none")
    if name not in ACTIVATIONS:
        raise UnsupportedOpError(f"{op.kind}: TFLite has no fused activation '{name}'", op.loc)
    return ACTIVATIONS[name]


def result(ctx: LoweringContext, op: Op, index: int = 0) -> int:
    """The tensor of result ``index`` of ``op``."""
    return ctx.tensor(op.results[index])


def require_nhwc(op: Op) -> None:
    """Image ops must be NHWC (run ``to-nhwc`` first)."""
    if op.attr("layout", "NHWC") != "NHWC":
        raise UnsupportedOpError(f"{op.kind} is {op.attr('layout')}; TFLite takes NHWC image ops "
                                 "(run the to-nhwc pass first)", op.loc)


def emit_pad(ctx: LoweringContext, source: int, pads: Sequence[tuple[int, int]], value: Optional[np.ndarray],
             hint: str, out: Optional[int] = None) -> int:
    """Emit PAD (zero / zero-point padding, ``value`` None) or PADV2 (a constant) of tensor ``source`` into
    ``out`` (a new tensor when None); returns the padded tensor."""
    type = ctx.type_of(source)
    shape = [d + before + after for d, (before, after) in zip(type.shape, pads)]
    padded = out if out is not None else ctx.intermediate(type.with_shape(shape), hint)
    paddings = ctx.int32_const([[b, a] for b, a in pads], hint + "/paddings")
    if value is None:
        ctx.emit(Op_.PAD, [source, paddings], [padded], options(schema.PadOptionsT))
    else:
        constant = ctx.const(np.asarray(value, dtype=type.dtype).reshape(()), hint + "/constant",
                             TensorType((), type.element, type.quant))
        ctx.emit(Op_.PADV2, [source, paddings, constant], [padded], options(schema.PadV2OptionsT))
    return padded


def emit_transpose(ctx: LoweringContext, source: int, perm: Sequence[int], out: Optional[int]) -> int:
    """TRANSPOSE of tensor ``source`` by ``perm`` into ``out`` (a new tensor when None); returns ``out``."""
    type = ctx.type_of(source)
    if out is None:
        out = ctx.intermediate(type.with_shape([type.shape[p] for p in perm]), ctx.hint("transpose"))
    ctx.emit(Op_.TRANSPOSE, [source, ctx.int32_const(list(perm), ctx.hint("perm"))], [out],
             options(schema.TransposeOptionsT))
    return out
