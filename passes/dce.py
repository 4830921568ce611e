"""``dce``: dead-code elimination. Ops whose results are unused (and that have no side effects) go away."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qcompiler.ir import Graph
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.rewrite import is_trivially_dead


@register_pass
@dataclass
class DeadCodeElimination(Pass):
    """Remove ops whose results are never used (graph outputs count as uses), transitively.

    One backward sweep: an op's users come after it, so by the time it is visited every user that was going
    to be removed is gone. Graph inputs are the user's interface and are never removed.
    """

    name: ClassVar[str] = "dce"

    def run(self, graph: Graph) -> bool:
        """Erase dead ops from last to first; return whether any was erased."""
        erased = 0
        op = graph.last
        while op is not None:
            previous = op.prev
            if is_trivially_dead(op):
                op.erase()
                erased += 1
            op = previous
        return erased > 0
