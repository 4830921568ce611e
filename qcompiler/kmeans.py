"""Deterministic 1-D k-means (k-means++ seeding, Lloyd iterations) for weight clustering, and the codebook +
index form of a clustered tensor that packed-storage backends read.

Weights are scalars, so the clustering is one-dimensional: assignment is a ``searchsorted`` against the
midpoints between sorted centroids (O(n log k), no n x k distance matrix). scikit-learn is not a dependency
and scipy's ``kmeans2`` is not either, so this is numpy; with a fixed seed the result depends only on the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from qcompiler.errors import QCompilerError


@dataclass(frozen=True)
class Clustering:
    """The result of ``kmeans_1d``: sorted ``centroids`` [k] and, per input value, the index of its centroid."""

    centroids: np.ndarray
    labels: np.ndarray

    def values(self) -> np.ndarray:
        """Each input value replaced by its centroid."""
        return self.centroids[self.labels]


def kmeans_1d(values: np.ndarray, clusters: int, *, seed: int = 0, max_iterations: int = 100) -> Clustering:
    """Cluster the scalars ``values`` into at most ``clusters`` groups (k-means++ init with ``seed``, then
    Lloyd iterations until assignments stop changing).

    When there are no more distinct values than clusters, every distinct value is its own centroid, so the
    values come back unchanged (bit for bit). Centroids are returned sorted; empty clusters are dropped.
    """
    if clusters < 1:
        raise QCompilerError(f"k-means needs at least one cluster, got {clusters}")
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    if flat.size == 0:
        raise QCompilerError("k-means needs at least one value")
    if not np.all(np.isfinite(flat)):
        raise QCompilerError("k-means got non-finite values")
    distinct, inverse = np.unique(flat, return_inverse=True)
    if distinct.size <= clusters:
        return Clustering(distinct.astype(np.asarray(values).dtype, copy=False), inverse.reshape(-1))
    counts = np.bincount(inverse).astype(np.float64)
    centroids = _kmeans_plus_plus(distinct, counts, clusters, np.random.default_rng(seed))
    labels = _assign(distinct, centroids)
    for _ in range(max_iterations):
        centroids = _update(distinct, counts, labels, centroids)
        new_labels = _assign(distinct, centroids)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    used = np.unique(labels)
    centroids = centroids[used]
    labels = np.searchsorted(used, labels)
    dtype = np.asarray(values).dtype if np.asarray(values).dtype.kind == "f" else np.float64
    return Clustering(centroids.astype(dtype), labels[inverse])


def _kmeans_plus_plus(points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding over weighted distinct points: each next centroid drawn with probability
    proportional to weight x squared distance to the nearest centroid chosen so far."""
    chosen = [int(rng.choice(points.size, p=weights / weights.sum()))]
    nearest = (points - points[chosen[0]]) ** 2
    for _ in range(1, k):
        mass = weights * nearest
        total = mass.sum()
        if total <= 0:
            break
        index = int(rng.choice(points.size, p=mass / total))
        chosen.append(index)
        nearest = np.minimum(nearest, (points - points[index]) ** 2)
    return np.sort(points[np.unique(chosen)])


def _assign(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The index of the nearest (sorted) centroid for each point; ties go to the lower centroid."""
    midpoints = (centroids[:-1] + centroids[1:]) / 2
    return np.searchsorted(midpoints, points, side="left")


def _update(points: np.ndarray, weights: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Weighted means of the clusters (an empty cluster keeps its centroid), sorted."""
    k = centroids.size
    mass = np.bincount(labels, weights=weights, minlength=k)
    total = np.bincount(labels, weights=weights * points, minlength=k)
    updated = np.where(mass > 0, total / np.where(mass > 0, mass, 1), centroids)
    return np.sort(updated)


@dataclass(frozen=True)
class Codebook:
    """A tensor as a table of distinct values and one index per element: ``table`` is [k] (per tensor) or
    [C, k] (per slice along ``axis``, rows padded by repeating their last entry); ``indices`` has the tensor's
    shape and holds the smallest unsigned type that fits. ``bits`` is the packed index width."""

    table: np.ndarray
    indices: np.ndarray
    axis: Optional[int]

    @property
    def bits(self) -> int:
        """Bits per packed index: ceil(log2(k)), at least 1."""
        return max(1, int(np.ceil(np.log2(max(self.table.shape[-1], 1)))))

    def decode(self) -> np.ndarray:
        """The tensor back from its table and indices."""
        if self.axis is None:
            return self.table[self.indices]
        moved = np.moveaxis(self.indices, self.axis, 0)
        rows = np.arange(moved.shape[0]).reshape((-1,) + (1,) * (moved.ndim - 1))
        return np.moveaxis(self.table[rows, moved], 0, self.axis)


def codebook_of(array: np.ndarray, axis: Optional[int] = None) -> Codebook:
    """The codebook form of ``array``: its distinct values (per tensor, or per slice along ``axis``) and
    indices into them. A backend uses it to store a clustered (or any few-valued) weight as packed indices;
    it works on the final stored values (for example int8 weights after quantization)."""
    array = np.asarray(array)
    if axis is None:
        table, inverse = np.unique(array, return_inverse=True)
        return Codebook(table, inverse.reshape(array.shape).astype(_index_dtype(table.size)), None)
    axis = axis % array.ndim
    moved = np.moveaxis(array, axis, 0).reshape(array.shape[axis], -1)
    rows = [np.unique(row, return_inverse=True) for row in moved]
    width = max(table.size for table, _ in rows)
    table = np.stack([np.concatenate([t, np.repeat(t[-1:], width - t.size)]) for t, _ in rows])
    dtype = _index_dtype(width)
    indices = np.stack([inverse.reshape(-1).astype(dtype) for _, inverse in rows])
    shape = (array.shape[axis],) + tuple(np.delete(np.array(array.shape), axis))
    return Codebook(table, np.moveaxis(indices.reshape(shape), 0, axis), axis)


def _index_dtype(count: int) -> np.dtype:
    """The smallest unsigned dtype that indexes ``count`` entries."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if count <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.uint64)
