"""The ``cluster-int8`` pass: k-means clustering of the stored int8 weights of a quantized graph (q.conv2d,
q.depthwise_conv2d, q.fully_connected), with integer centroids. Each weight keeps its per-channel scales, so a
per-tensor codebook of int8 values is shared by channels of different ranges: the packed storage of the MCU
backend then needs one 16-byte table per layer instead of one per output channel (which costs as much as the
weights of a 3x3 depthwise or a narrow 1x1 layer). Float-domain ``cluster`` cannot give that under per-channel
quantization: each channel's scale maps the same float codebook to different integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import numpy as np

from qcompiler.ir import Graph, Op
from qcompiler.kmeans import kmeans_1d
from qcompiler.layer_weights import matches
from qcompiler.ops.registry import evaluate_op
from qcompiler.pass_manager import register_pass
from qcompiler.passes.cluster import ClusterOptions, nearest_entry
from qcompiler.passes.bias_correction import mean_inputs

#: Quantized layer ops and the axis of their weight's output channels.
LAYER_AXES = {"q.conv2d": 0, "q.depthwise_conv2d": 3, "q.fully_connected": 0}
#: The float op (and the attributes it takes) that computes a quantized layer's accumulator.
ACCUMULATOR_OPS = {"q.conv2d": ("core.conv2d", ("strides", "dilations", "padding", "layout", "groups")),
                   "q.depthwise_conv2d": ("core.depthwise_conv2d", ("strides", "dilations", "padding", "layout",
                                                                    "depth_multiplier")),
                   "q.fully_connected": ("core.fully_connected", ())}


@register_pass
@dataclass
class ClusterInt8(ClusterOptions):
    """k-means on the int8 weights of quantized layers (k-means++ init, fixed seed; centroids rounded to int8):
    at most ``clusters`` distinct int8 values per weight, or per output channel with ``per-channel``; zero
    stays zero when ``preserve-sparsity`` (pruned weights keep their mask). With calibration samples (``data``)
    each layer's int32 bias absorbs the mean accumulator shift its clustering error causes on them (bias
    correction, measured layer by layer on the graph with the layers before it already clustered)."""

    name: ClassVar[str] = "cluster-int8"
    data: str = field(default="", metadata={"doc": "calibration samples (.npz): correct the biases on them"})
    calibration: Any = field(default=None, metadata={"option": False})
    """From Python: calibration arrays by input name (or any calibration source) instead of ``data``."""

    def run(self, graph: Graph) -> bool:
        """Cluster the selected layers' int8 weights in place; return whether a weight changed."""
        self.check_clusters()
        layers = [op for op in graph if op.kind in LAYER_AXES and int8_weight(op) is not None
                  and not matches(op, self.exclude) and (not self.only or matches(op, self.only))]
        source = self.calibration if self.calibration is not None else (self.data or None)
        changed = False
        for op in layers:
            # measured after the layers before it were clustered and corrected: their shifts are compensated too
            means = mean_inputs(graph, [op], source) if source is not None else {}
            weights = int8_weight(op)
            axis = LAYER_AXES[op.kind] if self.per_channel else None
            clustered = cluster_int8(weights, self.clusters, axis, self.preserve_sparsity, self.seed)
            if np.array_equal(clustered, weights):
                continue
            op.operand(1).producer.attrs["value"] = clustered
            changed = True
            bias = op.operand(2)
            if id(op) in means and bias is not None and bias.is_const:
                shift = accumulator_shift(op, means[id(op)], clustered.astype(np.float64) - weights)
                corrected = bias.const_value.astype(np.int64) - np.round(shift).astype(np.int64)
                bias.producer.attrs["value"] = np.clip(corrected, -2 ** 31, 2 ** 31 - 1).astype(np.int32)
        return changed


def int8_weight(op: Op) -> Optional[np.ndarray]:
    """The constant int8 weight of a quantized layer op, else None."""
    value = op.operand(1)
    array = None if value is None else value.const_value
    return array if array is not None and array.dtype == np.int8 else None


def accumulator_shift(op: Op, mean_input: np.ndarray, error: np.ndarray) -> np.ndarray:
    """Per output channel, the mean change of ``op``'s int32 accumulator that the weight change ``error``
    causes on its mean int8 input (zero point removed; padding adds nothing, as in the integer kernel)."""
    kind, names = ACCUMULATOR_OPS[op.kind]
    zero_point = op.operand(0).type.quant.zero_point
    attrs = {name: op.attrs[name] for name in names if name in op.attrs}
    probe = Op(kind, [op.operand(0), op.operand(1)], [op.result.type], attrs, op.loc)
    try:
        (shifted,) = evaluate_op(probe, [np.asarray(mean_input, np.float64) - zero_point, error])
    finally:
        probe.drop_operands()
    shifted = np.asarray(shifted, np.float64)
    return shifted.reshape(-1, shifted.shape[-1]).mean(axis=0)


def cluster_int8(weights: np.ndarray, clusters: int, axis: Optional[int], preserve_sparsity: bool,
                 seed: int = 0) -> np.ndarray:
    """``weights`` (int8) with each value replaced by its nearest of at most ``clusters`` integer centroids,
    found over the whole tensor (``axis`` None) or per slice along ``axis``."""
    if axis is None:
        return _cluster_values(weights, clusters, preserve_sparsity, seed)
    moved = np.moveaxis(weights, axis, 0)
    rows = [_cluster_values(row, clusters, preserve_sparsity, seed) for row in moved]
    return np.ascontiguousarray(np.moveaxis(np.stack(rows), 0, axis))


def _cluster_values(values: np.ndarray, clusters: int, preserve_sparsity: bool, seed: int) -> np.ndarray:
    """One codebook's worth of values clustered (zeros kept apart and exact with ``preserve_sparsity``)."""
    keep = values != 0 if preserve_sparsity else np.ones(values.shape, dtype=bool)
    if preserve_sparsity and not keep.all():
        clusters -= 1  # zero takes one entry
    if not keep.any() or clusters < 1:  # nothing to cluster, or the one entry is zero
        return np.zeros_like(values)
    centroids = kmeans_1d(values[keep].astype(np.float64), clusters, seed=seed).centroids
    table = np.unique(np.clip(np.round(centroids), -128, 127))
    if preserve_sparsity:  # a nonzero weight must not round onto zero (it would join the mask's zeros)
        table = table[table != 0] if np.any(table != 0) else np.ones(1)
    return np.where(keep, nearest_entry(values, table), 0).astype(np.int8)
