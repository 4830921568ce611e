"""legalize patterns for elementwise ONNX ops: binary arithmetic, Sum/Max/Min, unary activations and math,
Clip (to relu/relu6/relu_n1_to_1/clamp), Softmax, Cast, and the no-op Identity/Dropout."""

from __future__ import annotations

import math

import numpy as np

from qcompiler.ir import Op
from qcompiler.rewrite import RewritePattern, Rewriter
from qcompiler.passes.legalize_common import const_of, normalize_axis, only_first_result_used, replace_checked, \
    scalar_input, static_shape

#: ONNX binary ops and their core kinds (variadic Max/Min/Sum with two operands are binary too).
BINARY_KINDS = {"Add": "core.add", "Sub": "core.sub", "Mul": "core.mul", "Div": "core.div", "Pow": "core.pow",
                "Max": "core.maximum", "Min": "core.minimum", "Sum": "core.add", "PRelu": "core.prelu"}

#: ONNX unary ops with no attributes and their core kinds.
UNARY_KINDS = {"Relu": "core.relu", "Sigmoid": "core.sigmoid", "Tanh": "core.tanh", "Exp": "core.exp",
               "Log": "core.log", "Sqrt": "core.sqrt", "Abs": "core.abs", "Neg": "core.neg", "Erf": "core.erf",
               "Floor": "core.floor", "Ceil": "core.ceil", "HardSwish": "core.hard_swish", "Sin": "core.sin",
               "Cos": "core.cos"}


class BinaryToCore(RewritePattern):
    """Add/Sub/Mul/Div/Pow/Max/Min/Sum -> core binary ops (variadic forms folded left into a chain)."""

    root = tuple(f"onnx.{name}" for name in BINARY_KINDS)

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        operands = list(op.operands)
        if not operands or any(v is None or v.type.quant is not None for v in operands):
            return False
        if op.kind == "onnx.Pow" and operands[0].type.element != operands[1].type.element:
            return False  # core.pow keeps one element type
        kind = BINARY_KINDS[op.kind[5:]]
        result = operands[0]
        for operand in operands[1:]:
            result = rw.create(kind, [result, operand]).result
        return replace_checked(rw, op, [result])


class UnaryToCore(RewritePattern):
    """Attribute-free unary ONNX ops -> their core op."""

    root = tuple(f"onnx.{name}" for name in UNARY_KINDS)

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        return replace_checked(rw, op, [rw.create(UNARY_KINDS[op.kind[5:]], [op.operand(0)]).result])


class ReciprocalToCore(RewritePattern):
    """Reciprocal of floats -> core.div(1, x)."""

    root = "onnx.Reciprocal"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = op.operand(0)
        if source.type.dtype.kind != "f":
            return False
        one = rw.const(np.ones((), dtype=source.type.dtype))
        return replace_checked(rw, op, [rw.create("core.div", [one, source]).result])


class LeakyReluToCore(RewritePattern):
    """LeakyRelu -> core.leaky_relu {alpha}."""

    root = "onnx.LeakyRelu"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        alpha = float(op.attr("alpha", 0.01))
        return replace_checked(rw, op, [rw.create("core.leaky_relu", [op.operand(0)], {"alpha": alpha}).result])


class GeluToCore(RewritePattern):
    """Gelu (opset 20) -> core.gelu {approximate}."""

    root = "onnx.Gelu"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        approximate = op.attr("approximate", "none")
        approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
        gelu = rw.create("core.gelu", [op.operand(0)], {"approximate": approximate == "tanh"})
        return replace_checked(rw, op, [gelu.result])


#: Clip bounds that are TFLite activation functions.
_CLIP_KINDS = {(0.0, math.inf): "core.relu", (0.0, 6.0): "core.relu6", (-1.0, 1.0): "core.relu_n1_to_1"}


class ClipToCore(RewritePattern):
    """Clip with constant bounds -> core.relu / relu6 / relu_n1_to_1 when the bounds are those, else core.clamp."""

    root = "onnx.Clip"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = op.operand(0)
        if source.type.dtype.kind != "f":
            return False
        low = scalar_input(op, "min", 1, 11, -math.inf)
        high = scalar_input(op, "max", 2, 11, math.inf)
        if low is None or high is None:
            return False
        kind = _CLIP_KINDS.get((low, high))
        if kind is not None:
            return replace_checked(rw, op, [rw.create(kind, [source]).result])
        return replace_checked(rw, op, [rw.create("core.clamp", [source], {"min": low, "max": high}).result])


class SoftmaxToCore(RewritePattern):
    """Softmax -> core.softmax along one (non-negative) axis. Before opset 13 ONNX softmax works on the input
    flattened to 2-D at ``axis``: that is one axis when ``axis`` is the last, else reshape around it."""

    root = "onnx.Softmax"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = op.operand(0)
        rank = source.type.rank
        if rank is None or rank == 0:
            return False
        opset = op.graph.opset
        axis = normalize_axis(int(op.attr("axis", -1 if opset >= 13 else 1)), rank)
        if opset >= 13 or axis == rank - 1:
            return replace_checked(rw, op, [rw.create("core.softmax", [source], {"axis": axis}).result])
        shape = static_shape(source)
        if shape is None:
            return False
        flat = [int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64))]
        flattened = rw.create("core.reshape", [source], {"shape": flat}).result
        softmax = rw.create("core.softmax", [flattened], {"axis": 1}).result
        return replace_checked(rw, op, [rw.create("core.reshape", [softmax], {"shape": list(shape)}).result])


class CastToCore(RewritePattern):
    """Cast -> core.cast {to} (the element type ONNX inferred for the result)."""

    root = "onnx.Cast"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        to = op.result.type.element
        if to == "string" or op.operand(0).type.element == "string":
            return False
        if to == op.operand(0).type.element:
            return replace_checked(rw, op, [op.operand(0)])
        return replace_checked(rw, op, [rw.create("core.cast", [op.operand(0)], {"to": to}).result])


class DropNoOps(RewritePattern):
    """Identity, and Dropout in inference (mask unused) -> the input itself."""

    root = ("onnx.Identity", "onnx.Dropout")

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        if not only_first_result_used(op):
            return False
        if op.kind == "onnx.Dropout" and op.graph.opset >= 12:
            training = const_of(op.operand(2))
            if op.operand(2) is not None and (training is None or bool(np.asarray(training).reshape(-1)[0])):
                return False
        rw.replace(op, [op.operand(0)] + [op.operand(0)] * (len(op.results) - 1))
        return True


PATTERNS = [BinaryToCore(), UnaryToCore(), ReciprocalToCore(), LeakyReluToCore(), GeluToCore(), ClipToCore(), SoftmaxToCore(),
            CastToCore(), DropNoOps()]
