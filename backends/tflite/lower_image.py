"""Lowering rules of the image ops (NHWC only): CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D and
LOCAL_RESPONSE_NORMALIZATION, with explicit padding turned into TFLite's SAME/VALID or a PAD before."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from qcompiler.errors import UnsupportedOpError
from qcompiler.ir import Op
from qcompiler.types import QuantParams, TensorType

from qcompiler.backends.tflite.lower import LoweringContext, lowering
from qcompiler.backends.tflite.lower_common import (Op_, activation_code, emit_pad, options, require_nhwc,
                                                    result)
from qcompiler.backends.tflite.lower_quant import weight_tensor


# -- padding ------------------------------------------------------------------------------------------
def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite's SAME padding (before, after) of one spatial dim: the output has ceil(size / stride) entries
    and the odd pixel of padding goes after."""
    effective = (kernel - 1) * dilation + 1
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def tflite_padding(shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                   dilations: Sequence[int], padding: Sequence[int]) -> Optional[int]:
    """SAME or VALID when the explicit ``padding`` [top, left, bottom, right] of an NHWC window op equals
    what TFLite computes for it; None when neither matches."""
    if not any(padding):
        return schema.Padding.VALID
    top_bottom = same_padding(shape[1], kernel[0], strides[0], dilations[0])
    left_right = same_padding(shape[2], kernel[1], strides[1], dilations[1])
    if (padding[0], padding[2]) == top_bottom and (padding[1], padding[3]) == left_right:
        return schema.Padding.SAME
    return None


def pad_value_of(type: TensorType, lowest: bool) -> np.ndarray:
    """The padding constant for a tensor of ``type``: its zero (the zero point when quantized), or its lowest
    value when ``lowest`` (so that max pooling never picks padding)."""
    if type.quant is not None:
        return np.asarray(type.quant.qmin if lowest else type.quant.zero_points[0], dtype=type.dtype)
    if lowest:
        return np.asarray(np.finfo(type.dtype).min if type.dtype.kind == "f" else np.iinfo(type.dtype).min,
                          dtype=type.dtype)
    return np.zeros((), dtype=type.dtype)


def window_input(ctx: LoweringContext, op: Op, kernel: Sequence[int], dilations: Sequence[int],
                 pad_lowest: Optional[bool]) -> tuple[int, int]:
    """``(padding, input tensor)`` of an NHWC window op: SAME/VALID when its padding matches, else VALID after
    an explicit PAD (PADV2 with the lowest value when ``pad_lowest``). ``pad_lowest`` None means padding
    cannot be made explicit (average pooling counts only real pixels)."""
    source = op.operand(0)
    strides = [int(s) for s in op.attr("strides")]
    padding = [int(p) for p in op.attr("padding")]
    shape = source.type.shape
    mode = tflite_padding(shape, kernel, strides, dilations, padding)
    if mode is not None:
        return mode, ctx.tensor(source)
    if pad_lowest is None:
        raise UnsupportedOpError(f"{op.kind}: padding {padding} is neither TFLite's SAME nor VALID for a "
                                 f"{shape[1]}x{shape[2]} input, and padded cells must not be counted", op.loc)
    pads = [(0, 0), (padding[0], padding[2]), (padding[1], padding[3]), (0, 0)]
    value = pad_value_of(source.type, True) if pad_lowest else None
    return schema.Padding.VALID, emit_pad(ctx, ctx.tensor(source), pads, value, ctx.hint("pad"))


# -- convolutions -------------------------------------------------------------------------------------
def bias_tensor(ctx: LoweringContext, op: Op, channels: int) -> int:
    """The bias operand's tensor, or zeros (CONV_2D and DEPTHWISE_CONV_2D need a bias): float zeros, or int32
    zeros scaled by input scale x weight scale for a quantized op."""
    if op.operand(2) is not None:
        return ctx.tensor(op.operand(2))
    source, weight = op.operand(0).type, op.operand(1).type
    if source.quant is None or weight.quant is None:
        element = "f32" if source.element not in ("f16",) else source.element
        return ctx.const(np.zeros(channels, dtype=TensorType((), element).dtype), ctx.hint("bias"))
    storage = "i64" if source.element == "i16" else "i32"
    scales = [float(np.float32(source.quant.scale * s)) for s in weight.quant.scales]
    if len(scales) == 1:
        quant = QuantParams.per_tensor(storage, scales[0])
    else:
        quant = QuantParams.per_axis(storage, scales, [0] * len(scales), 0)
    return ctx.const(np.zeros(channels, dtype=TensorType((), storage).dtype), ctx.hint("bias"),
                     TensorType((channels,), storage, quant))


def emit_convolution(op: Op, ctx: LoweringContext, code: int, channels: int, table: type, **fields: Any) -> None:
    """CONV_2D or DEPTHWISE_CONV_2D of an NHWC op: padding made SAME/VALID (or a PAD before), the weight as
    stored (or the int8 tensor of a hybrid weight), a bias (zeros when absent) and the common options."""
    require_nhwc(op)
    _, kh, kw, _ = op.operand(1).type.shape
    dilations = [int(d) for d in op.attr("dilations")]
    padding, source = window_input(ctx, op, (kh, kw), dilations, False)
    strides = op.attr("strides")
    ctx.emit(code, [source, weight_tensor(ctx, op.operand(1)), bias_tensor(ctx, op, channels)], [result(ctx, op)],
             options(table, padding=padding, strideH=int(strides[0]), strideW=int(strides[1]),
                     dilationHFactor=dilations[0], dilationWFactor=dilations[1],
                     fusedActivationFunction=activation_code(op), **fields))


