"""Operator versions and the model's minimum runtime version, by TFLite's versioning rules (op_version.cc and
runtime_version.cc of TensorFlow Lite) for the operators and type combinations this backend emits.

Each operator's rule is an ordered list of (condition, version) pairs on the operator's signature: the first
condition that holds gives the version, and 1 is the default. The runtime version of a model is the newest
release any of its (operator, version) pairs needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ai_edge_litert import schema_py_generated as schema

from qcompiler.types import TensorType

Op = schema.BuiltinOperator


@dataclass(frozen=True)
class Signature:
    """What an operator's version depends on: its tensors' IR types (None for an omitted input) and options."""

    inputs: tuple[Optional[TensorType], ...]
    output: Optional[TensorType]
    options: Any

    def input(self, index: int) -> str:
        """The element type of input ``index`` ('' when absent)."""
        if index >= len(self.inputs) or self.inputs[index] is None:
            return ""
        return self.inputs[index].element

    @property
    def first(self) -> str:
        """The element type of the first input."""
        return self.input(0)

    @property
    def hybrid(self) -> bool:
        """Float activations with int8 weights (TFLite's hybrid kernels)."""
        return self.first == "f32" and self.input(1) == "i8" and self.output is not None \
            and self.output.element == "f32"

    @property
    def per_channel_weights(self) -> bool:
        """Input 1 is quantized per axis."""
        weight = self.inputs[1] if len(self.inputs) > 1 else None
        return weight is not None and weight.quant is not None and weight.quant.is_per_axis

    @property
    def rank(self) -> int:
        """The rank of the first input."""
        first = self.inputs[0] if self.inputs else None
        return first.rank if first is not None and first.rank is not None else 0

    @property
    def broadcast_rank(self) -> int:
        """The largest input rank when two inputs differ in shape (binary broadcasting), else 0."""
        shapes = [t.shape for t in self.inputs[:2] if t is not None]
        if len(shapes) < 2 or shapes[0] == shapes[1]:
            return 0
        return max(len(s) for s in shapes)

    def option(self, name: str, default: Any = None) -> Any:
        """An options field (``default`` when there are no options)."""
        return getattr(self.options, name, default)


Rule = Sequence[tuple[Callable[[Signature], bool], int]]


def first_is(*elements: str) -> Callable[[Signature], bool]:
    """Condition: the first input's element type is one of ``elements``."""
    return lambda s: s.first in elements


INT8_INT16 = [(first_is("i16"), 3), (first_is("i8"), 2)]
INT8_ONLY = [(first_is("i8"), 2)]

#: Version rules of the operators the backend emits (operators absent here are version 1).
RULES: dict[int, Rule] = {
    Op.CONV_2D: [
        (lambda s: _grouped(s), 6), (first_is("i16"), 4), (first_is("i8"), 3),
        (lambda s: s.hybrid and s.per_channel_weights, 5), (lambda s: s.hybrid, 2)],
    Op.DEPTHWISE_CONV_2D: [
        (first_is("i16"), 5), (lambda s: s.hybrid and s.per_channel_weights, 6), (lambda s: s.hybrid, 4),
        (first_is("i8"), 3),
        (lambda s: s.option("dilationWFactor", 1) != 1 or s.option("dilationHFactor", 1) != 1, 2)],
    Op.FULLY_CONNECTED: [
        (lambda s: s.hybrid and s.per_channel_weights, 12), (first_is("i16"), 7),
        (lambda s: bool(s.option("keepNumDims")), 5), (first_is("i8"), 4),
        (lambda s: s.hybrid and bool(s.option("asymmetricQuantizeInputs")), 9), (lambda s: s.hybrid, 3)],
    Op.BATCH_MATMUL: [(first_is("i16"), 3), (first_is("i8"), 2),
                      (lambda s: s.hybrid and bool(s.option("asymmetricQuantizeInputs")), 4)],
    Op.ADD: [(first_is("i64"), 4), (lambda s: s.first == "i16" and not s.option("potScaleInt16", True), 3),
             (first_is("i8"), 2)],
    Op.SUB: [(lambda s: s.first == "i16" and not s.option("potScaleInt16", True), 5), (first_is("i64"), 4),
             (lambda s: s.broadcast_rank > 4, 3), (first_is("i8"), 2)],
    Op.MUL: [(first_is("i64"), 5), (first_is("i16"), 4), (lambda s: s.first == "i8" and _mul_rescale(s) >= 1.0, 3),
             (first_is("i8"), 2)],
    Op.DIV: [(lambda s: s.broadcast_rank > 4, 2)],
    Op.MAXIMUM: [(first_is("i16"), 4), (lambda s: s.broadcast_rank > 4, 3), (first_is("i8"), 2)],
    Op.MINIMUM: [(first_is("i16"), 4), (lambda s: s.broadcast_rank > 4, 3), (first_is("i8"), 2)],
    Op.MAX_POOL_2D: INT8_INT16, Op.AVERAGE_POOL_2D: INT8_INT16, Op.TANH: INT8_INT16, Op.LOGISTIC: INT8_INT16,
    Op.SOFTMAX: INT8_INT16, Op.MEAN: INT8_INT16, Op.REDUCE_MAX: INT8_INT16, Op.REDUCE_MIN: INT8_INT16,
    Op.RELU6: INT8_INT16, Op.RSQRT: INT8_INT16, Op.CONCATENATION: INT8_INT16,
    Op.RELU: [(first_is("i16"), 3), (first_is("i8", "u8"), 2)],
    Op.LEAKY_RELU: [(first_is("i16"), 2)],
    Op.PAD: [(lambda s: s.rank > 4, 4)] + INT8_INT16, Op.PADV2: [(lambda s: s.rank > 4, 4)] + INT8_INT16,
    Op.TRANSPOSE: [(lambda s: s.rank > 5, 6), (first_is("i16"), 5), (lambda s: s.rank > 4, 4), (first_is("bool"), 3),
                   (first_is("i8"), 2)],
    Op.STRIDED_SLICE: [(lambda s: bool(s.option("offset")), 8),
                       (lambda s: bool(s.option("ellipsisMask") or s.option("newAxisMask")), 6),
                       (lambda s: s.rank > 4, 4), (first_is("bool"), 3), (first_is("i8"), 2)],
    Op.GATHER: [(lambda s: s.input(1) == "i16", 6), (lambda s: bool(s.option("batchDims")), 5), (first_is("i16"), 4),
                (first_is("bool"), 3), (first_is("i8"), 2)],
    Op.SPLIT_V: INT8_ONLY, Op.SUM: INT8_ONLY, Op.SQUARED_DIFFERENCE: INT8_ONLY,
    Op.EXP: [(first_is("i8", "i16"), 2)], Op.LOG: [(first_is("i8", "i16"), 2)],
    Op.REDUCE_PROD: [(first_is("i8", "i16"), 2)],
    Op.GELU: [(first_is("i8", "u8"), 2)],
    Op.BROADCAST_TO: [(first_is("i8", "i16"), 3), (lambda s: True, 2)],
    Op.DEQUANTIZE: [(first_is("i16", "f16"), 3), (lambda s: s.first == "i8" and _per_axis(s.inputs[0]), 5),
                    (first_is("i8"), 2)],
    Op.QUANTIZE: [(lambda s: _per_axis(s.output), 3), (lambda s: _out(s) == "i16", 2)],
    Op.CAST: [(lambda s: "bf16" in (s.first, _out(s)), 7), (lambda s: bool({"f64", "f16"} & {s.first, _out(s)}), 5),
              (lambda s: "u16" in (s.first, _out(s)), 4), (lambda s: "i8" in (s.first, _out(s)), 3),
              (lambda s: "u32" in (s.first, _out(s)), 2)],
}


def _out(signature: Signature) -> str:
    return signature.output.element if signature.output is not None else ""


def _per_axis(type: Optional[TensorType]) -> bool:
    return type is not None and type.quant is not None and type.quant.is_per_axis


def _grouped(signature: Signature) -> bool:
    """A convolution whose filter sees fewer channels than the input has (TFLite infers groups from it)."""
    source = signature.inputs[0]
    weight = signature.inputs[1] if len(signature.inputs) > 1 else None
    return source is not None and weight is not None and source.rank == 4 and weight.rank == 4 \
        and source.shape[3] != weight.shape[3]


def _mul_rescale(signature: Signature) -> float:
    """input1 scale * input2 scale / output scale of a quantized MUL (0 when not all are quantized)."""
    types = [signature.inputs[0], signature.inputs[1] if len(signature.inputs) > 1 else None, signature.output]
    if any(t is None or t.quant is None or t.quant.is_per_axis for t in types):
        return 0.0
    return types[0].quant.scale * types[1].quant.scale / types[2].quant.scale


#: The runtime release that first runs (operator, version) for the pairs the backend emits.
RUNTIME_VERSIONS: dict[tuple[int, int], str] = {
    (Op.AVERAGE_POOL_2D, 1): "1.5.0", (Op.AVERAGE_POOL_2D, 2): "1.14.0", (Op.AVERAGE_POOL_2D, 3): "2.3.0",
    (Op.MAX_POOL_2D, 1): "1.5.0", (Op.MAX_POOL_2D, 2): "1.14.0", (Op.MAX_POOL_2D, 3): "2.3.0",
    (Op.BATCH_MATMUL, 1): "2.3.0", (Op.BATCH_MATMUL, 2): "2.3.0", (Op.BATCH_MATMUL, 3): "2.4.0",
    (Op.BATCH_MATMUL, 4): "2.5.0", (Op.BROADCAST_TO, 2): "2.5.0", (Op.BROADCAST_TO, 3): "2.5.0",
    (Op.CONV_2D, 1): "1.5.0", (Op.CONV_2D, 2): "1.14.0", (Op.CONV_2D, 3): "1.14.0", (Op.CONV_2D, 4): "2.3.0",
    (Op.CONV_2D, 5): "2.4.0", (Op.CONV_2D, 6): "2.9.0",
    (Op.DEPTHWISE_CONV_2D, 1): "1.5.0", (Op.DEPTHWISE_CONV_2D, 2): "1.12.0", (Op.DEPTHWISE_CONV_2D, 3): "1.14.0",
    (Op.DEPTHWISE_CONV_2D, 4): "2.2.0", (Op.DEPTHWISE_CONV_2D, 5): "2.3.0", (Op.DEPTHWISE_CONV_2D, 6): "2.3.0",
    (Op.ADD, 1): "1.5.0", (Op.ADD, 2): "1.14.0", (Op.ADD, 3): "2.4.0", (Op.ADD, 4): "2.6.0",
    (Op.SUB, 1): "1.6.0", (Op.SUB, 2): "1.14.0", (Op.SUB, 3): "2.3.0", (Op.SUB, 4): "2.4.0", (Op.SUB, 5): "2.4.0",
    (Op.MUL, 1): "1.5.0", (Op.MUL, 2): "1.14.0", (Op.MUL, 3): "1.15.0", (Op.MUL, 4): "2.3.0", (Op.MUL, 5): "2.6.0",
    (Op.DIV, 1): "1.6.0", (Op.DIV, 2): "2.3.0",
    (Op.CAST, 1): "1.5.0", (Op.CAST, 2): "2.7.0", (Op.CAST, 3): "2.8.0", (Op.CAST, 4): "2.9.0",
    (Op.CONCATENATION, 1): "1.5.0", (Op.CONCATENATION, 2): "1.14.0", (Op.CONCATENATION, 3): "2.3.0",
    (Op.FULLY_CONNECTED, 1): "1.5.0", (Op.FULLY_CONNECTED, 3): "1.14.0", (Op.FULLY_CONNECTED, 4): "1.14.0",
    (Op.FULLY_CONNECTED, 5): "2.0.0", (Op.FULLY_CONNECTED, 7): "2.3.0", (Op.FULLY_CONNECTED, 9): "2.3.0",
    (Op.GATHER, 1): "1.6.0", (Op.GATHER, 2): "1.14.0", (Op.GATHER, 3): "1.15.0", (Op.GATHER, 4): "2.4.0",
    (Op.GATHER, 5): "2.5.0", (Op.LOCAL_RESPONSE_NORMALIZATION, 1): "1.5.0",
    (Op.MAXIMUM, 1): "1.14.0", (Op.MAXIMUM, 2): "1.14.0", (Op.MAXIMUM, 3): "2.3.0", (Op.MAXIMUM, 4): "2.3.0",
    (Op.MINIMUM, 1): "1.14.0", (Op.MINIMUM, 2): "1.14.0", (Op.MINIMUM, 3): "2.3.0", (Op.MINIMUM, 4): "2.3.0",
    (Op.PAD, 1): "1.5.0", (Op.PAD, 2): "1.14.0", (Op.PAD, 3): "2.4.0", (Op.PAD, 4): "2.6.0",
    (Op.PADV2, 1): "1.9.0", (Op.PADV2, 2): "1.14.0", (Op.PADV2, 3): "2.4.0", (Op.PADV2, 4): "2.6.0",
    (Op.RESHAPE, 1): "1.5.0", (Op.SOFTMAX, 1): "1.5.0", (Op.SOFTMAX, 2): "1.14.0", (Op.SOFTMAX, 3): "2.3.0",
    (Op.TRANSPOSE, 1): "1.6.0", (Op.TRANSPOSE, 2): "1.14.0", (Op.TRANSPOSE, 3): "1.15.0", (Op.TRANSPOSE, 4): "2.3.0",
    (Op.TRANSPOSE, 5): "2.4.0", (Op.MEAN, 1): "1.6.0", (Op.MEAN, 2): "1.14.0", (Op.MEAN, 3): "2.4.0",
    (Op.SUM, 1): "1.10.0", (Op.SUM, 2): "1.15.0", (Op.REDUCE_MAX, 1): "1.11.0", (Op.REDUCE_MAX, 2): "1.14.0",
    (Op.REDUCE_MAX, 3): "2.5.0", (Op.REDUCE_MIN, 1): "1.11.0", (Op.REDUCE_MIN, 2): "1.14.0",
    (Op.REDUCE_MIN, 3): "2.5.0", (Op.REDUCE_PROD, 1): "1.11.0", (Op.REDUCE_PROD, 2): "2.6.0",
    (Op.RELU6, 1): "1.5.0", (Op.RELU6, 2): "1.14.0", (Op.RELU6, 3): "2.5.0",
    (Op.SPLIT_V, 1): "1.13.1", (Op.SPLIT_V, 2): "2.3.0",
    (Op.STRIDED_SLICE, 1): "1.6.0", (Op.STRIDED_SLICE, 2): "1.14.0", (Op.STRIDED_SLICE, 3): "2.1.0",
    (Op.STRIDED_SLICE, 4): "2.2.0", (Op.STRIDED_SLICE, 5): "2.5.0", (Op.STRIDED_SLICE, 6): "2.6.0",
    (Op.TANH, 1): "1.14.0", (Op.TANH, 2): "1.14.0", (Op.TANH, 3): "2.3.0",
    (Op.LEAKY_RELU, 1): "1.13.1", (Op.LEAKY_RELU, 2): "2.3.0",
    (Op.LOGISTIC, 1): "1.14.0", (Op.LOGISTIC, 2): "1.14.0", (Op.LOGISTIC, 3): "2.3.0",
    (Op.SQUARED_DIFFERENCE, 1): "1.13.1", (Op.SQUARED_DIFFERENCE, 2): "2.5.0",
    (Op.DEQUANTIZE, 1): "1.13.1", (Op.DEQUANTIZE, 2): "1.14.0", (Op.DEQUANTIZE, 3): "1.15.0",
    (Op.DEQUANTIZE, 4): "2.2.0", (Op.DEQUANTIZE, 5): "2.7.0",
    (Op.QUANTIZE, 1): "1.14.0", (Op.QUANTIZE, 2): "1.15.0", (Op.QUANTIZE, 3): "2.7.0",
    (Op.RELU, 1): "1.5.0", (Op.RELU, 2): "2.1.0", (Op.RELU, 3): "2.5.0", (Op.RELU_N1_TO_1, 1): "1.5.0",
    (Op.RELU_0_TO_1, 1): "2.10.0", (Op.PRELU, 1): "1.8.0", (Op.EXP, 1): "1.7.0", (Op.COS, 1): "1.14.0",
    (Op.NEG, 1): "1.9.0", (Op.POW, 1): "1.10.0", (Op.SIN, 1): "1.9.0", (Op.LOG, 1): "1.14.0",
    (Op.SQRT, 1): "1.10.0", (Op.RSQRT, 1): "1.10.0", (Op.RSQRT, 2): "2.5.0", (Op.SQUARE, 1): "1.12.0",
    (Op.ABS, 1): "1.13.0", (Op.HARD_SWISH, 1): "1.15.0", (Op.FLOOR, 1): "1.9.0", (Op.CEIL, 1): "1.14.0",
    (Op.GELU, 1): "2.9.0", (Op.GELU, 2): "2.9.0",
}
BASELINE_RUNTIME = "1.5.0"


def operator_version(operator, type_of: Callable[[int], TensorType]) -> int:
    """The version of ``operator`` (a ``TflOperator``) from its tensors' types and its options."""
    signature = Signature(tuple(type_of(i) if i >= 0 else None for i in operator.inputs),
                          type_of(operator.outputs[0]) if operator.outputs else None, operator.options)
    for condition, version in RULES.get(operator.code, ()):
        if signature.inputs and condition(signature):
            return version
    return 2 if operator.code == Op.BROADCAST_TO else 1


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def min_runtime_version(operators: Sequence) -> str:
    """The oldest TFLite runtime that has every (operator, version) of the model (pairs with no known release
    are skipped, as TFLite's converter does)."""
    needed = BASELINE_RUNTIME
    for operator in operators:
        release = RUNTIME_VERSIONS.get((operator.code, operator.version))
        if release is not None and _version_key(release) > _version_key(needed):
            needed = release
    return needed
