"""The shared C-backend planner: live intervals, the lower bound, greedy offsets that never overlap live
buffers, in-place overlap distances that a simulated kernel never violates, and never a worse arena than the
size-ordered greedy plan of single buffers."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.backends.c_common import overlap
from qcompiler.backends.c_common.liveness import Interval, live_intervals, lower_bound
from qcompiler.backends.c_common.planner import InPlace, plan_arena


def chain(sizes):
    """A straight chain: step i reads buffer i-1 and writes buffer i."""
    steps = [([] if i == 0 else [i - 1], [i]) for i in range(len(sizes))]
    return dict(enumerate(sizes)), live_intervals(steps)


def assert_valid(plan, sizes, intervals, sanctioned=()):
    pairs = {(p.input, p.output) for p in sanctioned}
    keys = list(sizes)
    for i, a in enumerate(keys):
        assert plan.offsets[a] % 4 == 0 and plan.offsets[a] + sizes[a] <= plan.size
        for b in keys[i + 1:]:
            if (a, b) in pairs or (b, a) in pairs or not intervals[a].overlaps(intervals[b]):
                continue
            apart = plan.offsets[a] + sizes[a] <= plan.offsets[b] or plan.offsets[b] + sizes[b] <= plan.offsets[a]
            assert apart, f"buffers {a} and {b} overlap while both live"


def test_live_intervals_and_lower_bound():
    sizes, intervals = chain([100, 200, 50])
    assert intervals == {0: Interval(0, 1), 1: Interval(1, 2), 2: Interval(2, 2)}
    assert lower_bound(sizes, intervals) == 300


def test_chain_plan_reaches_the_lower_bound_without_in_place():
    sizes, intervals = chain([100, 200, 52, 300])
    plan = plan_arena(sizes, intervals)
    assert_valid(plan, sizes, intervals)
    assert plan.size == 352 and plan.lower_bound == 352


def greedy_by_size(sizes, intervals):
    """TFLite Micro's GreedyMemoryPlanner, as a baseline: largest first, lowest offset that fits."""
    placed = []
    for key in sorted(sizes, key=lambda k: -sizes[k]):
        offset = 0
        for other, at in sorted(placed, key=lambda p: p[1]):
            if intervals[key].overlaps(intervals[other]) and at < offset + sizes[key] and offset < at + sizes[other]:
                offset = at + sizes[other]
        placed.append((key, offset))
    return max(at + sizes[k] for k, at in placed)


@pytest.mark.parametrize("seed", range(20))
def test_random_schedules_are_valid_and_never_worse_than_greedy(seed):
    rng = np.random.default_rng(seed)
    count = int(rng.integers(3, 12))
    steps = []
    for index in range(count):
        reads = sorted({int(r) for r in rng.integers(0, index, size=2)}) if index else []
        steps.append((reads, [index]))
    intervals = live_intervals(steps)
    sizes = {k: int(rng.integers(1, 64)) * 4 for k in intervals}
    plan = plan_arena(sizes, intervals)
    assert_valid(plan, sizes, intervals)
    assert plan.lower_bound <= plan.size <= greedy_by_size(sizes, intervals)


def test_in_place_elementwise_shares_the_buffer():
    sizes, intervals = chain([256, 256, 256])
    candidates = [InPlace(0, 1, 1, 0), InPlace(1, 2, 2, 0)]
    plan = plan_arena(sizes, intervals, candidates)
    assert plan.size == 256 and len(plan.in_place) == 2
    assert_valid(plan, sizes, intervals, plan.in_place)


def test_in_place_needs_the_input_to_die():
    steps = [([], [0]), ([0], [1]), ([0, 1], [2])]  # buffer 0 is read again after step 1
    intervals = live_intervals(steps)
    sizes = {0: 64, 1: 64, 2: 64}
    plan = plan_arena(sizes, intervals, [InPlace(0, 1, 1, 0)])
    assert plan.in_place == [] and plan.size == 192
    assert_valid(plan, sizes, intervals)


def simulate_overlap(first_reads, reads_of, in_count, out_itemsize, in_itemsize, distance):
    """Run a kernel that writes outputs in order over memory where the output starts ``distance`` bytes below
    the input; return whether every read saw the original input byte."""
    memory = {}
    for i in range(in_count * in_itemsize):
        memory[distance + i] = ("in", i)
    for o in range(len(first_reads)):
        for i in reads_of(o):
            for byte in range(i * in_itemsize, (i + 1) * in_itemsize):
                if memory.get(distance + byte) != ("in", byte):
                    return False
        for byte in range(o * out_itemsize, (o + 1) * out_itemsize):
            memory[byte] = ("out", o)
    return True


@pytest.mark.parametrize("strides,pads,kernel", [((1, 1), (1, 1), 3), ((2, 2), (1, 1), 3), ((2, 2), (0, 0), 2),
                                                   ((1, 1), (0, 0), 3)])
def test_window_overlap_distance_is_safe_and_tight(strides, pads, kernel):
    h = w = 6
    c = 2
    out_h = (h + 2 * pads[0] - kernel) // strides[0] + 1
    out_w = (w + 2 * pads[1] - kernel) // strides[1] + 1
    first = overlap.window_first_reads(1, (h, w), c, (out_h, out_w), c, strides, pads, lambda oc: oc)

    def reads_of(o):
        pixel, channel = divmod(o, c)
        oy, ox = divmod(pixel, out_w)
        cells = []
        for ky in range(kernel):
            for kx in range(kernel):
                y, x = oy * strides[0] - pads[0] + ky, ox * strides[1] - pads[1] + kx
                if 0 <= y < h and 0 <= x < w:
                    cells.append((y * w + x) * c + channel)
        return cells

    distance = overlap.safe_distance(first, 1, 1)
    assert simulate_overlap(first, reads_of, h * w * c, 1, 1, distance)
    if distance > 0:
        assert not simulate_overlap(first, reads_of, h * w * c, 1, 1, distance - 1)
    assert distance < out_h * out_w * c  # saves memory over separate buffers


def test_elementwise_overlap_is_zero_and_widening_needs_room():
    first = overlap.elementwise_first_reads(10)
    assert overlap.safe_distance(first, 1, 1) == 0
    widening = overlap.safe_distance(first, 4, 1)  # int8 -> float32 in place
    assert simulate_overlap(first, lambda o: [o], 10, 4, 1, widening)
    assert not simulate_overlap(first, lambda o: [o], 10, 4, 1, widening - 1)


def test_row_overlap_keeps_each_row_until_it_is_done():
    first = overlap.row_first_reads(3, 8, 5)
    distance = overlap.safe_distance(first, 1, 1)
    assert simulate_overlap(first, lambda o: list(range(o // 5 * 8, o // 5 * 8 + 8)), 24, 1, 1, distance)
