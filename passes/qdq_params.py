"""Quantization parameters for ``insert-qdq``, TFLite style: activations from their calibrated range,
weights symmetric per channel (or per tensor) from their values, biases from the input and weight scales;
and quantized constants built from float arrays. The nudging itself lives in ``qcompiler.quant_math``."""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from qcompiler import quant_math
from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Op, Value
from qcompiler.types import QuantParams, TensorType
from qcompiler.value_ranges import Range

#: Activation storage of the full-integer modes.
ACTIVATION_STORAGE = {"int8": "i8", "int16x8": "i16"}
#: Bias storage of the full-integer modes.
BIAS_STORAGE = {"int8": "i32", "int16x8": "i64"}


def activation_params(value_range: Range, storage: str) -> QuantParams:
    """Per-tensor parameters for an activation over ``value_range``: int8 asymmetric in [-128, 127] with a
    zero point, int16 symmetric with zero point 0 (the range is widened to include 0)."""
    low, high = value_range
    symmetric = storage == "i16"
    return quant_math.choose_quant_params(low, high, storage, symmetric=symmetric, narrow_range=False)


def weight_params(array: np.ndarray, axis: Optional[int]) -> QuantParams:
    """Symmetric int8 parameters in [-127, 127] for a weight array: one scale per index of ``axis``, or one
    scale for the whole tensor when ``axis`` is None."""
    array = np.asarray(array, dtype=np.float64)
    if axis is None:
        return quant_math.choose_quant_params(float(array.min(initial=0.0)), float(array.max(initial=0.0)), "i8",
                                              symmetric=True, narrow_range=True)
    moved = np.moveaxis(array, axis, 0).reshape(array.shape[axis], -1)
    return quant_math.choose_per_axis_params(moved.min(axis=1, initial=0.0), moved.max(axis=1, initial=0.0),
                                             axis, "i8", narrow_range=True)


def recorded_weight_params(weight: Value, axis: int, recorded: Mapping[str, QuantParams]) -> Optional[QuantParams]:
    """The parameters a pre-quantized model stated for ``weight``, moved to ``axis`` (the layout may have
    changed since), when they are symmetric int8 and reproduce the constant exactly; else None (a folded
    batch norm, for one, changes the weight). They are looked up by the constant's name, else among the
    recorded parameters with one scale per channel (layout passes may rename a re-laid weight)."""
    array = weight.const_value
    if array is None or not recorded:
        return None
    named = recorded.get(weight.name or "")
    candidates = [named] if named is not None else [
        p for p in recorded.values() if p.is_per_axis and array.ndim > axis and len(p.scales) == array.shape[axis]]
    for params in candidates:
        if params.storage != "i8" or any(params.zero_points):
            continue
        if params.is_per_axis:
            if array.ndim <= axis or array.shape[axis] != len(params.scales):
                continue
            params = QuantParams.per_axis("i8", params.scales, params.zero_points, axis)
        if np.array_equal(quant_math.dequantize(quant_math.quantize(array, params), params), array):
            return params
    return None


def bias_params(input_params: QuantParams, weight: QuantParams, storage: str) -> QuantParams:
    """Bias parameters: scale input_scale * weight_scale[c] (float32-exact), zero point 0, per axis 0 when
    the weight is per channel."""
    scales = [quant_math.float32_scale(input_params.scale * s) for s in weight.scales]
    if weight.is_per_axis:
        return QuantParams.per_axis(storage, scales, [0] * len(scales), 0)
    return QuantParams.per_tensor(storage, scales[0], 0)


def quantized_const(graph: Graph, array: np.ndarray, params: QuantParams, name: Optional[str],
                    loc: Optional[str]) -> Value:
    """A constant holding ``array`` quantized with ``params`` (its type carries them)."""
    stored = np.ascontiguousarray(quant_math.quantize(np.asarray(array, dtype=np.float32), params))
    type_ = TensorType(tuple(stored.shape), params.storage, params)
    return graph.create("const", [], {"value": stored}, [type_], loc, [name]).result


def float16_const(graph: Graph, array: np.ndarray, name: Optional[str], loc: Optional[str]) -> Value:
    """A constant holding ``array`` rounded to float16 (TFLite's float16 weights)."""
    stored = np.asarray(array).astype(np.float16)
    return graph.create("const", [], {"value": stored}, [TensorType.of(stored)], loc, [name]).result


def per_tensor_input(op: Op, params: QuantParams) -> QuantParams:
    """``params`` of a weighted op's input, which must be per tensor (the bias scale derives from it)."""
    if params.is_per_axis:
        raise QCompilerError(f"{op.kind}: its input must be quantized per tensor", op.loc)
    return params
