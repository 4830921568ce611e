"""MCU lowering rules of the data-movement ops (views, transposes, gathers, concatenation, padding) and of the
conversions at a model's edges (quantize, dequantize, requantize)."""

from __future__ import annotations

import numpy as np

from qcompiler.backends.c_common import overlap
from qcompiler.backends.c_common.schedule import Step
from qcompiler.backends.mcu.lower import rule
from qcompiler.backends.mcu.operands import constant_of, integer_attrs, itemsize, nbytes, padded4, params_of, shape_of
from qcompiler.errors import UnsupportedOpError
from qcompiler.ir import Op
from qcompiler.quant_math import float32_scale


# -- data movement ---------------------------------------------------------------------------------------------------
@rule("core.reshape")
def lower_reshape(op: Op) -> Step:
    """RESHAPE: a view of the input's bytes (no code)."""
    return Step(op, "copy", (), [op.operand(0)], [op.result], {"bytes": nbytes(op, op.result)}, alias=True)


@rule("core.transpose")
def lower_transpose(op: Op) -> Step:
    """TRANSPOSE of an int8 tensor of up to 6 dims."""
    source = shape_of(op, op.operand(0))
    if len(source) > 6 or itemsize(op, op.operand(0)) != 1:
        raise UnsupportedOpError(f"{op.kind}: the MCU kernel transposes int8 tensors of up to 6 dims", op.loc)
    perm = [int(p) % len(source) for p in op.attr("perm")]
    strides = [int(np.prod(source[d + 1:])) for d in range(len(source))]
    pad = 6 - len(source)
    return Step(op, "transpose", ("qc_transpose",), [op.operand(0)], [op.result],
                {"out_dims": [1] * pad + [source[p] for p in perm], "source_strides": [0] * pad + [strides[p] for p in perm]})


@rule("core.gather")
def lower_gather(op: Op) -> Step:
    """GATHER along an axis with constant indices, on raw bytes."""
    source = shape_of(op, op.operand(0))
    axis = int(op.attr("axis", 0)) % len(source)
    indices = constant_of(op, 1, np.int64)
    if indices is None or np.any(indices < -source[axis]) or np.any(indices >= source[axis]):
        raise UnsupportedOpError(f"{op.kind}: indices must be constants within the axis of size {source[axis]}",
                                 op.loc)
    indices = np.where(indices < 0, indices + source[axis], indices).astype(np.int32).reshape(-1)
    inner = int(np.prod(source[axis + 1:])) * itemsize(op, op.operand(0))
    return Step(op, "gather", ("qc_gather",), [op.operand(0)], [op.result],
                {"outer": int(np.prod(source[:axis])), "axis_size": source[axis], "count": int(indices.size),
                 "inner_bytes": inner}, {"indices": indices})


@rule("core.concat")
def lower_concat(op: Op) -> Step:
    """CONCATENATION of inputs sharing the output's parameters, on raw bytes."""
    shape = shape_of(op, op.result)
    axis = int(op.attr("axis")) % len(shape)
    runs = [int(np.prod(shape_of(op, v)[axis:])) * itemsize(op, v) for v in op.operands]
    return Step(op, "concat", ("qc_concat",), list(op.operands), [op.result],
                {"outer": int(np.prod(shape[:axis])), "num_inputs": len(runs)},
                {"run_bytes": np.asarray(runs, dtype=np.int32)})


@rule("core.pad")
def lower_pad(op: Op) -> Step:
    """PAD with the quantized pad value (lower-quantized stores it in ``value``)."""
    params_of(op, op.operand(0))
    source = shape_of(op, op.operand(0))
    rank = len(source)
    pads = [int(p) for p in op.attr("pads")]
    in_dims = padded4(source, op)
    before = [0] * (4 - rank) + pads[:rank]
    out_dims = padded4(shape_of(op, op.result), op)
    grid = np.indices(out_dims).reshape(4, -1) - np.asarray(before)[:, None]
    inside = np.all((grid >= 0) & (grid < np.asarray(in_dims)[:, None]), axis=0)
    flat = np.ravel_multi_index(np.where(inside, grid, 0), in_dims)
    reads = np.where(inside, flat, overlap.NO_READ)
    return Step(op, "pad", ("qc_pad",), [op.operand(0)], [op.result],
                {"in_dims": in_dims, "before": before, "out_dims": out_dims, "value": int(op.attr("value", 0))},
                first_reads=reads)


@rule("q.quantize")
def lower_quantize(op: Op) -> Step:
    """QUANTIZE float32 -> int8 (the model's float inputs)."""
    if op.operand(0).type.element != "f32":
        raise UnsupportedOpError(f"{op.kind}: the MCU backend quantizes f32, got {op.operand(0).type.element}",
                                 op.loc)
    result = params_of(op, op.result)
    count = int(np.prod(shape_of(op, op.result)))
    return Step(op, "quantize", ("qc_quantize",), [op.operand(0)], [op.result],
                {"count": count, "scale": np.float32(float32_scale(result.scale)),
                 "output_zero_point": result.zero_point}, {}, count,
                first_reads=overlap.elementwise_first_reads(count))


@rule("q.dequantize")
def lower_dequantize(op: Op) -> Step:
    """DEQUANTIZE int8 -> float32 (the model's float outputs)."""
    source = params_of(op, op.operand(0))
    count = int(np.prod(shape_of(op, op.result)))
    return Step(op, "dequantize", ("qc_quantize",), [op.operand(0)], [op.result],
                {"count": count, "dequantize_scale": float(float32_scale(source.scale)),
                 "input_zero_point": source.zero_point}, {}, count,
                first_reads=overlap.elementwise_first_reads(count))


@rule("q.requantize")
def lower_requantize(op: Op) -> Step:
    """int8 -> int8 QUANTIZE with other parameters."""
    source, result = params_of(op, op.operand(0)), params_of(op, op.result)
    attrs = integer_attrs(op)
    count = int(np.prod(shape_of(op, op.result)))
    return Step(op, "requantize", ("qc_quantize",), [op.operand(0)], [op.result],
                {"count": count, "input_zero_point": source.zero_point, "output_zero_point": result.zero_point,
                 "multiplier": int(attrs["multiplier"]), "shift": int(attrs["shift"])}, {}, count,
                first_reads=overlap.elementwise_first_reads(count))
