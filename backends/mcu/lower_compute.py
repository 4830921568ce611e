"""MCU lowering rules of the compute ops: convolutions, dense layers, batched products, elementwise arithmetic,
table lookups, pooling, means and softmax (their integer parameters come from the q ops' definitions)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from qcompiler.backends.c_common import overlap
from qcompiler.backends.c_common.schedule import Step
from qcompiler.backends.mcu.lower import LOOKUP_KINDS, rule
from qcompiler.backends.mcu.operands import (
    clamp_of, constant_of, integer_attrs, padded4, params_of, per_channel, requires_nhwc, shape_of)
from qcompiler.errors import QCompilerError, UnsupportedOpError
from qcompiler.ir import Op
from qcompiler.ops.registry import get_op_def
from qcompiler.quant_math import mean_multiplier


# -- convolutions and dense layers -------------------------------------------------------------------------------
def _window_fields(op: Op, source: Sequence[int], result: Sequence[int], kernel: Sequence[int]) -> dict[str, Any]:
    strides, dilations = op.attr("strides", [1, 1]), op.attr("dilations", [1, 1])
    padding = op.attr("padding", [0, 0, 0, 0])
    return {"batches": source[0], "in_h": source[1], "in_w": source[2], "out_h": result[1], "out_w": result[2],
            "k_h": kernel[0], "k_w": kernel[1], "stride_h": int(strides[0]), "stride_w": int(strides[1]),
            "dilation_h": int(dilations[0]), "dilation_w": int(dilations[1]), "pad_top": int(padding[0]),
            "pad_left": int(padding[1])}


def filter_sums(taps_by_channel: np.ndarray) -> np.ndarray:
    """Per output channel, the sum of its int8 taps (rows of ``taps_by_channel``): the kernels add
    ``input_offset * sum`` once for windows inside the image instead of the offset at every tap."""
    return taps_by_channel.astype(np.int64).sum(axis=1).astype(np.int32)


def _accumulator_step(op: Op, kind: str, fields: dict[str, Any], channels: int, filter_: np.ndarray,
                      macs: int, first_reads: Optional[np.ndarray]) -> Step:
    source, result = params_of(op, op.operand(0)), params_of(op, op.result)
    attrs = integer_attrs(op)
    fields.update(input_offset=-source.zero_point, output_offset=result.zero_point,
                  act_min=int(attrs["act_min"]), act_max=int(attrs["act_max"]))
    arrays = {"filter": filter_, "multiplier": per_channel(attrs["multiplier"], channels),
              "shift": per_channel(attrs["shift"], channels)}
    bias = constant_of(op, 2, np.int32)
    if bias is not None:
        arrays["bias"] = bias
    return Step(op, kind, (f"qc_{kind}_s8",), [op.operand(0)], [op.result], fields, arrays, macs,
                first_reads=first_reads)


@rule("q.conv2d")
def lower_conv2d(op: Op) -> Step:
    """CONV_2D: OHWI filter, per-channel requantization; in-place-capable with a safe overlap."""
    requires_nhwc(op)
    source, result = shape_of(op, op.operand(0)), shape_of(op, op.result)
    out_c, k_h, k_w, in_c = shape_of(op, op.operand(1))
    if int(op.attr("groups", 1)) != 1 or in_c != source[3]:
        raise UnsupportedOpError(f"{op.kind}: grouped convolution is not supported by the MCU backend", op.loc)
    fields = _window_fields(op, source, result, (k_h, k_w))
    fields.update(in_c=in_c, out_c=out_c)
    reads = overlap.window_first_reads(source[0], source[1:3], in_c, result[1:3], out_c, op.attr("strides"),
                                       op.attr("padding"), lambda oc: 0)
    macs = int(np.prod(result)) * k_h * k_w * in_c
    filter_ = constant_of(op, 1, np.int8)
    step = _accumulator_step(op, "conv2d", fields, out_c, filter_, macs, reads)
    step.arrays["filter_sums"] = filter_sums(filter_.reshape(out_c, -1))
    return step


@rule("q.depthwise_conv2d")
def lower_depthwise_conv2d(op: Op) -> Step:
    """DEPTHWISE_CONV_2D: 1HWC filter; runs in place like TinyEngine (output overlapping the dying input)."""
    requires_nhwc(op)
    source, result = shape_of(op, op.operand(0)), shape_of(op, op.result)
    _, k_h, k_w, channels = shape_of(op, op.operand(1))
    multiplier = int(op.attr("depth_multiplier", 1))
    fields = _window_fields(op, source, result, (k_h, k_w))
    fields.update(in_c=source[3], depth_multiplier=multiplier)
    reads = overlap.window_first_reads(source[0], source[1:3], source[3], result[1:3], channels,
                                       op.attr("strides"), op.attr("padding"), lambda oc: oc // multiplier)
    macs = int(np.prod(result)) * k_h * k_w
    filter_ = constant_of(op, 1, np.int8)
    step = _accumulator_step(op, "depthwise_conv2d", fields, channels, filter_, macs, reads)
    step.arrays["filter_sums"] = filter_sums(filter_.reshape(-1, channels).T)
    return step


@rule("q.fully_connected")
def lower_fully_connected(op: Op) -> Step:
    """FULLY_CONNECTED: every leading dim is a row; per-tensor or per-channel rescaling by the exact double
    scales of ``q.fully_connected`` (``effective_scales``)."""
    source = shape_of(op, op.operand(0))
    out_features, in_features = shape_of(op, op.operand(1))
    rows = int(np.prod(source)) // in_features
    weight = op.operand(1).type.quant
    attrs = integer_attrs(op)
    fields = {"rows": rows, "in_features": in_features, "out_features": out_features,
              "filter_offset": -int(weight.zero_points[0]) if weight is not None else 0,
              "per_channel": int(len(np.asarray(attrs["multiplier"]).reshape(-1)) > 1)}
    channels = out_features if fields["per_channel"] else 1
    step = _accumulator_step(op, "fully_connected", fields, channels, constant_of(op, 1, np.int8),
                             rows * in_features * out_features,
                             overlap.row_first_reads(rows, in_features, out_features))
    # LiteRT's reference kernel (and the interpreter) rescale in double, not by the fixed-point multiplier.
    del step.arrays["multiplier"], step.arrays["shift"]
    step.arrays["scale"] = np.ascontiguousarray(get_op_def(op.kind).effective_scales(op)[:channels],
                                                dtype=np.float64)
    return step


# -- elementwise ---------------------------------------------------------------------------------------------------
def _broadcast_fields(op: Op) -> tuple[dict[str, Any], int]:
    """The 4-D broadcast description of a binary op and the operand that may share the output's buffer."""
    out = padded4(shape_of(op, op.result), op)
    strides = []
    for index in (0, 1):
        shape = padded4(shape_of(op, op.operand(index)), op)
        contiguous = [int(np.prod(shape[d + 1:])) for d in range(4)]
        strides.append([0 if shape[d] == 1 and out[d] != 1 else contiguous[d] for d in range(4)])
    full = [index for index in (0, 1) if shape_of(op, op.operand(index)) == shape_of(op, op.result)]
    return {"shape": {"dims": out, "lhs_strides": strides[0], "rhs_strides": strides[1]}}, (full[0] if full else -1)


