"""Sliding-window geometry and kernels for ONNX convolutions and pooling (Conv, ConvTranspose, MaxPool,
AveragePool).

Every kernel loops over kernel positions only (a 3x3 kernel means nine vectorized numpy steps over the
whole output), never over output pixels. Geometry (pads, strides, dilations, ``auto_pad``, ``ceil_mode``)
is resolved once in ``window_geometry`` so that convolution and pooling agree on it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from qcompiler.ir import Op

#: Spatial ranks the window kernels handle; other ranks go to the reference implementation.
SPATIAL_RANKS = (1, 2, 3)


@dataclass(frozen=True)
class WindowGeometry:
    """Where the windows of a convolution or pooling op lie along each spatial axis."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    output: tuple[int, ...]

    @property
    def extent(self) -> tuple[int, ...]:
        """Input positions one window spans along each axis (the dilated kernel size)."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations))

    def needed(self) -> tuple[int, ...]:
        """The padded input size along each axis that the output windows read."""
        return tuple((o - 1) * s + e for o, s, e in zip(self.output, self.strides, self.extent))


def window_geometry(op: Op, spatial_shape: Sequence[int], kernel: Sequence[int],
                    ceil_mode: bool = False) -> Optional[WindowGeometry]:
    """Resolve the window attributes of ``op`` for an input of ``spatial_shape``.

    Returns None for attribute combinations the fast kernels do not cover (the caller then falls back).
    The output size follows ONNX shape inference, and the op's declared result shape wins when it is static.
    """
    rank = len(spatial_shape)
    strides = tuple(op.attrs.get("strides") or [1] * rank)
    dilations = tuple(op.attrs.get("dilations") or [1] * rank)
    pads = list(op.attrs.get("pads") or [0] * (2 * rank))
    auto_pad = op.attrs.get("auto_pad", "NOTSET") or "NOTSET"
    kernel = tuple(int(k) for k in kernel)
    if len(strides) != rank or len(dilations) != rank or len(pads) != 2 * rank or len(kernel) != rank:
        return None
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output = [-(-n // s) for n, s in zip(spatial_shape, strides)]
        totals = [max(0, (o - 1) * s + e - n) for o, s, e, n in zip(output, strides, extent, spatial_shape)]
        small = [t // 2 for t in totals]
        large = [t - t // 2 for t in totals]
        begin, end = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    elif auto_pad in ("VALID", "NOTSET"):
        begin, end = (pads[:rank], pads[rank:]) if auto_pad == "NOTSET" else ([0] * rank, [0] * rank)
        output = []
        for n, b, e_, ext, s in zip(spatial_shape, begin, end, extent, strides):
            span = n + b + e_ - ext
            count = (math.ceil(span / s) if ceil_mode else span // s) + 1
            if ceil_mode and (count - 1) * s >= n + b:
                count -= 1  # the last window must start inside the input or the leading padding
            output.append(count)
    else:
        return None
    declared = _declared_spatial_shape(op, rank)
    if declared is not None:
        output = list(declared)
    if any(o <= 0 for o in output):
        return None
    return WindowGeometry(kernel, strides, dilations, tuple(int(b) for b in begin), tuple(int(e) for e in end),
                          tuple(int(o) for o in output))


def _declared_spatial_shape(op: Op, rank: int) -> Optional[tuple[int, ...]]:
    if not op.results:
        return None
    shape = op.results[0].type.shape
    if shape is None or len(shape) != rank + 2 or not all(isinstance(d, int) for d in shape[2:]):
        return None
    return tuple(shape[2:])


def pad_spatial(x: np.ndarray, geometry: WindowGeometry, fill: float) -> np.ndarray:
    """``x`` padded with ``fill`` so that every output window lies inside it (padding beyond ``ceil_mode``'s
    last window included); leading padding as the op's pads, trailing padding as needed."""
    widths = [(0, 0), (0, 0)]
    for n, b, need in zip(x.shape[2:], geometry.pads_begin, geometry.needed()):
        widths.append((b, max(0, need - n - b)))
    if all(w == (0, 0) for w in widths):
        return x
    return np.pad(x, widths, mode="constant", constant_values=fill)


def kernel_positions(geometry: WindowGeometry) -> Iterator[tuple[slice, ...]]:
    """For each kernel position (row-major), the slices of the padded input that feed every output."""
    for position in itertools.product(*(range(k) for k in geometry.kernel)):
        yield (slice(None), slice(None)) + tuple(
            slice(p * d, p * d + (o - 1) * s + 1, s)
            for p, d, o, s in zip(position, geometry.dilations, geometry.output, geometry.strides))


