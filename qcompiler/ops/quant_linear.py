"""The ``q`` dialect's linear integer ops with TensorFlow Lite's reference-kernel semantics: q.conv2d,
q.depthwise_conv2d, q.fully_connected, q.batch_matmul, q.add, q.sub, q.mul, q.avg_pool2d, q.max_pool2d,
q.mean and q.concat (inputs requantized to the output's parameters).

Each op takes the float/layout attributes of its core counterpart (and reuses its shape rules), adds the
integer attributes TFLite's Prepare computes (``derive_attrs``) and evaluates with exact integer numpy.
int8 activations take any zero point; int16x8 activations (int16 with zero point 0, int8 weights, int64
bias) are supported where TFLite's reference kernels have them.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterator, Optional, Sequence, TYPE_CHECKING

import numpy as np

from qcompiler.errors import QCompilerError, VerificationError
from qcompiler.ops.core_common import fail, operand_type
from qcompiler.ops.core_elementwise import Add, Mul, Sub
from qcompiler.ops.core_image import (
    AvgPool2D, Conv2D, DepthwiseConv2D, MaxPool2D, from_nhwc, grouped_conv_nhwc, to_nhwc, window_taps)
from qcompiler.ops.core_nn import BatchMatmul, FullyConnected, Mean
from qcompiler.ops.core_shape import Concat
from qcompiler.ops.quant import QuantOp, requantize_values, tensor_params
from qcompiler.ops.registry import op as register_op
from qcompiler.quant_math import (
    activation_range, float32_scale, mean_multiplier, multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_int64, multiply_by_quantized_multiplier_smaller_than_one,
    quantize_multiplier, quantize_multiplier_smaller_than_one, round_half_away, saturate, wrap_int32)
from qcompiler.types import STORAGE_RANGES, QuantParams, TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op

#: Activation storage types of the linear ops: int8, and int16 (symmetric) for the int16x8 mode.
ACTIVATION_STORAGES = ("i8", "i16")
#: Bias storage types accepted for each activation storage.
#: (int16x8 takes int64 only: LiteRT 2.x misreads an int32 bias of an int16x8 convolution.)
BIAS_STORAGES = {"i8": ("i32",), "i16": ("i64",)}
#: The integer attributes of ops that requantize an accumulator per output channel.
ACCUMULATOR_ATTRS = {"multiplier": None, "shift": None, "act_min": None, "act_max": None}


def activation_storage(op: Op, operands: Sequence[int] = (0,)) -> str:
    """The common storage of the data operands and the result (int8, or int16 with zero point 0), checked."""
    first = operand_type(op, operands[0]).quant
    if first is None or first.storage not in ACTIVATION_STORAGES:
        raise fail(op, f"operand {operands[0]} must be quantized as {' or '.join(ACTIVATION_STORAGES)}, "
                       f"got {operand_type(op, operands[0]).element}")
    storage = first.storage
    for index in tuple(operands) + (-1,):
        tensor_params(op, index, (storage,), symmetric=storage == "i16")
    return storage


def _scales(params: QuantParams) -> list[float]:
    return [float32_scale(s) for s in params.scales]


def _derive_error(op: Op, error: QCompilerError) -> VerificationError:
    """An error of the multiplier derivation, reported on ``op``."""
    return fail(op, error.message)


def weight_scales(op: Op, index: int, axis: int, channels: int) -> list[float]:
    """The int8 weight's scales, one per output channel (a per-tensor scale repeated), zero points 0."""
    weight = operand_type(op, index)
    quant = weight.quant
    if quant is None or quant.storage != "i8":
        raise fail(op, f"weight must be quantized as i8, got {weight.element}")
    if any(z != 0 for z in quant.zero_points):
        raise fail(op, "weight must be quantized symmetrically (zero points 0)")
    if not quant.is_per_axis:
        return [float32_scale(quant.scale)] * channels
    if quant.axis != axis or len(quant.scales) != channels:
        raise fail(op, f"per-channel weight scales must run along axis {axis} with {channels} entries, "
                       f"got axis {quant.axis} with {len(quant.scales)}")
    return _scales(quant)


