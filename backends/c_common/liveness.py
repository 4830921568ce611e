"""Live intervals of the buffers of a straight-line schedule, and the lower bound they imply on memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence


@dataclass(frozen=True)
class Interval:
    """A buffer is live from the step that writes it (``first``) to the last step that reads it (``last``)."""

    first: int
    last: int

    def overlaps(self, other: "Interval") -> bool:
        """Whether the two buffers are live at the same step."""
        return self.first <= other.last and other.first <= self.last


def live_intervals(steps: Sequence[tuple[Sequence[Hashable], Sequence[Hashable]]]) -> dict[Hashable, Interval]:
    """Intervals of every buffer named in ``steps``, a list of ``(reads, writes)`` per step in execution order.
    A buffer read before any write (a model input held elsewhere) starts at its first read."""
    first: dict[Hashable, int] = {}
    last: dict[Hashable, int] = {}
    for index, (reads, writes) in enumerate(steps):
        for key in list(writes) + list(reads):
            first.setdefault(key, index)
            last[key] = index
    return {key: Interval(first[key], last[key]) for key in first}


def lower_bound(sizes: Mapping[Hashable, int], intervals: Mapping[Hashable, Interval]) -> int:
    """The most bytes live at one step: no plan that keeps each buffer whole and separate can use less."""
    if not intervals:
        return 0
    steps = max(interval.last for interval in intervals.values()) + 1
    live = [0] * steps
    for key, interval in intervals.items():
        for step in range(interval.first, interval.last + 1):
            live[step] += sizes[key]
    return max(live)
