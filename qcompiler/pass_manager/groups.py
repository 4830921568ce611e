"""Pass groups: ``fixed-point{max-iterations=N}(p1,p2,...)`` repeats its passes until none changes the graph.

The cleanup pipeline is one: folding can expose dead code, and removing it can expose more folding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

from qcompiler.ir import Graph
from qcompiler.pass_manager.registry import Pass, PassGroup, register_pass
from qcompiler.rewrite import ConvergenceError


@register_pass
@dataclass
class FixedPoint(PassGroup):
    """Run the nested passes in order, again and again, until a whole round changes nothing.

    Written ``fixed-point{max-iterations=N}(pass,pass,...)``; a named pipeline registered with
    ``fixed_point=True`` (such as ``cleanup``) expands to one. Fails with a clear error, naming the passes
    still changing the graph, when ``max-iterations`` rounds were not enough.
    """

    name: ClassVar[str] = "fixed-point"
    passes: list[Pass] = field(default_factory=list, metadata={"option": False})
    max_iterations: int = field(default=10, metadata={"doc": "rounds before giving up"})
    label: str = field(default="", metadata={"option": False})
    """The named pipeline this group expands (``cleanup``), shown by instrumentation instead of ``fixed-point``."""

    @property
    def display_name(self) -> str:
        """The named pipeline's name when the group came from one, else ``fixed-point``."""
        return self.label or self.name

    def pipeline_text(self) -> str:
        """The named pipeline's name when the group came from one (it expands back to this group)."""
        return self.label or super().pipeline_text()

    def run_nested(self, graph: Graph, run_one: Callable[[Pass, Graph], bool]) -> bool:
        """Rounds of ``run_one`` over the nested passes until one round changes nothing."""
        changed_any = False
        for _ in range(max(1, self.max_iterations)):
            changed = [p.name for p in self.passes if run_one(p, graph)]
            if not changed:
                return changed_any
            changed_any = True
        raise ConvergenceError(
            f"{self.display_name}({','.join(p.name for p in self.passes)}) did not converge in {self.max_iterations} "
            f"iteration(s); still changing the graph: {', '.join(changed)}")