def valid_counts(geometry: WindowGeometry, limits_begin: Sequence[int], limits_end: Sequence[int]) -> np.ndarray:
    """How many window elements of each output fall within ``[limits_begin, limits_end)`` of the padded
    input, as an array broadcastable over the spatial output (the product of one count per axis)."""
    counts = np.ones((), dtype=np.float64)
    for axis, (k, d, o, s, lo, hi) in enumerate(zip(geometry.kernel, geometry.dilations, geometry.output,
                                                    geometry.strides, limits_begin, limits_end)):
        positions = np.arange(o)[:, None] * s + np.arange(k)[None, :] * d
        per_axis = ((positions >= lo) & (positions < hi)).sum(axis=1).astype(np.float64)
        counts = np.multiply.outer(counts, per_axis)
    return counts


# -- kernels -------------------------------------------------------------------------------------------

def conv(op: Op, x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray] = None):
    """ONNX Conv: im2col by kernel position, then one (grouped) matrix product."""
    rank = x.ndim - 2
    if rank not in SPATIAL_RANKS or w.ndim != x.ndim or x.dtype.kind != "f":
        return NotImplemented
    groups = int(op.attrs.get("group", 1))
    kernel = op.attrs.get("kernel_shape") or w.shape[2:]
    if tuple(kernel) != tuple(w.shape[2:]) or x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        return NotImplemented
    geometry = window_geometry(op, x.shape[2:], kernel)
    if geometry is None:
        return NotImplemented
    padded = pad_spatial(x, geometry, 0)
    batch, channels = x.shape[:2]
    taps = int(np.prod(geometry.kernel))
    if taps == 1:  # a 1x1 convolution reads its (strided) input directly
        columns = padded[next(kernel_positions(geometry))]
    else:
        columns = np.empty((batch, channels, taps) + geometry.output, dtype=x.dtype)
        for index, window in enumerate(kernel_positions(geometry)):
            columns[:, :, index] = padded[window]
    pixels = int(np.prod(geometry.output))
    columns = columns.reshape(batch, groups, (channels // groups) * taps, pixels)
    weights = w.reshape(groups, w.shape[0] // groups, -1).astype(x.dtype, copy=False)
    out = np.matmul(weights, columns).reshape((batch, w.shape[0]) + geometry.output)
    if bias is not None:
        out += bias.astype(x.dtype, copy=False).reshape((-1,) + (1,) * rank)
    return out


def conv_transpose(op: Op, x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray] = None):
    """ONNX ConvTranspose: one grouped matrix product for every kernel position at once, then a strided
    scatter-add per kernel position (col2im), and a crop by the pads."""
    rank = x.ndim - 2
    groups = int(op.attrs.get("group", 1))
    if rank not in SPATIAL_RANKS or w.ndim != x.ndim or x.dtype.kind != "f" or x.shape[1] != w.shape[0] \
            or x.shape[1] % groups:
        return NotImplemented
    kernel = tuple(w.shape[2:])
    if tuple(op.attrs.get("kernel_shape") or kernel) != kernel:
        return NotImplemented
    output = _declared_spatial_shape(op, rank)
    start = _conv_transpose_crop(op, x.shape[2:], kernel, output)
    if start is None:
        return NotImplemented
    strides = tuple(op.attrs.get("strides") or [1] * rank)
    dilations = tuple(op.attrs.get("dilations") or [1] * rank)
    batch, channels = x.shape[:2]
    per_group_out, taps = w.shape[1], int(np.prod(kernel))
    weights = w.astype(x.dtype, copy=False).reshape(groups, channels // groups, per_group_out * taps)
    inputs = x.reshape(batch, groups, channels // groups, -1)
    columns = np.matmul(weights.transpose(0, 2, 1), inputs).reshape(
        (batch, groups, per_group_out, taps) + x.shape[2:])
    # an output_shape beyond the uncropped output is zero-filled at the end
    full = tuple(max(f, b + o) for f, b, o in zip(_conv_transpose_full(op, x.shape[2:], kernel), start, output))
    out = np.zeros((batch, groups, per_group_out) + full, dtype=x.dtype)
    for index, position in enumerate(itertools.product(*(range(k) for k in kernel))):
        target = (slice(None),) * 3 + tuple(
            slice(p * d, p * d + (n - 1) * s + 1, s) for p, d, n, s in zip(position, dilations, x.shape[2:], strides))
        out[target] += columns[:, :, :, index]
    crop = (slice(None), slice(None)) + tuple(slice(b, b + o) for b, o in zip(start, output))
    out = out.reshape((batch, groups * per_group_out) + full)[crop]
    if bias is not None:
        out = out + bias.astype(x.dtype, copy=False).reshape((-1,) + (1,) * rank)
    return out


def _conv_transpose_full(op: Op, spatial_shape: Sequence[int], kernel: Sequence[int]) -> tuple[int, ...]:
    """The uncropped output size of a ConvTranspose along each axis (``output_padding`` included)."""
    rank = len(spatial_shape)
    strides = op.attrs.get("strides") or [1] * rank
    dilations = op.attrs.get("dilations") or [1] * rank
    extra = op.attrs.get("output_padding") or [0] * rank
    return tuple(int((n - 1) * s + (k - 1) * d + 1 + e)
                 for n, s, k, d, e in zip(spatial_shape, strides, kernel, dilations, extra))


def _conv_transpose_crop(op: Op, spatial_shape: Sequence[int], kernel: Sequence[int],
                         output: Optional[Sequence[int]]) -> Optional[tuple[int, ...]]:
    """Where the declared output starts inside the uncropped output, or None when that is not covered.

    With ``output_shape`` or SAME auto-padding the padding is derived (SAME_UPPER puts the smaller half
    first); otherwise it is the ``pads`` attribute (zero for VALID).
    """
    rank = len(spatial_shape)
    if output is None:
        return None
    full = _conv_transpose_full(op, spatial_shape, kernel)
    auto_pad = op.attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if op.attrs.get("output_shape") or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        totals = [f - o for f, o in zip(full, output)]
        start = [t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in totals]
    elif auto_pad == "VALID":
        start = [0] * rank
    elif auto_pad == "NOTSET":
        start = list((op.attrs.get("pads") or [0] * (2 * rank))[:rank])
    else:
        return None
    if len(start) != rank or any(b < 0 for b in start) or (
            not op.attrs.get("output_shape") and any(b + o > f for b, o, f in zip(start, output, full))):
        return None
    return tuple(int(b) for b in start)


def _pool_kernel_shape(op: Op, x: np.ndarray) -> Optional[tuple[int, ...]]:
    kernel = op.attrs.get("kernel_shape")
    if kernel is None or len(kernel) != x.ndim - 2 or x.ndim - 2 not in SPATIAL_RANKS:
        return None
    return tuple(int(k) for k in kernel)


def max_pool(op: Op, x: np.ndarray):
    """ONNX MaxPool, with its optional Indices output (flat row-major positions in the input; the first
    maximum in window order wins a tie, as in onnxruntime)."""
    kernel = _pool_kernel_shape(op, x)
    with_indices = len(op.results) == 2
    if kernel is None or len(op.results) > 2 or (with_indices and int(op.attrs.get("storage_order", 0)) != 0):
        return NotImplemented
    geometry = window_geometry(op, x.shape[2:], kernel, bool(op.attrs.get("ceil_mode", 0)))
    if geometry is None:
        return NotImplemented
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    padded = pad_spatial(x, geometry, lowest)
    out, winner = None, None
    for index, window in enumerate(kernel_positions(geometry)):
        candidate = padded[window]
        if out is None:
            out = candidate.copy()
            winner = np.zeros(out.shape, dtype=np.int64) if with_indices else None
        elif with_indices:
            better = candidate > out
            out[better] = candidate[better]
            winner[better] = index
        else:
            np.maximum(out, candidate, out=out)
    if not with_indices:
        return out
    return out, _flat_input_indices(x.shape, geometry, winner)


def _flat_input_indices(shape: Sequence[int], geometry: WindowGeometry, winner: np.ndarray) -> np.ndarray:
    """Row-major flat input indices of the chosen kernel position (``winner``) of every output window."""
    rank = len(geometry.kernel)
    offsets = np.array(list(itertools.product(*(range(k) for k in geometry.kernel))), dtype=np.int64)
    flat = np.zeros(winner.shape, dtype=np.int64)
    for axis in range(rank):
        broadcast = [1] * (rank + 2)
        broadcast[axis + 2] = geometry.output[axis]
        starts = (np.arange(geometry.output[axis]) * geometry.strides[axis] - geometry.pads_begin[axis])
        coordinate = starts.reshape(broadcast) + offsets[winner, axis] * geometry.dilations[axis]
        flat = flat * shape[axis + 2] + coordinate
    planes = np.arange(shape[0] * shape[1], dtype=np.int64).reshape((shape[0], shape[1]) + (1,) * rank)
    return planes * int(np.prod(shape[2:])) + flat


def average_pool(op: Op, x: np.ndarray):
    """ONNX AveragePool: window sums divided by the count of input (or, with count_include_pad, padded)
    positions each window covers; positions added only by ``ceil_mode`` never count."""
    kernel = _pool_kernel_shape(op, x)
    if kernel is None or x.dtype.kind != "f":
        return NotImplemented
    geometry = window_geometry(op, x.shape[2:], kernel, bool(op.attrs.get("ceil_mode", 0)))
    if geometry is None:
        return NotImplemented
    padded = pad_spatial(x, geometry, 0)
    total = np.zeros(x.shape[:2] + geometry.output, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    for window in kernel_positions(geometry):
        total += padded[window]
    sizes = x.shape[2:]
    if int(op.attrs.get("count_include_pad", 0)):
        limits = ([0] * len(sizes), [n + b + e for n, b, e in zip(sizes, geometry.pads_begin, geometry.pads_end)])
    else:
        limits = (list(geometry.pads_begin), [n + b for n, b in zip(sizes, geometry.pads_begin)])
    counts = valid_counts(geometry, *limits)
    return (total / np.maximum(counts, 1)).astype(x.dtype)