def _binary_step(op: Op, kind: str, fields: dict[str, Any]) -> Step:
    shape_fields, operand = _broadcast_fields(op)
    count = int(np.prod(shape_of(op, op.result)))
    reads = overlap.elementwise_first_reads(count) if operand >= 0 else None
    return Step(op, kind, (f"qc_{kind}_s8",), [op.operand(0), op.operand(1)], [op.result], {**shape_fields, **fields},
                {}, count, first_reads=reads, in_place_operand=max(operand, 0))


@rule("q.squared_difference")
def lower_squared_difference(op: Op) -> Step:
    """SQUARED_DIFFERENCE (the int8 layer-norm decomposition's variance)."""
    lhs, rhs, result = params_of(op, op.operand(0)), params_of(op, op.operand(1)), params_of(op, op.result)
    attrs = integer_attrs(op)
    return _binary_step(op, "squared_difference", {
        "lhs_offset": -lhs.zero_point, "lhs_multiplier": int(attrs["lhs_multiplier"]),
        "lhs_shift": int(attrs["lhs_shift"]),
        "rhs_offset": -rhs.zero_point, "rhs_multiplier": int(attrs["rhs_multiplier"]),
        "rhs_shift": int(attrs["rhs_shift"]),
        "output_offset": result.zero_point, "output_multiplier": int(attrs["output_multiplier"]),
        "output_shift": int(attrs["output_shift"])})


