"""The ``prune`` pass: magnitude pruning of convolution and dense weights, unstructured (the smallest weights
of each layer become zero), n:m (n of every m consecutive weights along the input channels are kept) or by
channel (whole output channels leave the model, and every consumer is rewired: ``qcompiler.channel_pruning``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.layer_weights import LayerWeight, layer_weights, replace_const_operand
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.pass_manager.manager import pass_output

Granularity = Literal["unstructured", "n:m", "channel"]


@register_pass
@dataclass
class Prune(Pass):
    """Magnitude pruning of conv/dense weights: unstructured, n:m, or whole output channels (removed, with
    every consumer rewired, so parameters and MACs drop). With calibration data (``data``) the kept weights
    are re-fitted layer by layer to reproduce the dense model's outputs, which keeps accuracy without training."""

    name: ClassVar[str] = "prune"
    sparsity: float = field(default=0.5, metadata={"doc": "fraction of weights (or output channels) removed"})
    granularity: Granularity = field(default="unstructured", metadata={"doc": "unstructured, n:m or channel"})
    n: int = field(default=2, metadata={"doc": "n:m: weights kept in each group"})
    m: int = field(default=4, metadata={"doc": "n:m: group size along the input channels"})
    exclude: list[str] = field(default_factory=list, metadata={"doc": "layers left alone (locations or names)"})
    only: list[str] = field(default_factory=list, metadata={"doc": "prune just these layers (default: all)"})
    data: str = field(default="", metadata={"doc": "calibration samples (.npz): choose and re-fit the kept "
                                                   "weights layer by layer on them (default: magnitude only)"})
    calibration: Any = field(default=None, metadata={"option": False})
    """From Python: calibration arrays by input name (or any calibration source) instead of ``data``."""

    def run(self, graph: Graph) -> bool:
        """Prune the selected layers; return whether a weight or channel changed."""
        if self.granularity == "channel":
            from qcompiler.channel_pruning import prune_channels

            check_fraction(self.sparsity)
            source = self.calibration if self.calibration is not None else (self.data or None)
            report = prune_channels(graph, self.sparsity, exclude=self.exclude, only=self.only, calibration=source)
            pass_output().write(f"prune: {report.summary()}\n")
            return report.changed
        if self.granularity == "n:m":
            if not 0 < self.n <= self.m:
                raise QCompilerError(f"prune: n:m needs 0 < n <= m, got n={self.n} m={self.m}")
        else:
            check_fraction(self.sparsity)
        weights = list(layer_weights(graph, self.exclude, self.only))
        source = self.calibration if self.calibration is not None else (self.data or None)
        if source is not None:
            from qcompiler.sparse_reconstruction import can_reconstruct, prune_with_reconstruction

            rebuilt = [w for w in weights if can_reconstruct(w)]
            m = self.m if self.granularity == "n:m" else 0
            prune_with_reconstruction(graph, rebuilt, source, self.sparsity, self.n, m)
            weights = [w for w in weights if not can_reconstruct(w)]
            changed = bool(rebuilt)
        else:
            changed = False
        for weight in weights:
            if self.granularity == "n:m":
                pruned = prune_n_of_m(weight, self.n, self.m)
            else:
                pruned = prune_magnitude(weight.array, self.sparsity)
            if not np.array_equal(pruned, weight.array):
                replace_const_operand(weight.op, weight.index, pruned)
                changed = True
        return changed


def check_fraction(sparsity: float) -> None:
    """Raise a one-line error unless ``0 <= sparsity < 1``."""
    if not 0.0 <= sparsity < 1.0:
        raise QCompilerError(f"prune: sparsity must be in [0, 1), got {sparsity}")


def prune_magnitude(array: np.ndarray, sparsity: float) -> np.ndarray:
    """A copy of ``array`` whose ``round(sparsity * size)`` smallest-magnitude elements are zero (ties broken by
    position, so the result is deterministic); zeros already present count toward the target."""
    count = int(round(sparsity * array.size))
    if count == 0:
        return array
    flat = array.reshape(-1)
    order = np.argsort(np.abs(flat), kind="stable")
    pruned = flat.copy()
    pruned[order[:count]] = 0
    return pruned.reshape(array.shape)


def prune_n_of_m(weight: LayerWeight, n: int, m: int) -> np.ndarray:
    """The weight with, in every group of ``m`` consecutive reduction elements of each output channel (input
    channel innermost), only its ``n`` largest magnitudes kept; a shorter last group keeps ``min(n, len)``."""
    rows = weight.rows()
    return weight.from_rows(np.where(n_of_m_mask(np.abs(rows), n, m), rows, np.zeros_like(rows)))


def n_of_m_mask(scores: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep-mask of [rows, length] ``scores``: the ``n`` highest of every ``m`` consecutive entries of each row
    (ties to the first; a short last group keeps ``min(n, len)``)."""
    channels, size = scores.shape
    padded = np.full((channels, -(-size // m) * m), -np.inf)
    padded[:, :size] = scores
    groups = padded.reshape(channels, -1, m)
    order = np.argsort(-groups, axis=-1, kind="stable")
    keep = np.zeros_like(groups, dtype=bool)
    np.put_along_axis(keep, order[..., :n], True, axis=-1)
    return keep.reshape(channels, -1)[:, :size]


def sparsity_of(array: np.ndarray) -> float:
    """The fraction of zeros in ``array``."""
    return float(np.count_nonzero(array == 0)) / max(array.size, 1)
