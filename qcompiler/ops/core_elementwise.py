"""Elementwise core ops: binary arithmetic with numpy broadcasting (and TFLite's fused activation), and
unary activations and math functions. Each mirrors one TFLite builtin operator."""

from __future__ import annotations

import math
from typing import Callable, TYPE_CHECKING

import numpy as np

from qcompiler.ops.core_common import (
    CoreOp, activation_attr, apply_activation, broadcast_shapes, computed, fail, float_attr, bool_attr,
    operand_type)
from qcompiler.ops.registry import op as register_op
from qcompiler.types import TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op

_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise, correctly rounded in float64 (numpy has none; scipy is no dependency)."""
    return _erf(np.asarray(x, dtype=np.float64))


class BinaryOp(CoreOp):
    """A binary elementwise op with numpy broadcasting; ``compute`` holds the arithmetic."""

    operands = ("lhs", "rhs")
    attrs: dict = {}
    compute: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def infer(self, op: Op) -> TensorType:
        lhs, rhs = operand_type(op, 0), operand_type(op, 1)
        if "activation" in self.attrs:
            activation_attr(op)
        return computed(lhs, broadcast_shapes(op, lhs.shape, rhs.shape))

    def evaluate(self, op: Op, lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        dtype = op.result.type.dtype if op.results else np.result_type(lhs, rhs)
        out = np.asarray(type(self).compute(lhs, rhs)).astype(dtype, copy=False)
        if "activation" in self.attrs:
            out = apply_activation(out, op.attr("activation"))
        return out


def _binary(kind: str, compute: Callable, fused: bool, doc: str) -> type[BinaryOp]:
    cls = type(kind.split(".")[1].title() + "Op", (BinaryOp,), {
        "__doc__": doc, "compute": staticmethod(compute),
        "attrs": {"activation": "none"} if fused else {}})
    return register_op(kind)(cls)


def _divide(lhs: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    if np.issubdtype(np.result_type(lhs, rhs), np.integer):
        return np.trunc(np.divide(lhs, rhs)).astype(np.result_type(lhs, rhs))  # TFLite/ONNX truncate
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(lhs, rhs)


Add = _binary("core.add", np.add, True, "Elementwise lhs + rhs with a fused activation (TFLite ADD).")
Sub = _binary("core.sub", np.subtract, True, "Elementwise lhs - rhs with a fused activation (TFLite SUB).")
Mul = _binary("core.mul", np.multiply, True, "Elementwise lhs * rhs with a fused activation (TFLite MUL).")
Div = _binary("core.div", _divide, True, "Elementwise lhs / rhs with a fused activation (TFLite DIV).")
Maximum = _binary("core.maximum", np.maximum, False, "Elementwise maximum (TFLite MAXIMUM).")
Minimum = _binary("core.minimum", np.minimum, False, "Elementwise minimum (TFLite MINIMUM).")
Pow = _binary("core.pow", np.power, False, "Elementwise lhs ** rhs (TFLite POW).")
Prelu = _binary("core.prelu", lambda x, alpha: np.where(x >= 0, x, x * alpha), False,
                "x if x >= 0 else alpha * x, alpha broadcast against x (TFLite PRELU).")
SquaredDifference = _binary("core.squared_difference", lambda a, b: np.square(a - b), False,
                            "Elementwise (lhs - rhs)^2 (TFLite SQUARED_DIFFERENCE).")


class UnaryOp(CoreOp):
    """A unary elementwise op; ``compute(x, op)`` holds the math (float64 where float32 would lose bits)."""

    operands = ("input",)
    attrs: dict = {}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        self.check(op)
        return computed(source, source.shape)

    def check(self, op: Op) -> None:
        """Check the op's attributes (none by default)."""

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        dtype = op.result.type.dtype if op.results else x.dtype
        return np.asarray(self.compute(x, op)).astype(dtype, copy=False)

    def compute(self, x: np.ndarray, op) -> np.ndarray:
        """The elementwise function."""
        raise NotImplementedError


def _unary(kind: str, compute: Callable[[np.ndarray], np.ndarray], doc: str) -> type[UnaryOp]:
    cls = type(kind.split(".")[1].title().replace("_", "") + "Op", (UnaryOp,), {
        "__doc__": doc, "compute": lambda self, x, op: compute(x)})
    return register_op(kind)(cls)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, written through tanh so that it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


