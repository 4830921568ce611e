"""Operator versions and the minimum runtime version of a model, following TFLite's op_version rules for the
operator/type combinations this backend emits (float, int8, int16x8, hybrid, float16 dequantize)."""

from __future__ import annotations

from typing import Callable, Sequence

from ai_edge_litert import schema_py_generated as schema

from qcompiler.types import TensorType

Op = schema.BuiltinOperator

#: Version of an operator when its first input is int8 (or uint8) and when it is int16, by builtin code.
QUANTIZED_VERSIONS: dict[int, tuple[int, int]] = {
    Op.CONV_2D: (3, 4), Op.DEPTHWISE_CONV_2D: (3, 5), Op.FULLY_CONNECTED: (4, 7), Op.BATCH_MATMUL: (2, 3),
    Op.ADD: (2, 3), Op.SUB: (2, 3), Op.MUL: (2, 4), Op.AVERAGE_POOL_2D: (2, 3), Op.MAX_POOL_2D: (2, 3),
    Op.MEAN: (2, 3), Op.SOFTMAX: (2, 3), Op.LOGISTIC: (2, 3), Op.TANH: (2, 3), Op.CONCATENATION: (2, 3),
    Op.PAD: (2, 4), Op.PADV2: (2, 4), Op.TRANSPOSE: (2, 5), Op.GATHER: (2, 5), Op.STRIDED_SLICE: (2, 5),
    Op.SQUARED_DIFFERENCE: (2, 2), Op.RSQRT: (2, 3), Op.GELU: (2, 2), Op.HARD_SWISH: (1, 1),
    Op.RESHAPE: (1, 1), Op.DEQUANTIZE: (2, 4), Op.QUANTIZE: (2, 4), Op.SUM: (2, 2), Op.REDUCE_MAX: (2, 3),
    Op.MAXIMUM: (2, 4), Op.MINIMUM: (2, 4), Op.RELU: (2, 3), Op.RELU6: (2, 3), Op.SPLIT_V: (2, 3),
}
#: Version of weight-quantized (hybrid) kernels: float activations, int8 weights.
HYBRID_VERSIONS: dict[int, int] = {Op.CONV_2D: 2, Op.DEPTHWISE_CONV_2D: 4, Op.FULLY_CONNECTED: 3,
                                   Op.BATCH_MATMUL: 4}
#: The runtime release that first runs (operator, version); anything absent needs only the baseline.
RUNTIME_VERSIONS: dict[tuple[int, int], str] = {
    (Op.CONV_2D, 2): "1.14.0", (Op.CONV_2D, 3): "1.14.0", (Op.CONV_2D, 4): "2.3.0",
    (Op.DEPTHWISE_CONV_2D, 3): "1.14.0", (Op.DEPTHWISE_CONV_2D, 4): "2.2.0", (Op.DEPTHWISE_CONV_2D, 5): "2.3.0",
    (Op.FULLY_CONNECTED, 3): "1.14.0", (Op.FULLY_CONNECTED, 4): "1.14.0", (Op.FULLY_CONNECTED, 5): "2.0.0",
    (Op.FULLY_CONNECTED, 7): "2.3.0", (Op.BATCH_MATMUL, 1): "2.3.0", (Op.BATCH_MATMUL, 2): "2.3.0",
    (Op.BATCH_MATMUL, 3): "2.4.0", (Op.BATCH_MATMUL, 4): "2.5.0", (Op.HARD_SWISH, 1): "1.15.0",
    (Op.GELU, 1): "2.9.0", (Op.GELU, 2): "2.9.0", (Op.DEQUANTIZE, 3): "1.15.0", (Op.DEQUANTIZE, 4): "2.2.0",
    (Op.QUANTIZE, 2): "1.15.0", (Op.QUANTIZE, 4): "2.3.0", (Op.SQUARED_DIFFERENCE, 2): "2.5.0",
    (Op.RSQRT, 2): "2.5.0", (Op.RSQRT, 3): "2.15.0", (Op.BROADCAST_TO, 2): "2.5.0",
}
#: Operators whose first registered version is above 1 (BROADCAST_TO's version 1 is the TF-kernel fallback).
MIN_VERSIONS: dict[int, int] = {Op.BROADCAST_TO: 2}
BASELINE_RUNTIME = "1.5.0"
QUANTIZED_RUNTIME = "1.14.0"
INT16_RUNTIME = "2.3.0"


def operator_version(operator, type_of: Callable[[int], TensorType]) -> int:
    """The version of ``operator`` (a ``TflOperator``) from the types of its tensors."""
    return max(_type_version(operator, type_of), MIN_VERSIONS.get(operator.code, 1))


def _type_version(operator, type_of: Callable[[int], TensorType]) -> int:
    inputs = [type_of(i) for i in operator.inputs if i >= 0]
    if not inputs:
        return 1
    first = inputs[0]
    code = operator.code
    if code == Op.DEQUANTIZE:
        return 3 if first.element == "f16" else (4 if first.element == "i16" else 2)
    if code == Op.QUANTIZE:
        out = type_of(operator.outputs[0])
        return 4 if out.element == "i16" else 2
    if first.element in ("i8", "u8") and first.quant is not None:
        return QUANTIZED_VERSIONS.get(code, (1, 1))[0]
    if first.element == "i16" and first.quant is not None:
        return QUANTIZED_VERSIONS.get(code, (1, 1))[1]
    if first.element == "f32" and len(inputs) > 1 and inputs[1].quant is not None:
        return HYBRID_VERSIONS.get(code, 1)
    if code == Op.FULLY_CONNECTED and getattr(operator.options, "keepNumDims", False):
        return 5
    return 1


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def min_runtime_version(operators: Sequence) -> str:
    """The oldest TFLite runtime that has every (operator, version) of the model."""
    needed = BASELINE_RUNTIME
    for operator in operators:
        candidates = [RUNTIME_VERSIONS.get((operator.code, operator.version), BASELINE_RUNTIME)]
        if operator.version > 1 and operator.code in QUANTIZED_VERSIONS:
            int16 = QUANTIZED_VERSIONS[operator.code][1]
            candidates.append(INT16_RUNTIME if operator.version >= int16 > QUANTIZED_VERSIONS[operator.code][0]
                              else QUANTIZED_RUNTIME)
        for candidate in candidates:
            if _version_key(candidate) > _version_key(needed):
                needed = candidate
    return needed