def check_bias(op: Op, index: int, storage: str) -> None:
    """The optional bias must be an integer tensor of the accumulator type with zero points 0."""
    if op.operand(index) is None:
        return
    bias = operand_type(op, index)
    allowed = BIAS_STORAGES[storage]
    if bias.quant is None or bias.quant.storage not in allowed:
        raise fail(op, f"bias must be quantized as {' or '.join(allowed)} for {storage} activations, "
                       f"got {bias.element}")
    if any(z != 0 for z in bias.quant.zero_points):
        raise fail(op, "bias must have zero points 0")


#: Rescales an int64 accumulator array by per-channel (multiplier, shift): one of TFLite's variants.
Rescale = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def rescale_int32(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite's int32 ``MultiplyByQuantizedMultiplier`` on the accumulator wrapped to int32 (int8 kernels)."""
    return multiply_by_quantized_multiplier(wrap_int32(acc), multiplier, shift)


def requantize_accumulator(acc: np.ndarray, multiplier: Any, shift: Any, result: QuantParams, act_min: int,
                           act_max: int, rescale: Rescale = rescale_int32) -> np.ndarray:
    """Scale integer accumulators (channels on the last axis) to the result's parameters, as TFLite's conv and
    matmul kernels end: ``rescale`` (the kernel's ``MultiplyByQuantizedMultiplier`` variant), plus the
    output zero point, clamped to the activation range."""
    scaled = rescale(acc, np.asarray(multiplier, dtype=np.int64), np.asarray(shift, dtype=np.int64))
    return saturate(np.clip(scaled + result.zero_point, act_min, act_max), result.storage)


def exact_integer(values: np.ndarray) -> np.ndarray:
    """Float64 sums of integer products back to int64. They are exact: every product is below 2^23 in
    magnitude and a sum of fewer than 2^30 of them stays below 2^53, so BLAS matrix products can be used."""
    return np.rint(values).astype(np.int64)


class LinearQuantOp(QuantOp):
    """A linear q op: its data operands (``data_operands``; None for all) and its result share one activation
    storage, int8 or symmetric int16 (checked with the shape rules)."""

    data_operands: ClassVar[Optional[tuple[int, ...]]] = (0,)

    def storage(self, op: Op) -> str:
        """The activation storage shared by the data operands and the result, checked."""
        indices = tuple(range(len(op.operands))) if self.data_operands is None else self.data_operands
        return activation_storage(op, indices)

    def infer(self, op: Op) -> TensorType:
        inferred = super().infer(op)
        self.storage(op)
        return inferred


def product_multiplier(op: Op, in_float32: bool = False) -> tuple[int, int]:
    """The quantized ``scale_0 * scale_1 / scale_out`` of a two-operand product: in double (BATCH_MATMUL) or,
    ``in_float32``, in float32 arithmetic as TFLite's MUL Prepare computes it (then widened)."""
    scales = [np.float32(operand_type(op, 0).quant.scale), np.float32(operand_type(op, 1).quant.scale),
              np.float32(op.results[0].type.quant.scale)]
    if in_float32:
        return quantize_multiplier(float(scales[0] * scales[1] / scales[2]))
    return quantize_multiplier(float(scales[0]) * float(scales[1]) / float(scales[2]))


class AccumulatingOp(LinearQuantOp):
    """A q op that accumulates products of (input - zero point) and int8 weights plus an integer bias, then
    requantizes per output channel (TFLite CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED)."""

    def weight_axis(self, op: Op) -> int:
        """The weight's output-channel axis (its per-channel quantization axis)."""
        raise NotImplementedError

    def out_channels(self, op: Op) -> int:
        """Number of output channels."""
        return int(operand_type(op, 1).shape[self.weight_axis(op)])

    def infer(self, op: Op) -> TensorType:
        inferred = super().infer(op)
        weight_scales(op, 1, self.weight_axis(op), self.out_channels(op))
        check_bias(op, 2, self.storage(op))
        return inferred

    def output_multipliers(self, op: Op, input_scale: float, scales: list[float],
                           output_scale: float) -> tuple[list[int], list[int]]:
        """Per-channel multipliers: ``double(input_scale) * double(weight_scale) / double(output_scale)``."""
        try:
            pairs = [quantize_multiplier(input_scale * s / output_scale) for s in scales]
        except QCompilerError as error:
            raise _derive_error(op, error) from None
        return [m for m, _ in pairs], [s for _, s in pairs]

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        self.storage(op)
        source, result = operand_type(op, 0).quant, op.results[0].type.quant
        scales = weight_scales(op, 1, self.weight_axis(op), self.out_channels(op))
        multipliers, shifts = self.output_multipliers(op, float32_scale(source.scale), scales,
                                                      float32_scale(result.scale))
        act_min, act_max = activation_range(op.attr("activation"), result)
        return {"multiplier": multipliers, "shift": shifts, "act_min": act_min, "act_max": act_max}

    def rescale(self, op: Op) -> Rescale:
        """The kernel's rescaling: int16x8 convolutions keep an int64 accumulator and use TFLite's int64
        ``MultiplyByQuantizedMultiplier`` (16-bit reduced multiplier); int8 ones the int32 version."""
        return multiply_by_quantized_multiplier_int64 if op.result.type.quant.storage == "i16" else rescale_int32

    def finish(self, op: Op, acc: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
        """Add the bias to the accumulators and requantize them to the result."""
        attrs = self.integer_attrs(op)
        result = op.result.type.quant
        if bias is not None:
            acc = acc + np.asarray(bias, dtype=np.int64)
        return requantize_accumulator(acc, attrs["multiplier"], attrs["shift"], result, attrs["act_min"],
                                      attrs["act_max"], self.rescale(op))


class ConvolutionOp(AccumulatingOp):
    """Convolution kernels: the input minus its zero point is convolved (padding with zeros, i.e. with the
    zero point: TFLite skips out-of-image taps) with the int8 weight as exact float64 products."""

    def weight_axis(self, op: Op) -> int:
        return 0

    def evaluate(self, op: Op, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None) -> np.ndarray:
        layout = op.attr("layout")
        shifted = to_nhwc(x, layout).astype(np.float64) - op.operand(0).type.quant.zero_point
        acc = grouped_conv_nhwc(shifted, self.taps_weight(op, weight.astype(np.float64)), None,
                                op.attr("strides"), op.attr("dilations"), op.attr("padding"))
        return from_nhwc(self.finish(op, exact_integer(acc), bias), layout)


@register_op("q.conv2d")
class QConv2D(ConvolutionOp, Conv2D):
    """Quantized 2-D convolution (TFLite CONV_2D, int8 and int16x8, per-channel weights along O)."""

    attrs = {**Conv2D.attrs, **ACCUMULATOR_ATTRS}


@register_op("q.depthwise_conv2d")
class QDepthwiseConv2D(ConvolutionOp, DepthwiseConv2D):
    """Quantized depthwise convolution (TFLite DEPTHWISE_CONV_2D, int8 and int16x8, per-channel weights along
    the last axis of 1HWC, the first of C1HW)."""

    attrs = {**DepthwiseConv2D.attrs, **ACCUMULATOR_ATTRS}

    def weight_axis(self, op: Op) -> int:
        return 3 if op.attr("layout") == "NHWC" else 0


@register_op("q.fully_connected")
class QFullyConnected(AccumulatingOp, FullyConnected):
    """Quantized fully connected layer (TFLite FULLY_CONNECTED, int8 and int16x8; per-tensor or per-channel
    weights along N of [N, K])."""

    attrs = {**FullyConnected.attrs, **ACCUMULATOR_ATTRS}

    def weight_axis(self, op: Op) -> int:
        return 0

    def rescale(self, op: Op) -> Rescale:
        """LiteRT's reference FULLY_CONNECTED (int8 and int16x8) ignores the fixed-point multipliers: it rounds
        ``double(acc) * (double(s_in) * double(s_w) / double(s_out))`` half away from zero (``std::round``).
        That equals one exact rounding of ``acc * multiplier`` except near ties, where the multiplier's own
        rounding error decides (digits_mlp int16x8, test image 395, last layer: -12948.499995 vs -12948.5000005).
        """
        effective = self.effective_scales(op)

        def scaled(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
            return round_half_away(np.asarray(acc, dtype=np.float64) * effective).astype(np.int64)

        return scaled

    def effective_scales(self, op: Op) -> np.ndarray:
        """The double multiplier of every output channel as LiteRT's reference kernel computes it:
        ``double(s_in) * double(s_w) / double(s_out)`` from the float32 scales (the C backends store these
        exact doubles so that their kernels round the same products)."""
        source, result = operand_type(op, 0).quant, op.result.type.quant
        weight = np.asarray(weight_scales(op, 1, self.weight_axis(op), self.out_channels(op)), dtype=np.float64)
        return float32_scale(source.scale) * weight / float32_scale(result.scale)

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        attrs = super().derive_attrs(op)
        if not operand_type(op, 1).quant.is_per_axis:  # TFLite keeps one multiplier for per-tensor weights
            attrs["multiplier"], attrs["shift"] = attrs["multiplier"][:1], attrs["shift"][:1]
        return attrs

    def evaluate(self, op: Op, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None) -> np.ndarray:
        shifted = x.astype(np.float64) - op.operand(0).type.quant.zero_point
        acc = np.matmul(shifted, weight.astype(np.float64).T)
        return self.finish(op, exact_integer(acc), bias)


@register_op("q.batch_matmul")
class QBatchMatmul(LinearQuantOp, BatchMatmul):
    """Quantized batched matrix product (TFLite BATCH_MATMUL, int8, and int16 with zero points 0 and an int64
    accumulator): ``sum (a - zp_a)(b - zp_b)`` scaled by ``scale_a * scale_b / scale_out``."""

    attrs = {**BatchMatmul.attrs, "multiplier": None, "shift": None}
    data_operands = (0, 1)

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        self.storage(op)
        multiplier, shift = product_multiplier(op)
        return {"multiplier": multiplier, "shift": shift}

    def evaluate(self, op: Op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if op.attr("adj_x"):
            a = np.swapaxes(a, -1, -2)
        if op.attr("adj_y"):
            b = np.swapaxes(b, -1, -2)
        a_zero, b_zero = op.operand(0).type.quant.zero_point, op.operand(1).type.quant.zero_point
        acc = exact_integer(np.matmul(a.astype(np.float64) - a_zero, b.astype(np.float64) - b_zero))
        attrs = self.integer_attrs(op)
        result = op.result.type.quant
        low, high = STORAGE_RANGES[result.storage]
        rescale = multiply_by_quantized_multiplier_int64 if result.storage == "i16" else rescale_int32
        return requantize_accumulator(acc, attrs["multiplier"], attrs["shift"], result, low, high, rescale)


class QAddSub(LinearQuantOp):
    """TFLite's quantized ADD (and SUB, the same kernel with the second multiplier negated): both inputs are
    shifted left (20 bits for int8, 15 for int16), rescaled to twice the larger input scale, summed and
    rescaled to the output, then clamped to the fused activation."""

    sign = 1
    data_operands = (0, 1)

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        storage = self.storage(op)
        first, second = operand_type(op, 0).quant, operand_type(op, 1).quant
        result = op.results[0].type.quant
        left_shift = 15 if storage == "i16" else 20
        twice_max = 2 * max(float32_scale(first.scale), float32_scale(second.scale))
        try:
            m1, s1 = quantize_multiplier_smaller_than_one(float32_scale(first.scale) / twice_max)
            m2, s2 = quantize_multiplier_smaller_than_one(float32_scale(second.scale) / twice_max)
            mo, so = quantize_multiplier_smaller_than_one(
                twice_max / ((1 << left_shift) * float32_scale(result.scale)))
        except QCompilerError as error:
            raise _derive_error(op, error) from None
        act_min, act_max = activation_range(op.attr("activation"), result)
        return {"left_shift": left_shift, "input1_multiplier": m1, "input1_shift": s1,
                "input2_multiplier": self.sign * m2, "input2_shift": s2, "output_multiplier": mo,
                "output_shift": so, "act_min": act_min, "act_max": act_max}

    def evaluate(self, op: Op, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        attrs = self.integer_attrs(op)
        result = op.result.type.quant

        def scaled(x: np.ndarray, index: int) -> np.ndarray:
            shifted = wrap_int32((np.asarray(x, dtype=np.int64) - operand_type(op, index).quant.zero_point)
                                 << attrs["left_shift"])
            return multiply_by_quantized_multiplier_smaller_than_one(
                shifted, attrs[f"input{index + 1}_multiplier"], attrs[f"input{index + 1}_shift"])

        total = wrap_int32(scaled(lhs, 0) + scaled(rhs, 1))
        out = multiply_by_quantized_multiplier_smaller_than_one(total, attrs["output_multiplier"],
                                                               attrs["output_shift"]) + result.zero_point
        return saturate(np.clip(out, attrs["act_min"], attrs["act_max"]), result.storage)


ADD_SUB_ATTRS = {"left_shift": None, "input1_multiplier": None, "input1_shift": None, "input2_multiplier": None,
                 "input2_shift": None, "output_multiplier": None, "output_shift": None, "act_min": None,
                 "act_max": None}


@register_op("q.add")
class QAdd(QAddSub, Add):
    """Quantized elementwise addition with broadcasting (TFLite ADD, int8 and int16)."""

    attrs = {**Add.attrs, **ADD_SUB_ATTRS}


@register_op("q.sub")
class QSub(QAddSub, Sub):
    """Quantized elementwise subtraction (TFLite SUB: the ADD kernel with the second multiplier negated)."""

    attrs = {**Sub.attrs, **ADD_SUB_ATTRS}
    sign = -1


@register_op("q.mul")
class QMul(LinearQuantOp, Mul):
    """Quantized elementwise multiplication (TFLite MUL, int8 and int16): ``(a - zp_a)(b - zp_b)`` scaled by
    ``scale_a * scale_b / scale_out`` (a float32 quotient, as TFLite computes it), plus the output zero point,
    clamped to the fused activation."""

    attrs = {**Mul.attrs, **ACCUMULATOR_ATTRS}
    data_operands = (0, 1)

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        self.storage(op)
        multiplier, shift = product_multiplier(op, in_float32=True)
        act_min, act_max = activation_range(op.attr("activation"), op.results[0].type.quant)
        return {"multiplier": multiplier, "shift": shift, "act_min": act_min, "act_max": act_max}

    def evaluate(self, op: Op, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        attrs = self.integer_attrs(op)
        result = op.result.type.quant
        product = (np.asarray(lhs, dtype=np.int64) - operand_type(op, 0).quant.zero_point) \
            * (np.asarray(rhs, dtype=np.int64) - operand_type(op, 1).quant.zero_point)
        return requantize_accumulator(product, attrs["multiplier"], attrs["shift"], result, attrs["act_min"],
                                      attrs["act_max"])


class QPool(LinearQuantOp):
    """Quantized pooling: TFLite requires the output's parameters to equal the input's; the fused
    activation clamps in the integer domain."""

    def infer(self, op: Op) -> TensorType:
        inferred = super().infer(op)
        if operand_type(op, 0).quant != op.results[0].type.quant:
            raise fail(op, "result must keep the input's quantization parameters")
        return inferred

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        self.storage(op)
        act_min, act_max = activation_range(op.attr("activation"), op.results[0].type.quant)
        return {"act_min": act_min, "act_max": act_max}

    def windows(self, op: Op, x: np.ndarray, pad_value: int) -> tuple[np.ndarray, Iterator]:
        """The kernel taps over the NHWC int64 image (padded with ``pad_value``)."""
        image = to_nhwc(np.asarray(x, dtype=np.int64), op.attr("layout"))
        return image, window_taps(image, op.attr("kernel"), op.attr("strides"), (1, 1), op.attr("padding"),
                                  pad_value)

    def clamp(self, op: Op, out: np.ndarray) -> np.ndarray:
        """Clamp to the activation range, store and restore the layout."""
        attrs = self.integer_attrs(op)
        out = saturate(np.clip(out, attrs["act_min"], attrs["act_max"]), op.result.type.quant.storage)
        return from_nhwc(out, op.attr("layout"))


POOL_ATTRS = {"act_min": None, "act_max": None}


@register_op("q.avg_pool2d")
class QAvgPool2D(QPool, AvgPool2D):
    """Quantized average pooling (TFLite AVERAGE_POOL_2D): the window sum over in-image cells divided by
    their count, rounded half away from zero."""

    attrs = {**AvgPool2D.attrs, **POOL_ATTRS}

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        image, taps = self.windows(op, x, 0)
        total = sum(tap for _, _, tap in taps)
        ones = np.ones((1,) + image.shape[1:3] + (1,), dtype=np.int64)
        count = sum(tap for _, _, tap in window_taps(ones, op.attr("kernel"), op.attr("strides"), (1, 1),
                                                        op.attr("padding"), 0))
        half = np.where(total > 0, count // 2, -(count // 2))
        quotient = np.abs(total + half) // count * np.sign(total + half)  # C division truncates
        return self.clamp(op, quotient)


@register_op("q.max_pool2d")
class QMaxPool2D(QPool, MaxPool2D):
    """Quantized max pooling (TFLite MAX_POOL_2D): the largest in-image value of each window."""

    attrs = {**MaxPool2D.attrs, **POOL_ATTRS}

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        _, taps = self.windows(op, x, -(2**40))
        out = None
        for _, _, tap in taps:
            out = tap.copy() if out is None else np.maximum(out, tap, out=out)
        return self.clamp(op, out)


@register_op("q.mean")
class QMean(LinearQuantOp, Mean):
    """Quantized mean over axes (TFLite MEAN, int8 and int16): the int32 sum minus ``count * zp_in``, scaled
    by ``scale_in / scale_out`` with ``1 / count`` folded into the multiplier, plus the output zero point."""

    attrs = {**Mean.attrs, "multiplier": None, "shift": None}

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        self.storage(op)
        source, result = operand_type(op, 0).quant, op.results[0].type.quant
        multiplier, shift = quantize_multiplier(float32_scale(source.scale) / float32_scale(result.scale))
        return {"multiplier": multiplier, "shift": shift}

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        attrs = self.integer_attrs(op)
        source, result = op.operand(0).type.quant, op.result.type.quant
        axes = tuple(sorted({int(a) % x.ndim for a in op.attr("axes")}))
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        total = np.sum(np.asarray(x, dtype=np.int64), axis=axes, keepdims=bool(op.attr("keepdims")))
        if count == 0:
            return saturate(np.zeros(total.shape, dtype=np.int64), result.storage)
        multiplier, shift = mean_multiplier(attrs["multiplier"], attrs["shift"], count)
        centered = wrap_int32(total - source.zero_point * count)
        out = multiply_by_quantized_multiplier(centered, multiplier, shift) + result.zero_point
        return saturate(out, result.storage)


@register_op("q.concat")
class QConcat(LinearQuantOp, Concat):
    """Concatenation of quantized inputs whose parameters may differ from the output's: each such input is
    requantized (TFLite QUANTIZE between integer types) to the output's parameters first."""

    attrs = {**Concat.attrs, "multipliers": None, "shifts": None}
    data_operands = None

    def derive_attrs(self, op: Op) -> dict[str, Any]:
        self.storage(op)
        result = float32_scale(op.results[0].type.quant.scale)
        pairs = [quantize_multiplier(float32_scale(operand_type(op, i).quant.scale) / result)
                 for i in range(len(op.operands))]
        return {"multipliers": [m for m, _ in pairs], "shifts": [s for _, s in pairs]}

    def evaluate(self, op: Op, *inputs: np.ndarray) -> np.ndarray:
        attrs = self.integer_attrs(op)
        result = op.result.type.quant
        parts = []
        for index, x in enumerate(inputs):
            source = op.operand(index).type.quant
            if source == result:
                parts.append(np.asarray(x))
            else:
                parts.append(requantize_values(x, source.zero_point, attrs["multipliers"][index],
                                               attrs["shifts"][index], result))
        return np.concatenate(parts, axis=int(op.attr("axis")))
