"""How far an operator's output may overlap its input when the input dies there (in-place execution).

A kernel that writes output elements in increasing address order, each only after all of its own reads, may
start its output ``distance`` bytes below its input as long as no write lands on an input byte a later output
still reads. Given, per output element, the lowest input element it reads, this module computes the smallest
safe distance: elementwise ops get 0 (fully in place), windows (depthwise conv, pooling, as TinyEngine does)
get about one input row, dense layers about one input row of the matrix.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: Marks an output element that reads no input element (e.g. padding).
NO_READ = np.iinfo(np.int64).max // 4


def safe_distance(first_reads: np.ndarray, output_itemsize: int, input_itemsize: int) -> int:
    """The smallest ``d >= 0`` such that the output may start ``d`` bytes below the input.

    ``first_reads[o]`` is the lowest input element index output element ``o`` reads (``NO_READ`` if none).
    Writing output ``o`` covers bytes ``[(o) * osz, (o + 1) * osz)`` relative to the output start; every
    later output ``o' > o`` still needs input bytes from ``first_reads[o'] * isz`` on.
    """
    reads = np.asarray(first_reads, dtype=np.int64).reshape(-1)
    if reads.size == 0:
        return 0
    later = np.minimum.accumulate(reads[::-1])[::-1]       # min over o' >= o
    later = np.append(later[1:], NO_READ)                  # min over o' > o (none after the last)
    needed = (np.arange(1, reads.size + 1, dtype=np.int64) * output_itemsize) - later * input_itemsize
    return int(max(0, needed.max()))


def window_first_reads(batches: int, in_hw: Sequence[int], channels: int, out_hw: Sequence[int],
                       out_channels: int, strides: Sequence[int], pads: Sequence[int], channel_of_output) -> np.ndarray:
    """First reads of a 2-D window op in NHWC: output (b, oy, ox, oc) reads from its window's clipped top-left
    pixel, at input channel ``channel_of_output(oc)`` (0 for a full convolution)."""
    in_h, in_w = in_hw
    out_h, out_w = out_hw
    y = np.maximum(0, np.arange(out_h) * strides[0] - pads[0])
    x = np.maximum(0, np.arange(out_w) * strides[1] - pads[1])
    b = np.arange(batches)
    c = np.asarray([channel_of_output(oc) for oc in range(out_channels)], dtype=np.int64)
    pixel = (b[:, None, None] * in_h + y[None, :, None]) * in_w + x[None, None, :]
    return (pixel[..., None] * channels + c).reshape(-1)


def row_first_reads(rows: int, in_row: int, out_row: int) -> np.ndarray:
    """First reads of a row-wise op (dense layer, softmax): every output of row r may read all of input row r."""
    return np.repeat(np.arange(rows, dtype=np.int64) * in_row, out_row)


def elementwise_first_reads(count: int) -> np.ndarray:
    """First reads of an elementwise op: output i reads input i."""
    return np.arange(count, dtype=np.int64)
