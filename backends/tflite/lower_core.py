"""Lowering rules of the core dialect (and of the q compute ops, which map to the same TFLite operators with
quantized tensors): each rule picks the TFLite operator(s), builds the options table and the constant operands
(shapes, axes, paddings as int32 tensors), and turns explicit padding into SAME/VALID or a PAD before."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from qcompiler.errors import UnsupportedOpError
from qcompiler.ir import Op
from qcompiler.types import QuantParams, TensorType

from qcompiler.backends.tflite.lower import LoweringContext, lowering
from qcompiler.backends.tflite.lower_quant import weight_tensor
from qcompiler.backends.tflite.writer import ELEMENT_CODES

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


# -- convolutions, dense layers -------------------------------------------------------------------------
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


# -- elementwise --------------------------------------------------------------------------------------
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
    """ADD/SUB/MUL/DIV with their fused activation (broadcasting as numpy)."""
    code, table = FUSED_BINARY[op.kind.split(".", 1)[1]]
    ctx.emit(code, [ctx.tensor(op.operand(0)), ctx.tensor(op.operand(1))], [result(ctx, op)],
             options(table, fusedActivationFunction=activation_code(op)))


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


# -- pooling, reductions, normalizations ----------------------------------------------------------------
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


@lowering("core.local_response_norm")
def lower_local_response_norm(op: Op, ctx: LoweringContext) -> None:
    """LOCAL_RESPONSE_NORMALIZATION over the channels of an NHWC image."""
    require_nhwc(op)
    ctx.emit(Op_.LOCAL_RESPONSE_NORMALIZATION, [ctx.tensor(op.operand(0))], [result(ctx, op)], options(
        schema.LocalResponseNormalizationOptionsT, radius=int(op.attr("radius")), bias=float(op.attr("bias")),
        alpha=float(op.attr("alpha")), beta=float(op.attr("beta"))))


# -- data movement ------------------------------------------------------------------------------------
def emit_transpose(ctx: LoweringContext, source: int, perm: Sequence[int], out: Optional[int]) -> int:
    """TRANSPOSE of tensor ``source`` by ``perm`` into ``out`` (a new tensor when None); returns ``out``."""
    type = ctx.type_of(source)
    if out is None:
        out = ctx.intermediate(type.with_shape([type.shape[p] for p in perm]), ctx.hint("transpose"))
    ctx.emit(Op_.TRANSPOSE, [source, ctx.int32_const(list(perm), ctx.hint("perm"))], [out],
             options(schema.TransposeOptionsT))
    return out


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
