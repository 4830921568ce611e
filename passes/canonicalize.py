"""The ``canonicalize`` pass: a set of local simplifications run to a fixed point by the rewrite driver.

The patterns live by family in ``canonicalize_forwarding`` (forwarding and merging) and
``canonicalize_fusions`` (layers recognized as core ops)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qcompiler.ir import Graph
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.passes.canonicalize_forwarding import FORWARDING_PATTERNS
from qcompiler.passes.canonicalize_fusions import FUSION_PATTERNS
from qcompiler.rewrite import RewritePattern, apply_patterns


def canonicalization_patterns() -> list[RewritePattern]:
    """Fresh instances of every canonicalization pattern."""
    return [cls() for cls in FORWARDING_PATTERNS + FUSION_PATTERNS]


@register_pass
@dataclass
class Canonicalize(Pass):
    """Simplify locally until nothing changes: drop Identity/Dropout/no-op Reshape and Cast, merge Reshape,
    Transpose and constant Mul/Add chains, Sum -> Add, and recognize fully_connected, relu6, swish, gelu and
    layer_norm (core ops) in the patterns exporters emit."""

    name: ClassVar[str] = "canonicalize"

    def run(self, graph: Graph) -> bool:
        return apply_patterns(graph, canonicalization_patterns())