Relu = _unary("core.relu", lambda x: np.maximum(x, 0), "max(x, 0) (TFLite RELU).")
Relu6 = _unary("core.relu6", lambda x: np.clip(x, 0, 6), "min(max(x, 0), 6) (TFLite RELU6).")
ReluN1To1 = _unary("core.relu_n1_to_1", lambda x: np.clip(x, -1, 1), "min(max(x, -1), 1) (TFLite RELU_N1_TO_1).")
Sigmoid = _unary("core.sigmoid", sigmoid, "1 / (1 + exp(-x)) (TFLite LOGISTIC).")
Tanh = _unary("core.tanh", np.tanh, "tanh(x) (TFLite TANH).")
HardSwish = _unary("core.hard_swish", lambda x: x * np.clip(x + 3, 0, 6) / 6,
                   "x * relu6(x + 3) / 6 (TFLite HARD_SWISH).")
Swish = _unary("core.swish", lambda x: x * sigmoid(x), "x * sigmoid(x), also called SiLU.")
Exp = _unary("core.exp", np.exp, "exp(x) (TFLite EXP).")
Log = _unary("core.log", np.log, "Natural logarithm (TFLite LOG).")
Sqrt = _unary("core.sqrt", np.sqrt, "Square root (TFLite SQRT).")
Rsqrt = _unary("core.rsqrt", lambda x: 1.0 / np.sqrt(x), "1 / sqrt(x) (TFLite RSQRT).")
Abs = _unary("core.abs", np.abs, "|x| (TFLite ABS).")
Neg = _unary("core.neg", np.negative, "-x (TFLite NEG).")
Square = _unary("core.square", np.square, "x * x (TFLite SQUARE).")
Floor = _unary("core.floor", np.floor, "Round down (TFLite FLOOR).")
Ceil = _unary("core.ceil", np.ceil, "Round up (TFLite CEIL).")
Erf = _unary("core.erf", erf, "The error function (lowered by backends that lack it).")
Sin = _unary("core.sin", np.sin, "sin(x) (TFLite SIN).")
Cos = _unary("core.cos", np.cos, "cos(x) (TFLite COS).")


@register_op("core.clamp")
class Clamp(UnaryOp):
    """min(max(x, min), max); bounds are floats, ``-inf``/``inf`` for an open side."""

    attrs = {"min": -math.inf, "max": math.inf}

    def check(self, op: Op) -> None:
        if float_attr(op, "min") > float_attr(op, "max"):
            raise fail(op, f"min {op.attr('min')} is above max {op.attr('max')}")

    def compute(self, x: np.ndarray, op) -> np.ndarray:
        return np.clip(x, float(op.attr("min")), float(op.attr("max")))


@register_op("core.leaky_relu")
class LeakyRelu(UnaryOp):
    """x if x >= 0 else alpha * x (TFLite LEAKY_RELU)."""

    attrs = {"alpha": 0.01}

    def check(self, op: Op) -> None:
        float_attr(op, "alpha")

    def compute(self, x: np.ndarray, op) -> np.ndarray:
        return np.where(x >= 0, x, x * np.asarray(float(op.attr("alpha")), dtype=x.dtype))


@register_op("core.gelu")
class Gelu(UnaryOp):
    """Gaussian error linear unit (TFLite GELU): x * Phi(x) exactly (erf), or its tanh form if ``approximate``."""

    attrs = {"approximate": False}

    def check(self, op: Op) -> None:
        bool_attr(op, "approximate")

    def compute(self, x: np.ndarray, op) -> np.ndarray:
        wide = np.asarray(x, dtype=np.float64)
        if op.attr("approximate"):
            return 0.5 * wide * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (wide + 0.044715 * wide ** 3)))
        return 0.5 * wide * (1.0 + erf(wide / math.sqrt(2.0)))


@register_op("core.cast")
class Cast(CoreOp):
    """Convert the element type (TFLite CAST); ``to`` is an IR element type name such as ``f32`` or ``i32``."""

    operands = ("input",)
    attrs = {"to": "f32"}

    def infer(self, op: Op) -> TensorType:
        source = operand_type(op, 0)
        from qcompiler.types import ELEMENT_DTYPES

        to = op.attr("to")
        if to not in ELEMENT_DTYPES or to == "string":
            raise fail(op, f"cannot cast to '{to}'")
        return TensorType(source.shape, to)

    def evaluate(self, op: Op, x: np.ndarray) -> np.ndarray:
        return np.asarray(x).astype(op.result.type.dtype)