@rule("q.batch_matmul")
def lower_batch_matmul(op: Op) -> Step:
    """BATCH_MATMUL of two int8 activations (up to two broadcast batch dims; adj_x / adj_y)."""
    lhs, rhs, result = params_of(op, op.operand(0)), params_of(op, op.operand(1)), params_of(op, op.result)
    out = shape_of(op, op.result)
    if len(out) > 4:
        raise UnsupportedOpError(f"{op.kind}: the MCU kernel takes at most 2 batch dims", op.loc)
    batch = padded4(out, op)[:2]
    fields: dict[str, Any] = {"batch_dims": batch}
    depth = 0
    for side, value, adjoint in (("lhs", op.operand(0), bool(op.attr("adj_x", False))),
                                 ("rhs", op.operand(1), bool(op.attr("adj_y", False)))):
        shape = padded4(shape_of(op, value), op)
        matrix = shape[2] * shape[3]
        strides = [shape[1] * matrix, matrix]
        fields[f"{side}_batch_strides"] = [0 if shape[d] == 1 and batch[d] != 1 else strides[d] for d in (0, 1)]
        # strides of the (row, depth) pair of lhs and of the (depth, column) pair of rhs, as stored
        pair = (shape[3], 1) if not adjoint else (1, shape[3])
        names = ("lhs_row_stride", "lhs_depth_stride") if side == "lhs" else ("rhs_depth_stride", "rhs_col_stride")
        fields.update(zip(names, pair))
        if side == "lhs":
            depth = shape[2] if adjoint else shape[3]
    attrs = integer_attrs(op)
    fields.update(rows=out[-2], depth=depth, cols=out[-1], lhs_offset=-lhs.zero_point, rhs_offset=-rhs.zero_point,
                  output_offset=result.zero_point, multiplier=int(np.asarray(attrs["multiplier"]).reshape(-1)[0]),
                  shift=int(np.asarray(attrs["shift"]).reshape(-1)[0]))
    return Step(op, "batch_matmul", ("qc_batch_matmul_s8",), [op.operand(0), op.operand(1)], [op.result], fields,
                {}, int(np.prod(out)) * depth)


@rule(*LOOKUP_KINDS)
def lower_lookup(op: Op) -> Step:
    """An elementwise int8 op as a table: its definition evaluated on every int8 value (the exact semantics of
    TFLite's kernel for that op). Inputs the op rejects (RSQRT below the zero point) map to the zero point."""
    params_of(op, op.operand(0))
    result = params_of(op, op.result)
    definition = get_op_def(op.kind)
    table = np.empty(256, dtype=np.int8)
    for index, value in enumerate(range(-128, 128)):
        try:
            table[index] = np.asarray(definition.evaluate(op, np.asarray([value], dtype=np.int8))).reshape(-1)[0]
        except QCompilerError:
            table[index] = result.zero_point
    count = int(np.prod(shape_of(op, op.result)))
    return Step(op, "lookup", ("qc_lookup_s8",), [op.operand(0)], [op.result], {"count": count},
                {"table": table}, count, first_reads=overlap.elementwise_first_reads(count))


@rule("q.add", "q.sub")
def lower_add(op: Op) -> Step:
    """ADD (and SUB: the same kernel, the definition negates the second multiplier)."""
    lhs, rhs, result = params_of(op, op.operand(0)), params_of(op, op.operand(1)), params_of(op, op.result)
    attrs = integer_attrs(op)
    return _binary_step(op, "add", {
        "left_shift": int(attrs["left_shift"]),
        "lhs_offset": -lhs.zero_point, "lhs_multiplier": int(attrs["input1_multiplier"]),
        "lhs_shift": int(attrs["input1_shift"]),
        "rhs_offset": -rhs.zero_point, "rhs_multiplier": int(attrs["input2_multiplier"]),
        "rhs_shift": int(attrs["input2_shift"]),
        "output_offset": result.zero_point, "output_multiplier": int(attrs["output_multiplier"]),
        "output_shift": int(attrs["output_shift"]), "act_min": int(attrs["act_min"]),
        "act_max": int(attrs["act_max"])})


