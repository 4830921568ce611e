"""Constant data laid out for the HVX kernels, decided at compile time: requantization constants per 32-lane
vector (``qc_hvx_requant_t``), filters of the convolution and dense kernels as one 128-byte vector per output
tile and group of four taps (the ``vrmpy`` layout), folded accumulator starts, and depthwise filters widened to
int16 in the lane order of ``vmpy``."""

from __future__ import annotations

import numpy as np

#: int32 lanes of a 128-byte vector.
LANES = 32
#: Arrays of qc_hvx_requant_t, in struct order.
REQUANT_FIELDS = ("multiplier", "left_shift", "right_shift", "mask", "half")


def tiles(channels: int, lanes: int = LANES) -> int:
    """Vectors of ``lanes`` needed for ``channels``."""
    return -(-channels // lanes)


def pad_lanes(values: np.ndarray, lanes: int = LANES) -> np.ndarray:
    """``values`` (first axis: channels) zero-padded to whole vectors."""
    values = np.asarray(values)
    padded = np.zeros((tiles(values.shape[0], lanes) * lanes, *values.shape[1:]), dtype=values.dtype)
    padded[: values.shape[0]] = values
    return padded


def requant_lanes(multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``qc_hvx_requant_t`` records, one per vector of 32 channels, as int32 ``[tiles, 5, 32]``: TFLite's
    (multiplier, shift) split into the left shift before and the rounding right shift after the multiply."""
    multiplier = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    shift = np.asarray(shift, dtype=np.int64).reshape(-1)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    mask = (np.int64(1) << right) - 1
    fields = np.stack([multiplier, left, right, mask, mask >> 1])          # [5, channels]
    padded = pad_lanes(fields.T)                                             # [tiles*32, 5]
    return padded.reshape(-1, LANES, len(REQUANT_FIELDS)).transpose(0, 2, 1).astype(np.int32)


def gemm_filter(filter_: np.ndarray) -> np.ndarray:
    """An ``[out, K]`` int8 filter as ``[tiles, K/4, 32, 4]``: vector (tile, k) holds, in lane ``j``, taps
    ``4k..4k+3`` of output channel ``32 tile + j`` (zeros past the channels and past K)."""
    out_c, depth = filter_.shape
    groups = -(-depth // 4)
    padded = np.zeros((tiles(out_c) * LANES, groups * 4), dtype=np.int8)
    padded[:out_c, :depth] = filter_
    return padded.reshape(tiles(out_c), LANES, groups, 4).transpose(0, 2, 1, 3).copy()


def gemm_accumulator_start(filter_: np.ndarray, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """Per output channel, ``bias + input_offset * sum(filter)``, wrapped to int32 and padded to whole vectors:
    the kernels multiply raw int8 inputs, so the input offset's share is folded in here (a padded tap holds the
    input zero point and adds nothing, as the reference kernel skips it)."""
    out_c = filter_.shape[0]
    start = np.asarray(filter_, dtype=np.int64).reshape(out_c, -1).sum(axis=1) * int(input_offset)
    if bias is not None:
        start = start + np.asarray(bias, dtype=np.int64)
    return pad_lanes(((start + 2**31) % 2**32 - 2**31).astype(np.int32))


def depthwise_filter(filter_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A ``[taps, channels]`` int8 depthwise filter widened to int16 ``[tiles, taps, 64]`` in ``vmpy``'s lane
    order (even channels of a 64-channel tile in the even halfwords), and the ``[tiles, 2, 32]`` int32 lane
    order of the accumulators (even channels, then odd), for packing per-channel constants."""
    taps, channels = filter_.shape
    count = -(-channels // 64)
    padded = np.zeros((taps, count * 64), dtype=np.int16)
    padded[:, :channels] = filter_
    widened = padded.reshape(taps, count, 64).transpose(1, 0, 2).copy()
    order = np.arange(count * 64).reshape(count, 32, 2).transpose(0, 2, 1)  # [tile, even/odd, lane]
    return widened, order
