"""The static arena plan: an offset for every buffer so that buffers live at the same time never overlap, except
where an op runs in place (its output may overlap its dying input, see ``overlap``).

Buffers tied by in-place steps form a block (members at fixed offsets relative to each other, each with its own
lifetime). Blocks are placed greedily at the lowest offset where no member collides with a placed buffer live at
the same time, as TFLite Micro's GreedyMemoryPlanner does for single buffers; several placement orders are
tried and the smallest arena is kept, so the plan is never worse than the size-ordered greedy one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Mapping, Optional, Sequence

from qcompiler.backends.c_common.liveness import Interval, lower_bound


@dataclass(frozen=True)
class InPlace:
    """``output`` may start ``distance`` bytes below ``input`` when ``input`` dies at step ``step``."""

    input: Hashable
    output: Hashable
    step: int
    distance: int


@dataclass
class ArenaPlan:
    """Offsets by buffer, the arena size, the lower bound of separate buffers, and the in-place steps taken."""

    offsets: dict[Hashable, int]
    size: int
    lower_bound: int
    in_place: list[InPlace] = field(default_factory=list)


@dataclass
class _Block:
    members: dict[Hashable, int]  # buffer -> offset relative to the block

    def extent(self, sizes: Mapping[Hashable, int]) -> int:
        return max(rel + sizes[key] for key, rel in self.members.items())


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def _merge(blocks: dict[Hashable, _Block], owner: dict[Hashable, Hashable], step: InPlace,
           sizes: Mapping[Hashable, int], alignment: int) -> None:
    block = blocks[owner[step.input]]
    rel = block.members[step.input] - _align(step.distance, alignment)
    if rel < 0:
        block.members = {key: value - rel for key, value in block.members.items()}
        rel = 0
    block.members[step.output] = rel
    owner[step.output] = owner[step.input]
    del blocks[step.output]


def _place(order: Sequence[Hashable], blocks: Mapping[Hashable, _Block], sizes: Mapping[Hashable, int],
           intervals: Mapping[Hashable, Interval], alignment: int) -> tuple[dict[Hashable, int], int]:
    placed: list[tuple[int, int, Interval]] = []  # (offset, size, interval) of placed buffers
    offsets: dict[Hashable, int] = {}
    for name in order:
        members = blocks[name].members
        candidates = {0}
        for offset, size, _ in placed:
            for rel in members.values():
                candidates.add(_align(max(0, offset + size - rel), alignment))
        for base in sorted(candidates):
            if all(not (intervals[key].overlaps(interval) and base + rel < offset + size
                        and offset < base + rel + sizes[key])
                   for key, rel in members.items() for offset, size, interval in placed):
                break
        for key, rel in members.items():
            offsets[key] = base + rel
            placed.append((base + rel, sizes[key], intervals[key]))
    size = max((offset + size for offset, size, _ in placed), default=0)
    return offsets, _align(size, alignment)


def plan_arena(sizes: Mapping[Hashable, int], intervals: Mapping[Hashable, Interval],
               in_place: Sequence[InPlace] = (), alignment: int = 4) -> ArenaPlan:
    """Plan offsets for ``sizes`` (bytes) live over ``intervals``; try each ``in_place`` candidate (in step order)
    and keep those that make the arena smaller. Ties are broken by the keys' text, so keys must be stable
    (names or schedule numbers, never object ids) for the plan to be deterministic."""
    def solve(taken: Sequence[InPlace]) -> tuple[dict[Hashable, int], int]:
        blocks = {key: _Block({key: 0}) for key in sizes}
        owner = {key: key for key in sizes}
        for step in taken:
            _merge(blocks, owner, step, sizes, alignment)
        orders = [
            sorted(blocks, key=lambda k: (-blocks[k].extent(sizes), _first(blocks[k], intervals), str(k))),
            sorted(blocks, key=lambda k: (_first(blocks[k], intervals), -blocks[k].extent(sizes), str(k))),
            sorted(blocks, key=lambda k: (-_span(blocks[k], intervals) * blocks[k].extent(sizes), str(k))),
        ]
        best: Optional[tuple[dict[Hashable, int], int]] = None
        for order in orders:
            result = _place(order, blocks, sizes, intervals, alignment)
            if best is None or result[1] < best[1]:
                best = result
        assert best is not None
        return best

    taken: list[InPlace] = []
    offsets, size = solve(taken)
    for candidate in sorted(in_place, key=lambda c: c.step):
        if intervals[candidate.input].last != candidate.step:
            continue
        if any(t.input == candidate.input for t in taken):
            continue
        trial_offsets, trial_size = solve(taken + [candidate])
        if trial_size <= size:
            taken.append(candidate)
            offsets, size = trial_offsets, trial_size
    return ArenaPlan(offsets, size, _align(lower_bound(sizes, intervals), alignment), taken)


def _first(block: _Block, intervals: Mapping[Hashable, Interval]) -> int:
    return min(intervals[key].first for key in block.members)


def _span(block: _Block, intervals: Mapping[Hashable, Interval]) -> int:
    return max(intervals[k].last for k in block.members) - _first(block, intervals) + 1
