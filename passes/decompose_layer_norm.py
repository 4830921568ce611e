"""``decompose-layer-norm``: core.layer_norm -> the elementwise ops TFLite's converter uses for int8 layer
normalization (MEAN, SQUARED_DIFFERENCE, ADD epsilon, RSQRT, SUB, MUL, then scale and bias), each of which
has an integer kernel, so that a transformer quantizes to integers end to end. Run it before ``calibrate``:
every new tensor needs its own range. For int16x8 (``squared_difference=False``) the squares are
MUL(centered, centered): TFLite's SQUARED_DIFFERENCE has no int16 kernel, SUB and MUL have."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler.ir import Graph, Op, Value
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.rewrite import RewritePattern, Rewriter, apply_patterns


class DecomposeLayerNorm(RewritePattern):
    """layer_norm(x, scale, bias) -> (x - mean) * rsqrt(mean((x - mean)^2) + epsilon) * scale + bias; the
    squares are squared_difference(x, mean) or, without ``squared_difference``, centered * centered."""

    root = "core.layer_norm"

    def __init__(self, squared_difference: bool = True) -> None:
        self.squared_difference = squared_difference

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = op.operand(0)
        if source.type.rank is None or source.type.element != "f32":
            return False
        rank = source.type.rank
        base = op.result.name

        def named(kind: str, operands: list, part: str, attrs: Optional[dict] = None) -> Value:
            return rw.create(kind, operands, attrs, result_names=[f"{base}.{part}" if base else None]).result

        reduce = {"axes": list(range(int(op.attr("axis")) % rank, rank)), "keepdims": True}
        mean = named("core.mean", [source], "mean", reduce)
        if self.squared_difference:
            squares = named("core.squared_difference", [source, mean], "squares")
            centered = None
        else:
            centered = named("core.sub", [source, mean], "centered")
            squares = named("core.mul", [centered, centered], "squares")
        variance = named("core.mean", [squares], "variance", reduce)
        epsilon = rw.const(np.asarray(op.attr("epsilon"), dtype=np.float32).reshape((1,) * rank),
                           name=f"{base}.epsilon" if base else None)
        inverse = named("core.rsqrt", [named("core.add", [variance, epsilon], "variance_eps")], "inverse_std")
        if centered is None:
            centered = named("core.sub", [source, mean], "centered")
        result = named("core.mul", [centered, inverse], "normalized")
        if op.operand(1) is not None:
            result = named("core.mul", [result, op.operand(1)], "scaled")
        if op.operand(2) is not None:
            result = named("core.add", [result, op.operand(2)], "biased")
        result.name = op.result.name
        rw.replace(op, [result])
        return True


@register_pass
@dataclass
class DecomposeLayerNormPass(Pass):
    """Split core.layer_norm into mean, squared_difference, add, rsqrt, sub and mul (TFLite's int8 layer norm),
    ops that have integer kernels; run before calibrate when quantizing a transformer to int8."""

    name: ClassVar[str] = "decompose-layer-norm"
    #: Square with SQUARED_DIFFERENCE (int8); False squares the centered values with MUL (int16x8).
    squared_difference: bool = True

    def run(self, graph: Graph) -> bool:
        """Decompose every layer norm."""
        return apply_patterns(graph, [DecomposeLayerNorm(self.squared_difference)])
