"""legalize patterns for ONNX's layers: Conv (plain, grouped, depthwise), pooling (windowed and global),
reductions, Gemm/MatMul, BatchNormalization, LayerNormalization and LRN. Image ops keep ONNX's NCHW layout
(``layout = "NCHW"``); to-nhwc changes it."""

from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir import Op
from qcompiler.rewrite import RewritePattern, Rewriter
from qcompiler.passes.legalize_common import (const_of, ints_input, normalize_axis, only_first_result_used,
                                              replace_checked, resolve_padding, static_shape)


def _window_attrs(op: Op, kernel: list[int]) -> Optional[tuple[list[int], list[int], list[int]]]:
    """(strides, dilations, padding) of a 2-D ONNX window op on an NCHW input, or None. The batch dim may be
    symbolic; SAME padding needs static spatial dims."""
    shape = op.operand(0).type.shape
    if shape is None or len(shape) != 4:
        return None
    strides = [int(s) for s in op.attr("strides", [1, 1])]
    dilations = [int(d) for d in op.attr("dilations", [1, 1])]
    if len(strides) != 2 or len(dilations) != 2:
        return None
    padding = resolve_padding(op, shape[2:], kernel, strides, dilations)
    return None if padding is None else (strides, dilations, padding)


class ConvToCore(RewritePattern):
    """2-D Conv -> core.conv2d (NCHW, OIHW weights); group == C_in with C_out a multiple of it (and C_in > 1)
    -> core.depthwise_conv2d with depth_multiplier = C_out / C_in (the ONNX weight already is (C, 1, kh, kw))."""

    root = "onnx.Conv"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source, weight, bias = op.operand(0), op.operand(1), op.operand(2)
        weight_shape = static_shape(weight)
        if weight_shape is None or len(weight_shape) != 4:
            return False
        window = _window_attrs(op, list(weight_shape[2:]))
        if window is None:
            return False
        strides, dilations, padding = window
        groups = int(op.attr("group", 1))
        in_channels, out_channels = source.type.shape[1], weight_shape[0]
        common = {"strides": strides, "dilations": dilations, "padding": padding, "layout": "NCHW"}
        if groups == in_channels and groups > 1 and weight_shape[1] == 1 and out_channels % in_channels == 0:
            conv = rw.create("core.depthwise_conv2d", [source, weight, bias],
                             {**common, "depth_multiplier": out_channels // in_channels})
        else:
            conv = rw.create("core.conv2d", [source, weight, bias], {**common, "groups": groups})
        return replace_checked(rw, op, [conv.result])


class PoolToCore(RewritePattern):
    """MaxPool / AveragePool (2-D) -> core.max_pool2d / avg_pool2d with explicit padding.

    ceil_mode becomes extra bottom/right padding when the windows that adds still start inside the padded
    image (max pool: padded cells never win; average pool: they are not counted, as ONNX with
    count_include_pad=0). AveragePool with count_include_pad=1 and padding becomes core.pad (zeros) followed by
    an unpadded average pool, which counts the padded cells exactly as ONNX does.
    """

    root = ("onnx.MaxPool", "onnx.AveragePool")

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        if not only_first_result_used(op):
            return False
        kernel = [int(k) for k in op.attr("kernel_shape", [])]
        if len(kernel) != 2 or int(op.attr("storage_order", 0)) != 0:
            return False
        window = _window_attrs(op, kernel)
        if window is None:
            return False
        strides, dilations, padding = window
        if dilations != [1, 1]:
            return False
        shape = op.operand(0).type.shape
        if int(op.attr("ceil_mode", 0)):
            padding = _ceil_mode_padding(shape[2:], kernel, strides, padding)
            if padding is None:
                return False
        source = op.operand(0)
        is_max = op.kind == "onnx.MaxPool"
        if not is_max and int(op.attr("count_include_pad", 0)) and any(padding):
            top, left, bottom, right = padding
            source = rw.create("core.pad", [source], {"pads": [0, 0, top, left, 0, 0, bottom, right],
                                                      "value": 0.0}).result
            padding = [0, 0, 0, 0]
        if any(padding[i] >= kernel[i % 2] for i in range(4)):
            return False
        kind = "core.max_pool2d" if is_max else "core.avg_pool2d"
        pool = rw.create(kind, [source], {"kernel": kernel, "strides": strides, "padding": padding,
                                          "layout": "NCHW"})
        return replace_checked(rw, op, [pool.result] + [pool.result] * (len(op.results) - 1))


def _ceil_mode_padding(spatial, kernel, strides, padding) -> Optional[list[int]]:
    """Padding that makes floor division give ceil_mode's output size, or None when a window would start in
    the end padding (ONNX drops such windows)."""
    if not all(isinstance(d, int) for d in spatial):
        return None
    padding = list(padding)
    for axis in range(2):
        size = spatial[axis] + padding[axis] + padding[axis + 2]
        floor_out = (size - kernel[axis]) // strides[axis] + 1
        ceil_out = -(-(size - kernel[axis]) // strides[axis]) + 1
        if ceil_out == floor_out:
            continue
        if (ceil_out - 1) * strides[axis] >= spatial[axis] + padding[axis]:
            return None
        padding[axis + 2] += (ceil_out - 1) * strides[axis] + kernel[axis] - size
    return padding


class GlobalPoolToCore(RewritePattern):
    """GlobalAveragePool / GlobalMaxPool -> core.mean / core.reduce_max over the spatial axes, dims kept."""

    root = ("onnx.GlobalAveragePool", "onnx.GlobalMaxPool")

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        rank = op.operand(0).type.rank
        if rank is None or rank < 3:
            return False
        kind = "core.mean" if op.kind == "onnx.GlobalAveragePool" else "core.reduce_max"
        reduced = rw.create(kind, [op.operand(0)], {"axes": list(range(2, rank)), "keepdims": True})
        return replace_checked(rw, op, [reduced.result])


#: ONNX reductions, their core kinds, and the opset from which their axes are an operand.
_REDUCTIONS = {"ReduceMean": ("core.mean", 18), "ReduceSum": ("core.sum", 13), "ReduceMax": ("core.reduce_max", 18),
               "ReduceMin": ("core.reduce_min", 18), "ReduceProd": ("core.reduce_prod", 18)}


class ReduceToCore(RewritePattern):
    """ReduceMean/Sum/Max/Min/Prod with constant axes -> core.mean/sum/reduce_max/reduce_min/reduce_prod."""

    root = tuple(f"onnx.{name}" for name in _REDUCTIONS)

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        kind, since = _REDUCTIONS[op.kind[5:]]
        rank = op.operand(0).type.rank
        axes = ints_input(op, "axes", 1, since)
        if rank is None or axes is None:
            return False
        if not axes:
            if op.graph.opset >= since and int(op.attr("noop_with_empty_axes", 0)):
                return replace_checked(rw, op, [op.operand(0)])
            axes = list(range(rank))
        axes = sorted(normalize_axis(a, rank) for a in axes)
        reduced = rw.create(kind, [op.operand(0)], {"axes": axes, "keepdims": bool(op.attr("keepdims", 1))})
        return replace_checked(rw, op, [reduced.result])


class GemmToCore(RewritePattern):
    """Gemm with a constant B -> core.fully_connected: alpha and transB folded into a [N, K] weight, beta and
    C into the bias when C is one number per output (a full [M, N] C becomes a core.add); transA -> a
    core.transpose of A."""

    root = "onnx.Gemm"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source, b_value, c_value = op.operand(0), op.operand(1), op.operand(2)
        b = const_of(b_value)
        if b is None or b.ndim != 2 or b.dtype.kind != "f" or source.type.rank != 2:
            return False
        alpha, beta = float(op.attr("alpha", 1.0)), float(op.attr("beta", 1.0))
        weight = b if int(op.attr("transB", 0)) else b.T
        if alpha != 1.0:
            weight = weight * np.asarray(alpha, dtype=b.dtype)
        out_features = weight.shape[0]
        bias_value, add_after = None, None
        if c_value is not None and beta != 0.0:
            c = const_of(c_value)
            if c is not None and c.shape == (out_features,) and beta == 1.0 and c.dtype == b.dtype:
                bias_value = c_value
            elif c is not None and c.size in (1, out_features) and (c.ndim < 2 or c.shape[0] == 1):
                bias = np.broadcast_to(c.reshape(-1), (out_features,)) * np.asarray(beta, dtype=c.dtype)
                bias_value = rw.const(np.ascontiguousarray(bias.astype(b.dtype)), name=c_value.name)
            elif beta == 1.0:
                add_after = c_value
            else:
                return False
        if int(op.attr("transA", 0)):
            source = rw.create("core.transpose", [source], {"perm": [1, 0]}).result
        weight_value = b_value if weight is b else rw.const(np.ascontiguousarray(weight), name=b_value.name)
        result = rw.create("core.fully_connected", [source, weight_value, bias_value]).result
        if add_after is not None:
            result = rw.create("core.add", [result, add_after]).result
        return replace_checked(rw, op, [result])


class MatMulToCore(RewritePattern):
    """MatMul with a constant 2-D B -> core.fully_connected (weight B transposed to [N, K]); MatMul of two
    tensors of rank >= 2 -> core.batch_matmul."""

    root = "onnx.MatMul"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        a, b_value = op.operand(0), op.operand(1)
        b = const_of(b_value)
        if a.type.rank is None or b_value.type.rank is None:
            return False
        if b is not None and b.ndim == 2 and b.dtype.kind == "f" and a.type.rank >= 1:
            weight = rw.const(np.ascontiguousarray(b.T), name=b_value.name)
            return replace_checked(rw, op, [rw.create("core.fully_connected", [a, weight]).result])
        if a.type.rank < 2 or b_value.type.rank < 2:
            return False
        return replace_checked(rw, op, [rw.create("core.batch_matmul", [a, b_value]).result])


class BatchNormToCore(RewritePattern):
    """BatchNormalization (inference, constant statistics) that fold-batchnorm left alone -> core.mul and
    core.add by per-channel constants shaped to broadcast along axis 1."""

    root = "onnx.BatchNormalization"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        if not only_first_result_used(op) or int(op.attr("training_mode", 0)):
            return False
        arrays = [const_of(op.operand(i)) for i in range(1, 5)]
        rank = op.operand(0).type.rank
        if any(a is None for a in arrays) or rank is None or rank < 2:
            return False
        gamma, beta, mean, var = (a.astype(np.float64) for a in arrays)
        scale = gamma / np.sqrt(var + float(op.attr("epsilon", 1e-5)))
        shift = beta - mean * scale
        shape = (-1,) + (1,) * (rank - 2)
        dtype = op.operand(0).type.dtype
        scaled = rw.create("core.mul", [op.operand(0), rw.const(scale.astype(dtype).reshape(shape))]).result
        shifted = rw.create("core.add", [scaled, rw.const(shift.astype(dtype).reshape(shape))]).result
        return replace_checked(rw, op, [shifted] * len(op.results))


class LayerNormToCore(RewritePattern):
    """LayerNormalization (only the normalized output used) -> core.layer_norm {axis, epsilon}."""

    root = "onnx.LayerNormalization"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        rank = op.operand(0).type.rank
        if not only_first_result_used(op) or rank is None or int(op.attr("stash_type", 1)) != 1:
            return False
        axis = normalize_axis(int(op.attr("axis", -1)), rank)
        norm = rw.create("core.layer_norm", [op.operand(0), op.operand(1), op.operand(2)],
                         {"axis": axis, "epsilon": float(op.attr("epsilon", 1e-5))})
        return replace_checked(rw, op, [norm.result] * len(op.results))


class LrnToCore(RewritePattern):
    """LRN with an odd size -> core.local_response_norm {radius = (size-1)/2, alpha = alpha/size} (NCHW)."""

    root = "onnx.LRN"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        size = int(op.attr("size"))
        if size % 2 == 0 or op.operand(0).type.rank != 4:
            return False
        attrs = {"radius": (size - 1) // 2, "alpha": float(op.attr("alpha", 1e-4)) / size,
                 "beta": float(op.attr("beta", 0.75)), "bias": float(op.attr("bias", 1.0)), "layout": "NCHW"}
        return replace_checked(rw, op, [rw.create("core.local_response_norm", [op.operand(0)], attrs).result])


PATTERNS = [ConvToCore(), PoolToCore(), GlobalPoolToCore(), ReduceToCore(), GemmToCore(), MatMulToCore(),
            BatchNormToCore(), LayerNormToCore(), LrnToCore()]
