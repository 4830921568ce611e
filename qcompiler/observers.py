"""Range observers for calibration: each watches the arrays one tensor takes over many samples and returns
the ``(min, max)`` range to quantize it with.

``minmax`` keeps the extremes; ``moving-average`` averages each batch's extremes (PyTorch's
MovingAverageMinMaxObserver); ``percentile``, ``mse`` and ``entropy`` keep a streaming histogram with a
fixed bin count and choose a clipping range from it. Everything is numpy and deterministic: the same arrays
in the same order give the same range.
"""

from __future__ import annotations

import math
from typing import Callable, ClassVar, Optional

import numpy as np

from qcompiler.errors import QCompilerError

Range = tuple[float, float]


class Observer:
    """Watches the arrays of one tensor (``update``) and proposes a quantization range (``range``)."""

    method: ClassVar[str] = ""

    def update(self, array: np.ndarray) -> None:
        """Record one array (one sample, or one batch) of the tensor."""
        raise NotImplementedError

    def range(self) -> Range:
        """The chosen ``(min, max)``; raises when nothing was observed."""
        raise NotImplementedError


def _finite_extremes(array: np.ndarray) -> Optional[Range]:
    """``(min, max)`` of the finite values of ``array``, or None when it has none."""
    flat = np.asarray(array, dtype=np.float64).ravel()
    if flat.size == 0:
        return None
    if not np.isfinite(flat).all():
        flat = flat[np.isfinite(flat)]
        if flat.size == 0:
            return None
    return float(flat.min()), float(flat.max())


def _nothing_observed(method: str) -> QCompilerError:
    return QCompilerError(f"the {method} observer saw no finite value, so it has no range")


class MinMaxObserver(Observer):
    """The smallest and largest value ever seen (non-finite values are ignored)."""

    method = "minmax"

    def __init__(self) -> None:
        self.min = math.inf
        self.max = -math.inf

    def update(self, array: np.ndarray) -> None:
        """Widen the range to the array's extremes."""
        extremes = _finite_extremes(array)
        if extremes is not None:
            self.min = min(self.min, extremes[0])
            self.max = max(self.max, extremes[1])

    def range(self) -> Range:
        """The extremes seen so far."""
        if self.min > self.max:
            raise _nothing_observed(self.method)
        return self.min, self.max


class MovingAverageMinMaxObserver(Observer):
    """An exponential moving average of each update's extremes: the first update sets the range, later ones
    move it by ``averaging_constant`` towards their own extremes, so rare outliers weigh little."""

    method = "moving-average"

    def __init__(self, averaging_constant: float = 0.01) -> None:
        if not 0.0 < averaging_constant <= 1.0:
            raise QCompilerError(f"averaging constant must be in (0, 1], got {averaging_constant}")
        self.averaging_constant = float(averaging_constant)
        self.min: Optional[float] = None
        self.max: Optional[float] = None

    def update(self, array: np.ndarray) -> None:
        """Move the averaged extremes towards this array's extremes."""
        extremes = _finite_extremes(array)
        if extremes is None:
            return
        if self.min is None or self.max is None:
            self.min, self.max = extremes
            return
        c = self.averaging_constant
        self.min += c * (extremes[0] - self.min)
        self.max += c * (extremes[1] - self.max)

    def range(self) -> Range:
        """The averaged extremes."""
        if self.min is None or self.max is None:
            raise _nothing_observed(self.method)
        return self.min, self.max


