"""``propagate-ranges``: make the recorded value ranges consistent with what int8 kernels require, before
``insert-qdq`` turns them into quantization parameters.

Rules, in order:
1. fused activation clamps (``activation = "relu"``, relu6, relu_n1_to_1) and standalone relu/relu6/clamp
   ops intersect their result's range with the clamp's interval;
2. ops with fixed int8 output parameters get those: softmax and logistic ``[0, 255/256]`` (scale 1/256,
   zero point -128), tanh ``[-1, 127/128]`` (scale 1/128, zero point 0);
3. values that must share quantization parameters share one range: a data-movement op (reshape, transpose,
   max_pool2d, pad, slice, gather, split, broadcast_to) ties its input to its results, a concat ties its
   inputs to its result; each tied group gets the union of its ranges (a pad's fill value included), or
   the fixed range of rule 2 when one of its members has one. Constants in a group get a ``range`` too.

With ``data-free=true`` values without a range first get one by interval arithmetic
(``data_free_ranges``) from the inputs' ranges (``input-range`` where none is recorded),
with a warning that the ranges are data-free. Decision: run it where the pipeline puts it, after cleanup
(batch norms are folded by then, so |w|-sum bounds carry the ranges); batch norms still in the graph narrow
their result to beta +- ``sigmas`` * |gamma|. Calibrated ranges are kept: data-free only fills gaps.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Op, Value
from qcompiler.ops.core_common import ACTIVATION_BOUNDS
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.pass_manager.manager import pass_output
from qcompiler.value_ranges import Range, get_range, intersect, is_float_tensor, set_range, union

from qcompiler.passes.data_free_ranges import data_free_ranges

#: Data-movement ops: their results are quantized with operand 0's parameters.
TIED_OPS = frozenset({"core.reshape", "core.transpose", "core.max_pool2d", "core.pad", "core.slice",
                      "core.gather", "core.split", "core.broadcast_to", "core.squeeze", "core.expand_dims"})
#: Ops whose int8 output parameters TFLite fixes, as the range that gives them.
FIXED_RANGES: dict[str, Range] = {
    "core.softmax": (0.0, 255.0 / 256.0),
    "core.sigmoid": (0.0, 255.0 / 256.0),
    "core.tanh": (-1.0, 127.0 / 128.0),
}
#: Standalone activation ops and their clamp interval.
CLAMP_OPS: dict[str, Range] = {"core.relu": ACTIVATION_BOUNDS["relu"], "core.relu6": ACTIVATION_BOUNDS["relu6"],
                               "core.relu_n1_to_1": ACTIVATION_BOUNDS["relu_n1_to_1"]}


class DataFreeRangesWarning(UserWarning):
    """Ranges came from interval arithmetic, not from calibration data: expect wider ranges, coarser steps."""


def clamp_bounds(op: Op) -> Optional[Range]:
    """The interval ``op`` clamps its result into (fused activation or clamp op), or None."""
    if op.kind in CLAMP_OPS:
        return CLAMP_OPS[op.kind]
    if op.kind == "core.clamp":
        return float(op.attr("min")), float(op.attr("max"))
    activation = op.attrs.get("activation")
    if isinstance(activation, str) and activation != "none" and activation in ACTIVATION_BOUNDS:
        return ACTIVATION_BOUNDS[activation]
    return None


class _Groups:
    """Union-find over values that must share one range."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.values: dict[int, Value] = {}
        self.fills: dict[int, list[Range]] = {}

    def find(self, key: int) -> int:
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def tie(self, values: Sequence[Value], fill: Optional[float] = None) -> None:
        """Put ``values`` (and a pad's fill value) into one group."""
        for value in values:
            if id(value) not in self.parent:
                self.parent[id(value)] = id(value)
                self.values[id(value)] = value
        roots = [self.find(id(v)) for v in values]
        for root in roots[1:]:
            if root != roots[0]:
                self.parent[root] = roots[0]
                self.fills.setdefault(roots[0], []).extend(self.fills.pop(root, []))
        if fill is not None:
            self.fills.setdefault(roots[0], []).append((fill, fill))

    def members(self) -> dict[int, list[Value]]:
        """The groups: root -> values, in the order values were first tied."""
        groups: dict[int, list[Value]] = {}
        for key, value in self.values.items():
            groups.setdefault(self.find(key), []).append(value)
        return groups


def _tied_values(op: Op) -> list[Value]:
    """The float values ``op`` ties together (none for ops that tie nothing)."""
    if op.kind in TIED_OPS:
        source = op.operand(0)
        values = ([source] if source is not None else []) + list(op.results)
    elif op.kind == "core.concat":
        values = [v for v in op.operands if v is not None] + list(op.results)
    else:
        return []
    return [v for v in values if is_float_tensor(v)]