@rule("q.mul")
def lower_mul(op: Op) -> Step:
    """MUL."""
    lhs, rhs, result = params_of(op, op.operand(0)), params_of(op, op.operand(1)), params_of(op, op.result)
    attrs = integer_attrs(op)
    return _binary_step(op, "mul", {
        "lhs_offset": -lhs.zero_point, "rhs_offset": -rhs.zero_point, "output_offset": result.zero_point,
        "output_multiplier": int(np.asarray(attrs["multiplier"]).reshape(-1)[0]),
        "output_shift": int(np.asarray(attrs["shift"]).reshape(-1)[0]),
        "act_min": int(attrs["act_min"]), "act_max": int(attrs["act_max"])})


# -- pooling and reductions --------------------------------------------------------------------------------------
@rule("q.avg_pool2d", "q.max_pool2d", "core.max_pool2d")
def lower_pool(op: Op) -> Step:
    """AVERAGE_POOL_2D / MAX_POOL_2D (input and output share parameters); in place with a safe overlap."""
    requires_nhwc(op)
    params_of(op, op.operand(0))
    source, result = shape_of(op, op.operand(0)), shape_of(op, op.result)
    kernel = [int(k) for k in op.attr("kernel")]
    kind = "avg_pool" if op.kind.endswith("avg_pool2d") else "max_pool"
    fields = _window_fields(op, source, result, kernel)
    del fields["dilation_h"], fields["dilation_w"]
    act_min, act_max = clamp_of(op)
    fields.update(channels=source[3], act_min=act_min, act_max=act_max)
    reads = overlap.window_first_reads(source[0], source[1:3], source[3], result[1:3], source[3],
                                       op.attr("strides"), op.attr("padding"), lambda c: c)
    return Step(op, kind, ("qc_pool_s8",), [op.operand(0)], [op.result], fields, {},
                int(np.prod(result)) * kernel[0] * kernel[1], first_reads=reads)


@rule("q.mean")
def lower_mean(op: Op) -> Step:
    """MEAN over any axes of a tensor of up to 4 dims."""
    source_params, result_params = params_of(op, op.operand(0)), params_of(op, op.result)
    source = shape_of(op, op.operand(0))
    rank = len(source)
    axes = sorted({int(a) % rank for a in op.attr("axes")})
    strides = [int(np.prod(source[d + 1:])) for d in range(rank)]
    kept = [d for d in range(rank) if d not in axes]
    count = int(np.prod([source[d] for d in axes]))

    def space(dims: list[int]) -> tuple[list[int], list[int]]:
        sizes, steps = padded4([source[d] for d in dims], op), padded4([strides[d] for d in dims], op)
        return sizes, [s if n > 1 else 0 for n, s in zip(sizes, steps)]

    kept_dims, kept_strides = space(kept)
    reduced_dims, reduced_strides = space(axes)
    attrs = integer_attrs(op)
    multiplier, shift = mean_multiplier(int(attrs["multiplier"]), int(attrs["shift"]), count)
    fields = {"kept_dims": kept_dims, "kept_strides": kept_strides, "reduced_dims": reduced_dims,
              "reduced_strides": reduced_strides, "zero_point_sum": source_params.zero_point * count,
              "multiplier": multiplier, "shift": shift, "output_zero_point": result_params.zero_point}
    grid = np.indices(kept_dims).reshape(4, -1)
    reads = (grid * np.asarray(kept_strides)[:, None]).sum(axis=0)
    return Step(op, "mean", ("qc_mean_s8",), [op.operand(0)], [op.result], fields, {}, int(np.prod(source)),
                first_reads=reads)


@rule("q.softmax")
def lower_softmax(op: Op) -> Step:
    """SOFTMAX over the last axis (int8 in, int8 out with scale 1/256 and zero point -128)."""
    params_of(op, op.operand(0))
    params_of(op, op.result)
    source = shape_of(op, op.operand(0))
    if int(op.attr("axis", -1)) % len(source) != len(source) - 1:
        raise UnsupportedOpError(f"{op.kind}: the MCU kernel takes the softmax over the last axis", op.loc)
    attrs = integer_attrs(op)
    depth = source[-1]
    rows = int(np.prod(source)) // depth
    fields = {"rows": rows, "depth": depth, "input_multiplier": int(attrs["input_multiplier"]),
              "input_left_shift": int(attrs["input_left_shift"]), "diff_min": int(attrs["diff_min"])}
    return Step(op, "softmax", ("qc_softmax_s8",), [op.operand(0)], [op.result], fields, {}, 3 * rows * depth,
                first_reads=overlap.row_first_reads(rows, depth, depth))
