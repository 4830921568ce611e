"""Range observers against numpy on known data: exact extremes, the moving-average formula, exact streaming
histograms, percentiles within one bin of numpy's, sensible mse/entropy clipping, determinism, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.observers import (OBSERVERS, EntropyObserver, Histogram, MinMaxObserver, MovingAverageMinMaxObserver,
                                 MseObserver, PercentileObserver, make_observer)


def feed(observer, data: np.ndarray, chunks: int = 50):
    """Give ``data`` to ``observer`` in ``chunks`` updates; return the observer."""
    for chunk in np.array_split(data, chunks):
        observer.update(chunk)
    return observer


RNG = np.random.default_rng(20261124)
NORMAL = RNG.normal(size=40_000)
LAPLACE = RNG.laplace(size=40_000)
UNIFORM = RNG.uniform(-1.0, 3.0, size=40_000)
RELU = np.maximum(RNG.normal(size=40_000), 0.0)


def test_minmax_is_numpy_min_max_and_ignores_non_finite() -> None:
    data = NORMAL.copy()
    data[7], data[8] = np.nan, np.inf
    observer = feed(MinMaxObserver(), data)
    finite = data[np.isfinite(data)]
    assert observer.range() == (finite.min(), finite.max())


def test_moving_average_follows_its_formula() -> None:
    observer = MovingAverageMinMaxObserver(averaging_constant=0.5)
    for batch in ([0.0, 4.0], [-2.0, 2.0], [-4.0, 8.0]):
        observer.update(np.array(batch))
    # first batch sets (0, 4); then (0 + 0.5 * (-2 - 0), 4 + 0.5 * (2 - 4)) = (-1, 3); then (-2.5, 5.5)
    assert observer.range() == (-2.5, 5.5)


@pytest.mark.parametrize("data", [NORMAL, RELU, -RELU, LAPLACE], ids=["normal", "relu", "negative", "laplace"])
def test_streaming_histogram_counts_every_value_in_its_bin(data: np.ndarray) -> None:
    histogram = feed(Histogram(1024), data, chunks=100)  # later chunks widen the bins several times
    assert histogram.counts.sum() == data.size
    assert histogram.origin <= min(data.min(), 0.0) and histogram.edges[-1] >= max(data.max(), 0.0)
    reference, _ = np.histogram(data, bins=histogram.edges)
    assert np.abs(reference - histogram.counts).sum() <= 4  # only values within rounding of an edge may move
    # the widening factor keeps the data on a good share of the bins
    assert (data.max() - data.min()) / (histogram.edges[-1] - histogram.origin) > 0.3


@pytest.mark.parametrize("percentile", [90.0, 99.0, 99.9])
@pytest.mark.parametrize("data", [NORMAL, LAPLACE, RELU], ids=["normal", "laplace", "relu"])
def test_percentile_matches_numpy_within_one_bin(data: np.ndarray, percentile: float) -> None:
    observer = feed(PercentileObserver(percentile, bins=2048), data)
    width = observer.histogram.width
    for value, q in zip(observer.range(), (1 - percentile / 100, percentile / 100)):
        # the share of data below the value is q, give or take the data within one bin of it
        slack = (np.count_nonzero(np.abs(data - value) <= width) + 1) / data.size
        assert abs(np.mean(data <= value) - q) <= slack
        if np.count_nonzero(np.abs(data - np.quantile(data, q)) <= width) > 20:  # dense there: close to numpy
            assert abs(value - np.quantile(data, q)) <= width


def test_percentile_100_is_minmax() -> None:
    observer = feed(PercentileObserver(100.0), LAPLACE)
    assert observer.range() == (LAPLACE.min(), LAPLACE.max())


@pytest.mark.parametrize("method", ["mse", "entropy"])
def test_clipping_observers_keep_uniform_data_whole(method: str) -> None:
    low, high = feed(make_observer(method), UNIFORM).range()
    assert low <= -0.95 and high >= 2.95


@pytest.mark.parametrize("method", ["mse", "entropy"])
def test_clipping_observers_clip_heavy_tails_but_not_the_bulk(method: str) -> None:
    low, high = feed(make_observer(method), LAPLACE).range()
    assert LAPLACE.min() < low < np.percentile(LAPLACE, 1) and np.percentile(LAPLACE, 99) < high < LAPLACE.max()


def test_entropy_clips_a_lone_outlier() -> None:
    data = NORMAL.copy()
    data[123] = 40.0
    low, high = feed(EntropyObserver(), data).range()
    assert high < 10.0 and low <= np.percentile(data, 0.1)


def test_mse_window_is_the_least_squared_error() -> None:
    observer = feed(MseObserver(), LAPLACE)
    chosen = observer.squared_error(*observer.range())
    full = observer.squared_error(min(LAPLACE.min(), 0.0), max(LAPLACE.max(), 0.0))
    assert chosen < full
    for scale in (0.5, 0.8):  # narrower symmetric windows cost more
        assert chosen <= observer.squared_error(scale * LAPLACE.min(), scale * LAPLACE.max())


@pytest.mark.parametrize("method", sorted(OBSERVERS))
def test_observers_are_deterministic(method: str) -> None:
    first = feed(make_observer(method), LAPLACE).range()
    second = feed(make_observer(method), LAPLACE.copy()).range()
    assert first == second
    assert all(math.isfinite(x) for x in first) and first[0] <= first[1]


@pytest.mark.parametrize("method", sorted(OBSERVERS))
def test_constant_data_gets_a_range(method: str) -> None:
    low, high = feed(make_observer(method), np.full(1000, 2.5)).range()
    assert low <= 2.5 and abs(high - 2.5) < 0.05


@pytest.mark.parametrize("method", sorted(OBSERVERS))
def test_nothing_observed_is_an_error(method: str) -> None:
    observer = make_observer(method)
    observer.update(np.array([np.nan]))
    with pytest.raises(QCompilerError, match="saw no finite value"):
        observer.range()


def test_bad_options_are_errors() -> None:
    with pytest.raises(QCompilerError, match="unknown calibration method 'median'"):
        make_observer("median")
    with pytest.raises(QCompilerError, match="percentile must be in"):
        make_observer("percentile", percentile=30.0)
    with pytest.raises(QCompilerError, match="averaging constant"):
        make_observer("moving-average", averaging_constant=0.0)
    with pytest.raises(QCompilerError, match="at least 16 bins"):
        make_observer("entropy", bins=4)