def _missing_range_error(value: Value, data_free: bool) -> QCompilerError:
    if value.producer is None:
        return QCompilerError(f"graph input '{value.name}' has no range: run calibrate first, or "
                              f"propagate-ranges{{data-free=true input-range=MIN,MAX}}")
    op = value.producer
    hint = (f"data-free mode has no interval rule for {op.kind}" if data_free
            else "run calibrate first, or propagate-ranges{data-free=true}")
    return QCompilerError(f"%{value.name or '?'} ({op.kind}) has no range: {hint}", op.loc)


def _float_values(graph: Graph) -> list[Value]:
    """The values that need a range: float graph inputs and float op results (constants excluded)."""
    return [v for v in graph.values() if is_float_tensor(v) and not v.is_const]


def propagate_ranges(graph: Graph, *, data_free: bool = False, input_range: Range = (0.0, 1.0),
                     sigmas: float = 6.0) -> bool:
    """Apply the rules of this module to the ranges recorded in ``graph``; return whether any changed.

    With ``data_free`` values without a range get one by interval arithmetic first (inputs without a
    recorded range: ``input_range``), and a ``DataFreeRangesWarning`` plus a message on the pass output say so.
    Every float value must end up with a range (else a ``QCompilerError`` naming it).
    """
    if len(input_range) != 2 or not all(math.isfinite(float(x)) for x in input_range) \
            or float(input_range[0]) > float(input_range[1]):
        raise QCompilerError(f"input-range must be [min, max] with finite min <= max, got {list(input_range)}")
    values = _float_values(graph)
    before = {id(v): get_range(graph, v) for v in values}
    if data_free:
        low, high = float(input_range[0]), float(input_range[1])
        for value, value_range in data_free_ranges(graph, (low, high), sigmas).items():
            set_range(graph, value, value_range)
        message = (f"propagate-ranges: ranges are data-free (interval bounds from input range [{low}, {high}]"
                   f" where no range was recorded), not calibrated; they are wide, so calibrate for accuracy")
        warnings.warn(message, DataFreeRangesWarning, stacklevel=2)
        pass_output().write(f"warning: {message}\n")
    ranges: dict[int, Range] = {}
    for value in values:
        found = get_range(graph, value)
        if found is None:
            raise _missing_range_error(value, data_free)
        ranges[id(value)] = found
    fixed: dict[int, Range] = {}
    groups = _Groups()
    for op in graph:
        bounds = clamp_bounds(op)
        for value in op.results:
            if id(value) in ranges and bounds is not None:
                ranges[id(value)] = intersect(ranges[id(value)], bounds)
            if id(value) in ranges and op.kind in FIXED_RANGES:
                ranges[id(value)] = fixed[id(value)] = FIXED_RANGES[op.kind]
        tied = _tied_values(op)
        if len(tied) > 1:
            fill = float(op.attr("value")) if op.kind == "core.pad" else None
            groups.tie(tied, fill)
    constants: list[tuple[Value, Range]] = []
    for root, members in groups.members().items():
        member_ranges = [ranges.get(id(v)) or get_range(graph, v) for v in members]
        known = [r for r in member_ranges if r is not None]
        pinned = {fixed[id(v)] for v in members if id(v) in fixed}
        shared = pinned.pop() if len(pinned) == 1 else union(known + groups.fills.get(root, []))
        for value in members:
            if value.is_const:
                constants.append((value, shared))
            else:
                ranges[id(value)] = shared
    changed = False
    for value in values:
        if ranges[id(value)] != before[id(value)]:
            set_range(graph, value, ranges[id(value)])
            changed = True
    for value, shared in constants:
        if value.producer.attrs.get("range") != [shared[0], shared[1]]:
            set_range(graph, value, shared)
            changed = True
    return changed


@register_pass
@dataclass
class PropagateRanges(Pass):
    """Make value ranges consistent before insert-qdq: fused activation clamps, fixed softmax/logistic/tanh
    output ranges, one shared range over data-movement ops and concat inputs.

    ``data-free=true`` first fills missing ranges by interval arithmetic from ``input-range`` (and batch-norm
    statistics still in the graph, within ``sigmas`` standard deviations), with a warning.
    """

    name: ClassVar[str] = "propagate-ranges"
    data_free: bool = False
    input_range: tuple[float, ...] = (0.0, 1.0)
    sigmas: float = 6.0

    def run(self, graph: Graph) -> bool:
        """Propagate the ranges of ``graph``."""
        return propagate_ranges(graph, data_free=self.data_free, input_range=tuple(self.input_range),
                                sigmas=self.sigmas)