class Histogram:
    """A streaming histogram with a fixed number of equal bins over ``[origin, origin + bins * width]``,
    which always contains 0 (quantized ranges always hold 0).

    When an array falls outside, the bins widen by a power of two and shift by whole old bins, so every old
    bin lands in exactly one new bin: no counts are split or guessed, and the result depends only on the data
    and its order.
    """

    def __init__(self, bins: int = 2048) -> None:
        if bins < 16:
            raise QCompilerError(f"a histogram needs at least 16 bins, got {bins}")
        self.bins = int(bins)
        self.counts = np.zeros(self.bins, dtype=np.int64)
        self.origin = 0.0
        self.width = 0.0
        self.min = math.inf
        self.max = -math.inf

    @property
    def empty(self) -> bool:
        """Whether no finite value was recorded."""
        return self.min > self.max

    @property
    def edges(self) -> np.ndarray:
        """The ``bins + 1`` bin edges."""
        return self.origin + self.width * np.arange(self.bins + 1, dtype=np.float64)

    @property
    def centers(self) -> np.ndarray:
        """The centre of each bin."""
        return self.origin + self.width * (np.arange(self.bins, dtype=np.float64) + 0.5)

    def update(self, array: np.ndarray) -> None:
        """Count the finite values of ``array``, widening the bins first when they fall outside."""
        flat = np.asarray(array, dtype=np.float64).ravel()
        flat = flat[np.isfinite(flat)] if not np.isfinite(flat).all() else flat
        if flat.size == 0:
            return
        low, high = float(flat.min()), float(flat.max())
        self.min, self.max = min(self.min, low), max(self.max, high)
        if self.width == 0.0:
            self._start(min(low, 0.0), max(high, 0.0))
        else:
            self._cover(low, high)
        index = np.floor((flat - self.origin) / self.width).astype(np.int64)
        np.clip(index, 0, self.bins - 1, out=index)
        self.counts += np.bincount(index, minlength=self.bins)

    def _start(self, low: float, high: float) -> None:
        span = high - low
        self.origin = low
        self.width = span / self.bins if span > 0 else 1.0 / self.bins
        if span == 0:
            self.origin = low - 0.5

    def _cover(self, low: float, high: float) -> None:
        """Widen the bins by the smallest whole factor (and shift them by whole old bins) so that they cover
        ``[low, high]``; each old bin then falls inside one new bin. ``self.min``/``self.max`` already hold
        the new extremes."""
        top = self.origin + self.bins * self.width
        if low >= self.origin and high <= top:
            return
        below = max(0, math.ceil((self.origin - low) / self.width))  # old bins to add below
        above = max(self.bins, math.ceil((high - self.origin) / self.width))  # old bins from origin up
        factor = max(2, math.ceil((below + above) / self.bins))
        # spare bins go to the sides the data may still grow on (not below 0 for data never negative)
        spare = factor * self.bins - below - above
        if self.max <= 0.0:
            below += spare
        elif self.min < 0.0:
            below += spare // 2
        merged = np.zeros(self.bins, dtype=np.int64)
        np.add.at(merged, (np.arange(self.bins) + below) // factor, self.counts)
        self.counts = merged
        self.origin -= below * self.width
        self.width *= factor

    def quantile(self, q: float) -> float:
        """The value below which a fraction ``q`` of the counts lie (linear inside a bin), within the
        observed extremes."""
        total = int(self.counts.sum())
        cumulative = np.cumsum(self.counts)
        target = q * total
        index = int(np.searchsorted(cumulative, target, side="left"))
        index = min(index, self.bins - 1)
        before = cumulative[index - 1] if index > 0 else 0
        inside = self.counts[index]
        fraction = (target - before) / inside if inside > 0 else 0.0
        value = self.origin + self.width * (index + min(max(fraction, 0.0), 1.0))
        return float(min(max(value, self.min), self.max))


class HistogramObserver(Observer):
    """Base of the observers that choose a clipping range from a streaming histogram."""

    def __init__(self, bins: int = 2048) -> None:
        self.histogram = Histogram(bins)

    def update(self, array: np.ndarray) -> None:
        """Add the array's values to the histogram."""
        self.histogram.update(array)

    def range(self) -> Range:
        """The range chosen from the histogram."""
        if self.histogram.empty:
            raise _nothing_observed(self.method)
        return self.choose()

    def choose(self) -> Range:
        """Choose the range from a non-empty histogram."""
        raise NotImplementedError


class PercentileObserver(HistogramObserver):
    """Clip both tails: the range runs from the ``100 - percentile`` to the ``percentile`` percentile."""

    method = "percentile"

    def __init__(self, percentile: float = 99.99, bins: int = 2048) -> None:
        super().__init__(bins)
        if not 50.0 < percentile <= 100.0:
            raise QCompilerError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = float(percentile)

    def choose(self) -> Range:
        """The two percentiles of the histogram."""
        if self.percentile == 100.0:
            return self.histogram.min, self.histogram.max
        q = self.percentile / 100.0
        return self.histogram.quantile(1.0 - q), self.histogram.quantile(q)


#: Clipping scales the mse and entropy observers try for each end of the range: 1 down to 1/16.
WINDOW_SCALES = np.linspace(1.0, 1.0 / 16.0, 128)


def best_window(histogram: Histogram, cost: Callable[[float, float], float], rounds: int = 2) -> Range:
    """The clipping window ``[a * lo, b * hi]`` of least ``cost`` over the observed range ``[lo, hi]`` (with 0
    in it), ``a`` and ``b`` from ``WINDOW_SCALES``: the top end is chosen with the bottom fixed, then the
    bottom with the top fixed, ``rounds`` times (the widest window wins ties)."""
    low, high = min(histogram.min, 0.0), max(histogram.max, 0.0)
    if high <= low:
        return histogram.min, histogram.max
    full_low, full_high = low, high

    def pick(candidates: list[Range]) -> Optional[Range]:
        best, best_cost = None, math.inf
        for window in candidates:
            if window[1] > window[0]:
                value = cost(*window)
                if value < best_cost:
                    best, best_cost = window, value
        return best

    for _ in range(rounds):
        if full_high > 0:
            found = pick([(low, float(s * full_high)) for s in WINDOW_SCALES])
            high = found[1] if found is not None else high
        if full_low < 0:
            found = pick([(float(s * full_low), high) for s in WINDOW_SCALES])
            low = found[0] if found is not None else low
    return low, high


class MseObserver(HistogramObserver):
    """The clipping window that minimizes the expected squared error of ``bits``-bit uniform quantization:
    clipped values cost their distance to the window, values inside cost step^2 / 12 (rounding noise)."""

    method = "mse"

    def __init__(self, bits: int = 8, bins: int = 2048) -> None:
        super().__init__(bins)
        self.levels = 2 ** int(bits)

    def squared_error(self, low: float, high: float) -> float:
        """Expected total squared error of quantizing the histogram into ``[low, high]``."""
        centers, counts = self.histogram.centers, self.histogram.counts
        clipped = np.clip(centers, low, high)
        step = (high - low) / (self.levels - 1)
        inside = counts[(centers >= low) & (centers <= high)].sum()
        return float(np.dot(counts, (centers - clipped) ** 2) + inside * step * step / 12.0)

    def choose(self) -> Range:
        """The window of least squared error."""
        return best_window(self.histogram, self.squared_error)


def _smoothed(distribution: np.ndarray, epsilon: float = 1e-4) -> np.ndarray:
    """A probability distribution whose zeros get ``epsilon``, taken evenly from the non-zero entries, so
    that a divergence against it stays finite (onnxruntime's smoothing)."""
    zeros = distribution <= 0
    count = int(zeros.sum())
    if count == 0 or count == distribution.size:
        return distribution
    taken = epsilon * count / (distribution.size - count)
    return np.where(zeros, epsilon, distribution - taken)


class EntropyObserver(HistogramObserver):
    """The clipping window whose ``bits``-bit quantized distribution loses the least information: the
    Kullback-Leibler divergence between the clipped histogram (outliers folded into the edge bins) and its
    quantized version (TensorRT's entropy calibration, searching each end of the window)."""

    method = "entropy"

    def __init__(self, bits: int = 8, bins: int = 2048) -> None:
        super().__init__(bins)
        self.levels = 2 ** int(bits)

    def divergence(self, low: float, high: float) -> float:
        """KL(P || Q) of the histogram clipped to ``[low, high]`` (P) and P quantized into the levels (Q)."""
        centers, counts = self.histogram.centers, self.histogram.counts.astype(np.float64)
        inside = np.flatnonzero((centers >= low) & (centers <= high))
        if inside.size < self.levels:
            return math.inf
        first, last = int(inside[0]), int(inside[-1])
        clipped = counts[first:last + 1]
        p = clipped.copy()
        p[0] += counts[:first].sum()
        p[-1] += counts[last + 1:].sum()
        # Q: the window's own counts (outliers left out) quantized: the bins fall into ``levels`` groups and
        # each group's mass spreads evenly over its non-empty bins
        group = (np.arange(clipped.size) * self.levels) // clipped.size
        mass = np.bincount(group, weights=clipped, minlength=self.levels)
        nonzero = np.bincount(group, weights=(clipped > 0).astype(np.float64), minlength=self.levels)
        share = np.divide(mass, nonzero, out=np.zeros_like(mass), where=nonzero > 0)
        q = np.where(clipped > 0, share[group], 0.0)
        if q.sum() <= 0:
            return math.inf
        used = p > 0
        p_norm = p[used] / p.sum()
        q_norm = _smoothed(q[used] / q.sum())
        return float(np.sum(p_norm * np.log(p_norm / q_norm)))

    def choose(self) -> Range:
        """The window of least divergence."""
        return best_window(self.histogram, self.divergence)


#: Observer classes by the ``method`` name calibration takes.
OBSERVERS: dict[str, type[Observer]] = {
    cls.method: cls for cls in (MinMaxObserver, MovingAverageMinMaxObserver, PercentileObserver, MseObserver,
                                EntropyObserver)
}


def make_observer(method: str, *, percentile: float = 99.99, bins: int = 2048, bits: int = 8,
                  averaging_constant: float = 0.01) -> Observer:
    """A fresh observer for ``method`` (``minmax``, ``moving-average``, ``percentile``, ``mse``, ``entropy``),
    given the options that method uses."""
    if method == "minmax":
        return MinMaxObserver()
    if method == "moving-average":
        return MovingAverageMinMaxObserver(averaging_constant)
    if method == "percentile":
        return PercentileObserver(percentile, bins)
    if method == "mse":
        return MseObserver(bits, bins)
    if method == "entropy":
        return EntropyObserver(bits, bins)
    raise QCompilerError(f"unknown calibration method '{method}'; expected one of {', '.join(OBSERVERS)}")