@lowering("core.conv2d", "q.conv2d")
def lower_conv2d(op: Op, ctx: LoweringContext) -> None:
    """CONV_2D; OHWI weights as they are (I = C_in / groups: TFLite infers grouped convolution from it)."""
    emit_convolution(op, ctx, Op_.CONV_2D, op.operand(1).type.shape[0], schema.Conv2DOptionsT)


@lowering("core.depthwise_conv2d", "q.depthwise_conv2d")
def lower_depthwise_conv2d(op: Op, ctx: LoweringContext) -> None:
    """DEPTHWISE_CONV_2D; 1HWC weights as they are."""
    emit_convolution(op, ctx, Op_.DEPTHWISE_CONV_2D, op.operand(1).type.shape[3], schema.DepthwiseConv2DOptionsT,
                     depthMultiplier=int(op.attr("depth_multiplier", 1)))


@lowering("core.max_pool2d", "q.max_pool2d", "core.avg_pool2d", "q.avg_pool2d")
def lower_pool2d(op: Op, ctx: LoweringContext) -> None:
    """MAX_POOL_2D / AVERAGE_POOL_2D. A window covering the whole image becomes a VALID window of its size;
    other explicit padding becomes PADV2 with the lowest value before a max pool, and PAD + average pool +
    count correction for a float average pool."""
    require_nhwc(op)
    kernel = [int(k) for k in op.attr("kernel")]
    is_max = op.kind.endswith("max_pool2d")
    strides = op.attr("strides")
    if is_global_window(op.operand(0).type.shape, op.result.type.shape, kernel, op.attr("padding")):
        kernel = list(op.operand(0).type.shape[1:3])
        padding, source = schema.Padding.VALID, ctx.tensor(op.operand(0))
    elif not is_max and op.operand(0).type.quant is None and tflite_padding(
            op.operand(0).type.shape, kernel, strides, (1, 1), op.attr("padding")) is None:
        emit_padded_average_pool(ctx, op, kernel)
        return
    else:
        padding, source = window_input(ctx, op, kernel, (1, 1), True if is_max else None)
    ctx.emit(Op_.MAX_POOL_2D if is_max else Op_.AVERAGE_POOL_2D, [source], [result(ctx, op)], options(
        schema.Pool2DOptionsT, padding=padding, strideH=int(strides[0]), strideW=int(strides[1]),
        filterHeight=kernel[0], filterWidth=kernel[1], fusedActivationFunction=activation_code(op)))


def window_counts(size: int, kernel: int, stride: int, pad_before: int, out: int) -> np.ndarray:
    """How many real (unpadded) pixels each of the ``out`` windows along one dim covers."""
    starts = np.arange(out) * stride - pad_before
    return np.minimum(starts + kernel, size) - np.maximum(starts, 0)


def emit_padded_average_pool(ctx: LoweringContext, op: Op, kernel: Sequence[int]) -> None:
    """A float average pool whose explicit padding TFLite cannot express: PAD with zeros, AVERAGE_POOL_2D
    VALID (which divides by the full window), then MUL by window size / real pixel count per output pixel,
    so that padded cells are not counted. The fused activation goes on the MUL."""
    source_type, out_type = op.operand(0).type, op.result.type
    top, left, bottom, right = [int(p) for p in op.attr("padding")]
    strides = [int(s) for s in op.attr("strides")]
    padded = emit_pad(ctx, ctx.tensor(op.operand(0)), [(0, 0), (top, bottom), (left, right), (0, 0)], None,
                      ctx.hint("pad"))
    pooled = ctx.intermediate(out_type, ctx.hint("pool"))
    ctx.emit(Op_.AVERAGE_POOL_2D, [padded], [pooled], options(
        schema.Pool2DOptionsT, padding=schema.Padding.VALID, strideH=strides[0], strideW=strides[1],
        filterHeight=kernel[0], filterWidth=kernel[1]))
    rows = window_counts(source_type.shape[1], kernel[0], strides[0], top, out_type.shape[1])
    cols = window_counts(source_type.shape[2], kernel[1], strides[1], left, out_type.shape[2])
    correction = (kernel[0] * kernel[1]) / np.outer(rows, cols).astype(np.float64)
    factor = ctx.const(correction.astype(out_type.dtype)[None, :, :, None], ctx.hint("count_correction"))
    ctx.emit(Op_.MUL, [pooled, factor], [result(ctx, op)],
             options(schema.MulOptionsT, fusedActivationFunction=activation_code(op)))


def is_global_window(in_shape: Sequence[int], out_shape: Sequence[int], kernel: Sequence[int],
                     padding: Sequence[int]) -> bool:
    """Whether a pooling window has one output pixel that sees the whole NHWC input (a padded window larger
    than the image, as ONNX ceil_mode exports make): then it equals a VALID window of the image's size."""
    return tuple(out_shape[1:3]) == (1, 1) and all(
        kernel[axis] - padding[axis] >= in_shape[1 + axis] for axis in (0, 1))


@lowering("core.local_response_norm")
def lower_local_response_norm(op: Op, ctx: LoweringContext) -> None:
    """LOCAL_RESPONSE_NORMALIZATION over the channels of an NHWC image."""
    require_nhwc(op)
    ctx.emit(Op_.LOCAL_RESPONSE_NORMALIZATION, [ctx.tensor(op.operand(0))], [result(ctx, op)], options(
        schema.LocalResponseNormalizationOptionsT, radius=int(op.attr("radius")), bias=float(op.attr("bias")),
        alpha=float(op.attr("alpha")), beta=float(op.attr("beta"))))
