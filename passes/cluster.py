"""The ``cluster`` pass: k-means weight clustering of convolution and dense layers. Each weight keeps its
shape and type, but holds only ``clusters`` distinct values (per tensor, or per output channel); the weight's
constant carries a ``cluster`` annotation with the codebook so that backends can store packed indices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.kmeans import kmeans_1d
from qcompiler.layer_weights import LayerWeight, layer_weights, replace_const_operand
from qcompiler.pass_manager import Pass, register_pass

#: The const attribute that records a clustered weight: ``{clusters, per_channel, axis, codebook}``.
CLUSTER_ATTR = "cluster"


@dataclass
class ClusterOptions(Pass):
    """The options the weight-clustering passes share (``cluster`` on float weights, ``cluster-int8`` on
    quantized ones): one definition, so that both spell and document them alike."""

    clusters: int = field(default=16, metadata={"doc": "distinct values per weight (or per output channel)"})
    per_channel: bool = field(default=False, metadata={"doc": "one codebook per output channel"})
    preserve_sparsity: bool = field(default=True, metadata={"doc": "zeros stay zero (one codebook entry)"})
    seed: int = field(default=0, metadata={"doc": "k-means++ seed"})
    exclude: list[str] = field(default_factory=list, metadata={"doc": "layers left alone (locations or names)"})
    only: list[str] = field(default_factory=list, metadata={"doc": "cluster just these layers (default: all)"})

    def check_clusters(self) -> None:
        """Reject a cluster count below 1 (a clear error naming the pass)."""
        if self.clusters < 1:
            raise QCompilerError(f"{self.name}: clusters must be at least 1, got {self.clusters}")


@register_pass
@dataclass
class Cluster(ClusterOptions):
    """k-means weight clustering (k-means++ init, fixed seed): conv/dense weights take at most ``clusters``
    distinct values, per tensor or per output channel, optionally keeping zeros (pruned weights) at zero."""

    name: ClassVar[str] = "cluster"

    def run(self, graph: Graph) -> bool:
        """Cluster the selected weights; return whether a weight changed."""
        self.check_clusters()
        changed = False
        for weight in list(layer_weights(graph, self.exclude, self.only)):
            clustered, codebook = cluster_weight(weight, self.clusters, self.per_channel, self.preserve_sparsity,
                                                 self.seed)
            annotation = {"clusters": self.clusters, "per_channel": self.per_channel,
                          "axis": weight.out_axis if self.per_channel else None, "codebook": codebook}
            old_annotation = weight.value.producer.attrs.get(CLUSTER_ATTR)
            if np.array_equal(clustered, weight.array) and old_annotation is not None:
                continue
            replace_const_operand(weight.op, weight.index, clustered, {CLUSTER_ATTR: annotation})
            changed = changed or not np.array_equal(clustered, weight.array) or old_annotation is None
        return changed


def cluster_values(values: np.ndarray, clusters: int, preserve_sparsity: bool, seed: int) -> np.ndarray:
    """The k-means codebook of ``values`` (sorted; zero included when ``preserve_sparsity`` keeps zeros)."""
    flat = values.reshape(-1)
    zeros = flat == 0
    if preserve_sparsity and zeros.any():
        nonzero = flat[~zeros]
        if nonzero.size == 0 or clusters == 1:
            return np.zeros(1, dtype=values.dtype)
        table = kmeans_1d(nonzero, clusters - 1, seed=seed).centroids
        return np.unique(np.concatenate([table, np.zeros(1, dtype=table.dtype)]))
    return kmeans_1d(flat, clusters, seed=seed).centroids


def quantize_to(values: np.ndarray, table: np.ndarray, preserve_sparsity: bool) -> np.ndarray:
    """Every value replaced by its nearest entry of the sorted ``table``; with ``preserve_sparsity`` zeros
    stay exactly zero and nonzero values only take nonzero entries (when the table has any)."""
    if preserve_sparsity and np.any(table != 0):
        nonzero = values != 0
        return np.where(nonzero, nearest_entry(values, table[table != 0]), np.zeros_like(values))
    return nearest_entry(values, table)


def nearest_entry(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The nearest entry of the sorted ``table`` for every value (ties go to the lower entry)."""
    if table.size == 1:
        return np.broadcast_to(table, values.shape).astype(values.dtype)
    midpoints = (table[:-1].astype(np.float64) + table[1:]) / 2
    return table[np.searchsorted(midpoints, values.astype(np.float64), side="left")].astype(values.dtype)


def cluster_weight(weight: LayerWeight, clusters: int, per_channel: bool, preserve_sparsity: bool,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clustered weight, codebook): codebook [k] per tensor, or [C, k] per output channel (rows padded by
    repeating their last entry)."""
    array = weight.array
    if not per_channel:
        table = cluster_values(array, clusters, preserve_sparsity, seed)
        return quantize_to(array, table, preserve_sparsity), table
    rows = weight.rows()
    tables = [cluster_values(row, clusters, preserve_sparsity, seed) for row in rows]
    clustered = np.stack([quantize_to(row, table, preserve_sparsity) for row, table in zip(rows, tables)])
    width = max(t.size for t in tables)
    codebook = np.stack([np.concatenate([t, np.repeat(t[-1:], width - t.size)]) for t in tables])
    return weight.from_rows(clustered), codebook

