"""Core ops on 4-D images with an explicit layout (NHWC or NCHW): conv2d, depthwise_conv2d, max_pool2d,
avg_pool2d and local_response_norm. Padding is explicit: ``padding = [top, left, bottom, right]``.

The kernels work in NHWC and loop over kernel taps only (each tap is one vectorized multiply-accumulate or
matrix product over all output pixels), so they stay fast enough for the interpreter on real models.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence, TYPE_CHECKING

import numpy as np

from qcompiler.ops.core_common import (
    LAYOUTS, CoreOp, activation_attr, apply_activation, choice_attr, computed, fail, float_attr, int_attr,
    ints_attr, moved, operand_type)
from qcompiler.ops.registry import op as register_op
from qcompiler.types import Dim, TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op


def spatial_axes(layout: str) -> tuple[int, int]:
    """The (height, width) axes of a 4-D tensor in ``layout``."""
    return (1, 2) if layout == "NHWC" else (2, 3)


def channel_axis(layout: str) -> int:
    """The channel axis of a 4-D tensor in ``layout``."""
    return 3 if layout == "NHWC" else 1


def image_shape(layout: str, batch: Dim, height: Dim, width: Dim, channels: Dim) -> tuple[Dim, ...]:
    """A 4-D shape in ``layout`` from its named dims."""
    return (batch, height, width, channels) if layout == "NHWC" else (batch, channels, height, width)


def window_output_size(size: Dim, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int) -> Dim:
    """Output length of a sliding window (floor division, as TFLite and ONNX without ceil_mode)."""
    if not isinstance(size, int):
        return "?"
    return (size + pad_begin + pad_end - dilation * (kernel - 1) - 1) // stride + 1


class WindowOp(CoreOp):
    """Common attribute checks and shape rule of sliding-window image ops."""

    def window(self, op: Op) -> tuple[str, list[int], list[int], list[int]]:
        """The checked (layout, strides, dilations, padding) of ``op``."""
        layout = choice_attr(op, "layout", LAYOUTS)
        strides = ints_attr(op, "strides", 2)
        dilations = ints_attr(op, "dilations", 2) if "dilations" in self.attrs else [1, 1]
        padding = ints_attr(op, "padding", 4)
        if min(strides) < 1 or min(dilations) < 1:
            raise fail(op, "strides and dilations must be positive")
        if min(padding) < 0:
            raise fail(op, f"padding must not be negative, got {padding}")
        return layout, strides, dilations, padding

    def image_type(self, op: Op) -> TensorType:
        """The 4-D input type."""
        source = operand_type(op, 0)
        if source.rank != 4:
            raise fail(op, f"input must be a 4-D image, got rank {source.rank}")
        return source

    def output_shape(self, op: Op, source: TensorType, kernel: Sequence[int], channels: Dim) -> tuple[Dim, ...]:
        """The output shape for a window of size ``kernel`` producing ``channels`` channels."""
        layout, strides, dilations, padding = self.window(op)
        h_axis, w_axis = spatial_axes(layout)
        height = window_output_size(source.shape[h_axis], kernel[0], strides[0], dilations[0], padding[0], padding[2])
        width = window_output_size(source.shape[w_axis], kernel[1], strides[1], dilations[1], padding[1], padding[3])
        if (isinstance(height, int) and height < 1) or (isinstance(width, int) and width < 1):
            raise fail(op, f"the window does not fit the {source.shape[h_axis]}x{source.shape[w_axis]} image")
        return image_shape(layout, source.shape[0], height, width, channels)


def to_nhwc(x: np.ndarray, layout: str) -> np.ndarray:
    """View a 4-D array in NHWC."""
    return x if layout == "NHWC" else x.transpose(0, 2, 3, 1)


def from_nhwc(x: np.ndarray, layout: str) -> np.ndarray:
    """An NHWC array in ``layout`` (contiguous)."""
    return np.ascontiguousarray(x if layout == "NHWC" else x.transpose(0, 3, 1, 2))


def window_taps(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                padding: Sequence[int], pad_value: float) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(i, j, tap)`` for every kernel position: ``tap`` is the [N, OH, OW, C] view of the padded NHWC
    image that kernel position ``(i, j)`` sees for every output pixel."""
    top, left, bottom, right = padding
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    out_h = (padded.shape[1] - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    out_w = (padded.shape[2] - dilations[1] * (kernel[1] - 1) - 1) // strides[1] + 1
    for i in range(kernel[0]):
        row = i * dilations[0]
        for j in range(kernel[1]):
            col = j * dilations[1]
            yield i, j, padded[:, row:row + (out_h - 1) * strides[0] + 1:strides[0],
                               col:col + (out_w - 1) * strides[1] + 1:strides[1], :]


#: Above this many elements the im2col matrix is not built and the convolution loops over kernel taps.
IM2COL_MAX_ELEMENTS = 1 << 25


def grouped_conv_nhwc(x: np.ndarray, taps_weight: np.ndarray, bias: Optional[np.ndarray], strides: Sequence[int],
                      dilations: Sequence[int], padding: Sequence[int]) -> np.ndarray:
    """Grouped 2-D convolution of an NHWC image; ``taps_weight`` is [KH, KW, G, C/G, O/G] and output channel
    ``g * (O/G) + o`` is group g's o-th filter. Depthwise convolution is the case C/G == 1.

    Depthwise: one vectorized multiply-accumulate per kernel tap. Otherwise im2col (every tap's view side by
    side) and one (grouped) matrix product, or a matrix product per tap when im2col would be too large.
    """
    kh, kw, groups, per_group, out_per_group = taps_weight.shape
    taps = list(window_taps(x, (kh, kw), strides, dilations, padding, 0.0))
    n, oh, ow, _ = taps[0][2].shape
    pixels = n * oh * ow
    if per_group == 1:
        out = None
        for i, j, tap in taps:
            contribution = tap.reshape(n, oh, ow, groups, 1) * taps_weight[i, j, :, 0, :]
            out = contribution if out is None else out + contribution
    elif pixels * kh * kw * groups * per_group <= IM2COL_MAX_ELEMENTS:
        columns = np.stack([tap.reshape(pixels, groups, per_group) for _, _, tap in taps], axis=2)
        columns = columns.transpose(1, 0, 2, 3).reshape(groups, pixels, kh * kw * per_group)
        weights = taps_weight.transpose(2, 0, 1, 3, 4).reshape(groups, kh * kw * per_group, out_per_group)
        out = np.matmul(columns, weights.astype(x.dtype, copy=False)).transpose(1, 0, 2)
    else:
        out = None
        for i, j, tap in taps:
            grouped = tap.reshape(pixels, groups, per_group).transpose(1, 0, 2)
            contribution = np.matmul(grouped, taps_weight[i, j]).transpose(1, 0, 2)
            out = contribution if out is None else out + contribution
    out = out.reshape(n, oh, ow, groups * out_per_group)
    if bias is not None:
        out = out + bias
    return out.astype(x.dtype, copy=False)


@register_op("core.conv2d")
class Conv2D(WindowOp):
    """2-D convolution (TFLite CONV_2D). Weights are OHWI in NHWC layout and OIHW in NCHW layout, with
    I = C_in / groups; the fused activation applies after the bias."""

    operands = ("input", "weight", "bias?")
    attrs = {"strides": [1, 1], "dilations": [1, 1], "padding": [0, 0, 0, 0], "groups": 1, "layout": "NHWC",
             "activation": "none"}

    def infer(self, op: Op) -> TensorType:
        source = self.image_type(op)
        layout = choice_attr(op, "layout", LAYOUTS)
        activation_attr(op)
        weight = operand_type(op, 1)
        if weight.rank != 4:
            raise fail(op, f"weight must be 4-D, got rank {weight.rank}")
        out_channels, kh, kw, per_group = weight.shape if layout == "NHWC" else (
            weight.shape[0], weight.shape[2], weight.shape[3], weight.shape[1])
        groups = int_attr(op, "groups")
        in_channels = source.shape[channel_axis(layout)]
        if groups < 1 or (isinstance(in_channels, int) and in_channels != per_group * groups) \
                or out_channels % groups:
            weight_layout = "OHWI" if layout == "NHWC" else "OIHW"
            raise fail(op, f"{in_channels} input channels, weight {weight.shape} ({weight_layout})"
                           f" and groups={groups} do not agree")
        self.check_bias(op, out_channels)
        return computed(source, self.output_shape(op, source, (kh, kw), out_channels))

    def check_bias(self, op: Op, channels: int) -> None:
        """The optional bias must be [channels]."""
        if op.operand(2) is not None and operand_type(op, 2).shape != (channels,):
            raise fail(op, f"bias must be [{channels}], got {operand_type(op, 2).shape}")

    def taps_weight(self, op: Op, weight: np.ndarray) -> np.ndarray:
        """The weight as [KH, KW, G, C/G, O/G]."""
        groups = int(op.attr("groups"))
        if op.attr("layout") == "NHWC":
            out_channels, kh, kw, per_group = weight.shape
            return weight.reshape(groups, out_channels // groups, kh, kw, per_group).transpose(2, 3, 0, 4, 1)
        out_channels, per_group, kh, kw = weight.shape
        return weight.reshape(groups, out_channels // groups, per_group, kh, kw).transpose(3, 4, 0, 2, 1)

    def evaluate(self, op: Op, x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray] = None) -> np.ndarray:
        layout = op.attr("layout")
        out = grouped_conv_nhwc(to_nhwc(x, layout), self.taps_weight(op, weight), bias, op.attr("strides"),
                                op.attr("dilations"), op.attr("padding"))
        return from_nhwc(apply_activation(out, op.attr("activation")), layout)


@register_op("core.depthwise_conv2d")
class DepthwiseConv2D(Conv2D):
    """Depthwise 2-D convolution (TFLite DEPTHWISE_CONV_2D): each input channel c gets ``depth_multiplier``
    filters, output channel ``c * depth_multiplier + k``. Weights are 1HWC (C = C_in * multiplier) in NHWC
    layout and (C, 1, KH, KW) in NCHW layout."""

    attrs = {"strides": [1, 1], "dilations": [1, 1], "padding": [0, 0, 0, 0], "depth_multiplier": 1,
             "layout": "NHWC", "activation": "none"}

    def infer(self, op: Op) -> TensorType:
        source = self.image_type(op)
        layout = choice_attr(op, "layout", LAYOUTS)
        activation_attr(op)
        weight = operand_type(op, 1)
        multiplier = int_attr(op, "depth_multiplier")
        if weight.rank != 4:
            raise fail(op, f"weight must be 4-D, got rank {weight.rank}")
        if layout == "NHWC":
            one, kh, kw, channels = weight.shape
        else:
            channels, one, kh, kw = weight.shape
        in_channels = source.shape[channel_axis(layout)]
        if one != 1 or multiplier < 1 or (isinstance(in_channels, int) and channels != in_channels * multiplier):
            raise fail(op, f"{in_channels} input channels, weight {weight.shape} "
                           f"({'1HWC' if layout == 'NHWC' else 'C1HW'}) and depth_multiplier={multiplier} "
                           "do not agree")
        self.check_bias(op, channels)
        return computed(source, self.output_shape(op, source, (kh, kw), channels))

    def taps_weight(self, op: Op, weight: np.ndarray) -> np.ndarray:
        multiplier = int(op.attr("depth_multiplier"))
        hwc = weight[0] if op.attr("layout") == "NHWC" else weight[:, 0].transpose(1, 2, 0)
        kh, kw, channels = hwc.shape
        return hwc.reshape(kh, kw, channels // multiplier, 1, multiplier)


class PoolOp(WindowOp):
    """A 2-D pooling window with a fused activation."""

    operands = ("input",)
    attrs = {"kernel": [1, 1], "strides": [1, 1], "padding": [0, 0, 0, 0], "layout": "NHWC",
             "activation": "none"}

    def infer(self, op: Op) -> TensorType:
        source = self.image_type(op)
        kernel = ints_attr(op, "kernel", 2)
        activation_attr(op)
        padding = ints_attr(op, "padding", 4)
        if min(kernel) < 1:
            raise fail(op, f"kernel must be positive, got {kernel}")
        if padding[0] >= kernel[0] or padding[2] >= kernel[0] or padding[1] >= kernel[1] or padding[3] >= kernel[1]:
            raise fail(op, f"padding {padding} must be smaller than the kernel {kernel}")
        layout = choice_attr(op, "layout", LAYOUTS)
        return self.result_type(source, self.output_shape(op, source, kernel, source.shape[channel_axis(layout)]))

    def result_type(self, source: TensorType, shape: Sequence[Dim]) -> TensorType:
        """Pooling keeps the element type; quantization parameters depend on the kind."""
        return computed(source, shape)


@register_op("core.max_pool2d")
class MaxPool2D(PoolOp):
    """Maximum over each window (TFLite MAX_POOL_2D); padded cells never win."""

    def result_type(self, source: TensorType, shape: Sequence[Dim]) -> TensorType:
        return moved(source, shape)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        layout = op.attr("layout")
        out = None
        lowest = np.iinfo(x.dtype).min if np.issubdtype(x.dtype, np.integer) else -np.inf
        for _, _, tap in window_taps(to_nhwc(x, layout), op.attr("kernel"), op.attr("strides"), (1, 1),
                                     op.attr("padding"), lowest):
            out = tap.copy() if out is None else np.maximum(out, tap, out=out)
        return from_nhwc(apply_activation(out, op.attr("activation")), layout)


@register_op("core.avg_pool2d")
class AvgPool2D(PoolOp):
    """Mean over each window (TFLite AVERAGE_POOL_2D): padded cells are not counted."""

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        layout = op.attr("layout")
        image = to_nhwc(x, layout)
        kernel, strides, padding = op.attr("kernel"), op.attr("strides"), op.attr("padding")
        total = None
        for _, _, tap in window_taps(image, kernel, strides, (1, 1), padding, 0.0):
            total = tap.astype(np.float64) if total is None else total + tap
        ones = np.ones((1,) + image.shape[1:3] + (1,), dtype=np.float64)
        count = sum(tap for _, _, tap in window_taps(ones, kernel, strides, (1, 1), padding, 0.0))
        out = (total / count).astype(x.dtype)
        return from_nhwc(apply_activation(out, op.attr("activation")), layout)


@register_op("core.local_response_norm")
class LocalResponseNorm(CoreOp):
    """x / (bias + alpha * sum of x^2 over channels [c - radius, c + radius]) ** beta
    (TFLite LOCAL_RESPONSE_NORMALIZATION; ONNX LRN with odd size maps to radius=(size-1)/2, alpha/size)."""

    operands = ("input",)
    attrs = {"radius": 2, "bias": 1.0, "alpha": 1.0, "beta": 0.5, "layout": "NHWC"}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        if source.rank != 4:
            raise fail(op, f"input must be a 4-D image, got rank {source.rank}")
        choice_attr(op, "layout", LAYOUTS)
        if int_attr(op, "radius") < 0:
            raise fail(op, "radius must not be negative")
        for name in ("bias", "alpha", "beta"):
            float_attr(op, name)
        return computed(source, source.shape)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        axis = channel_axis(op.attr("layout"))
        radius = int(op.attr("radius"))
        squares = np.moveaxis(x.astype(np.float64) ** 2, axis, -1)
        padded = np.pad(squares, [(0, 0)] * 3 + [(radius, radius)])
        cumulative = np.concatenate([np.zeros(padded.shape[:-1] + (1,)), np.cumsum(padded, axis=-1)], axis=-1)
        window = cumulative[..., 2 * radius + 1:] - cumulative[..., :-2 * radius - 1]
        scale = (float(op.attr("bias")) + float(op.attr("alpha")) * np.moveaxis(window, -1, axis)) \
            ** float(op.attr("beta"))
        return (x / scale).astype(x.dtype)
