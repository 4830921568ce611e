"""The schedule a C backend emits: one step per op in graph order, each naming the kernel call that runs it, the
activation tensors it reads and writes, its constant arrays, its scalar parameters and its MAC count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from qcompiler.errors import UnsupportedOpError
from qcompiler.ir import CONST, RETURN, Graph, Op, Value


@dataclass
class Step:
    """One kernel call.

    ``kernel`` names the call template; ``sources`` the kernel source files it needs. ``inputs`` and ``outputs``
    are activation values (arena or caller buffers); ``arrays`` constant data for flash, by parameter name;
    ``params`` scalars and small lists for the template. ``alias`` marks a view (reshape): no code, the output
    is the input's bytes. ``first_reads`` (per output element, the lowest element of ``inputs[in_place_operand]``
    it reads) lets the planner overlap the output with that dying input.
    """

    op: Op
    kernel: str
    sources: tuple[str, ...]
    inputs: list[Value]
    outputs: list[Value]
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    macs: int = 0
    alias: bool = False
    first_reads: Optional[np.ndarray] = None
    in_place_operand: int = 0


Rule = Callable[[Op], Step]


def build_schedule(graph: Graph, rules: dict[str, Rule], target: str) -> list[Step]:
    """Steps for every op of ``graph`` in order (constants and the return are not steps); ops without a rule
    are reported together, each with its location."""
    steps: list[Step] = []
    missing: list[Op] = []
    for op in graph:
        if op.kind in (CONST, RETURN):
            continue
        rule = rules.get(op.kind)
        if rule is None:
            missing.append(op)
            continue
        steps.append(rule(op))
    if missing:
        kinds = sorted({op.kind for op in missing})
        where = next((op.loc for op in missing if op.loc), None)
        raise UnsupportedOpError(f"the {target} backend has no kernel for {', '.join(kinds)} "
                                 f"({len(missing)} op(s))", where)
    return steps
