"""``lower-quantized``: QDQ form -> exact integer ops.

Each dequantize -> float core op -> quantize pattern becomes the ``q`` op of the same name (``q.conv2d``,
``q.add``, ...) on the quantized operands, with the integer attributes its definition derives
(``derive_attrs``: multipliers, shifts, activation clamps); data-movement core ops run on the quantized
values directly; a quantize of a dequantize cancels (same parameters) or becomes ``q.requantize``. What
stays float keeps its dequantize/quantize edges, so the model's interface stays float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np

from qcompiler import quant_math
from qcompiler.ir import Graph, Op, Value
from qcompiler.ops.registry import get_op_def
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.rewrite import RewritePattern, Rewriter, apply_patterns
from qcompiler.types import QuantParams, TensorType

from qcompiler.passes.quant_rules import (PARAMS_PRESERVING, POOLING, data_operands, q_kind, runs_quantized,
                                          supports_storage)

#: Attributes of the float op that the integer op does not take.
DROPPED_ATTRS = frozenset({"range"})


def quantized_source(value: Optional[Value]) -> Optional[Value]:
    """The quantized value that ``value`` dequantizes (``value = q.dequantize(source)``), or None."""
    if value is None or value.producer is None or value.producer.kind != "q.dequantize":
        return None
    source = value.producer.operand(0)
    return source if source is not None and source.type.quant is not None else None


def sole_quantize(value: Value) -> Optional[Op]:
    """The ``q.quantize`` that is the only reader of ``value``, or None."""
    if len(value.uses) != 1 or value.uses[0].op.kind != "q.quantize":
        return None
    return value.uses[0].op


def derived_op(rw: Rewriter, kind: str, operands: list[Optional[Value]], attrs: dict[str, Any],
               result_types: list[TensorType], names: list[Optional[str]]) -> Op:
    """Create ``kind`` and complete its attributes with its definition's ``derive_attrs`` (when it has one)."""
    new = rw.create(kind, operands, attrs, result_types, result_names=names)
    derive = getattr(get_op_def(kind), "derive_attrs", None)
    if derive is not None:
        new.attrs.update(derive(new))
    return new


def requantized(rw: Rewriter, value: Value, type_: TensorType) -> Value:
    """``value`` carried to ``type_``'s parameters: itself when they already agree, else a ``q.requantize``."""
    if value.type.quant == type_.quant and value.type.element == type_.element:
        return value
    return derived_op(rw, "q.requantize", [value], {}, [type_.with_shape(value.type.shape)], [None]).results[0]


class LowerQdqPattern(RewritePattern):
    """dequantize -> core op -> quantize  ==>  integer op (``q`` kernel, or the core op on quantized values)."""

    root = None

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        if not op.kind.startswith("core."):
            return False
        data = data_operands(op)
        sources = [quantized_source(op.operand(i)) if i in data else op.operand(i) for i in range(op.num_operands)]
        if any(sources[i] is None and op.operand(i) is not None for i in data):
            return False
        quantizes = [sole_quantize(v) for v in op.results]
        if not quantizes or any(q is None for q in quantizes):
            return False
        storage = sources[data[0]].type.element
        if not runs_quantized(op, storage):
            return False
        types = [q.result.type for q in quantizes]
        names = [q.result.name for q in quantizes]
        kind = q_kind(op.kind)
        if kind is not None and not supports_storage(kind, storage):
            kind = None
        moving = op.kind in PARAMS_PRESERVING and not (op.kind in POOLING and kind is not None)
        if op.kind == "core.concat" and kind is not None and any(s.type.quant != types[0].quant for s in sources):
            results = derived_op(rw, kind, sources, self._attrs(op, kind), types, names).results
        elif moving or op.kind == "core.concat":
            results = self._moved(op, rw, sources, types, names)
        elif kind is not None:
            results = derived_op(rw, kind, sources, self._attrs(op, kind), types, names).results
        else:
            return False
        for quantize, result in zip(quantizes, results):
            rw.replace(quantize, result)
        rw.erase(op)
        return True

    @staticmethod
    def _attrs(op: Op, kind: str) -> dict[str, Any]:
        """The float op's attributes that the integer op ``kind`` takes."""
        declared = get_op_def(kind).attrs
        return {k: v for k, v in op.attrs.items() if k not in DROPPED_ATTRS and k in declared}

    def _moved(self, op: Op, rw: Rewriter, sources: list[Optional[Value]], types: list[TensorType],
               names: list[Optional[str]]) -> list[Value]:
        """The core op itself on quantized operands (pad fills with the quantized pad value), requantized
        where its result's parameters must differ (concat inputs first brought to the output's)."""
        attrs = {k: v for k, v in op.attrs.items() if k not in DROPPED_ATTRS}
        if op.kind == "core.concat":
            sources = [requantized(rw, s, types[0]) for s in sources]
        if op.kind == "core.pad":
            attrs["value"] = float(_quantize_scalar(float(op.attr("value")), sources[0].type.quant))
        moved = rw.create(op.kind, sources, attrs, result_names=names)
        return [requantized(rw, value, type_) for value, type_ in zip(moved.results, types)]


def _quantize_scalar(real: float, params: QuantParams) -> int:
    return int(quant_math.quantize(np.asarray([real], dtype=np.float32), params)[0])


class FoldQuantizeDequantize(RewritePattern):
    """quantize(dequantize(x))  ==>  x (same parameters) or requantize(x)."""

    root = "q.quantize"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = quantized_source(op.operand(0))
        if source is None:
            return False
        result = requantized(rw, source, op.result.type)
        if result is not source and result.name is None:
            result.name = op.result.name
        rw.replace(op, result)
        return True


def lower_quantized(graph: Graph) -> bool:
    """Lower every QDQ pattern of ``graph`` to integer ops; return whether anything changed."""
    return apply_patterns(graph, [LowerQdqPattern(), FoldQuantizeDequantize()])


@register_pass
@dataclass
class LowerQuantized(Pass):
    """Turn dequantize -> op -> quantize patterns into exact integer ops (q.conv2d, q.add, ...; data-movement
    ops run on the quantized values) and cancel quantize/dequantize pairs (or requantize), keeping float I/O."""

    name: ClassVar[str] = "lower-quantized"

    def run(self, graph: Graph) -> bool:
        """Lower every pattern that can be."""
        return lower_quantized(graph)
