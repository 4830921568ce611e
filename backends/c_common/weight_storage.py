"""Compressed storage of int8 layer weights for the C backends: per tensor the smallest of plain int8, packed
n-bit codebook indices (one int8 codebook per tensor or per output channel), and a sparse form (a bitmask of
the nonzero weights plus their values, raw or as codebook indices).

A weight is handled as ``rows`` [output channels, taps], taps in the order the kernels visit them. Every
stored stream is one run over the whole tensor in row order (the kernels read it with a sequential cursor,
so no per-row offsets are stored): the mask has one bit per weight, the values stream ``bits`` bits per
stored weight, both least significant bit first, and the value stream has one byte of padding so that a
decoder may always read two bytes. ``decode`` is the numpy twin of the C cursor (qc_packed_weights.h).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from qcompiler.errors import QCompilerError

#: Storage kinds, in the order ties are broken (the simpler form wins).
KINDS = ("dense", "codebook", "sparse", "sparse-codebook")


@dataclass(frozen=True)
class PackedWeights:
    """One weight tensor's storage.

    ``kind`` is one of ``KINDS``; ``mask`` (uint8 bits, or None) marks stored weights; ``stream`` (uint8) holds
    the stored weights: raw int8 bytes when ``table`` is None, else ``bits``-wide indices into ``table``
    (int8 [table rows, table_size]: one row, or one per output channel when ``per_channel``).
    """

    kind: str
    shape: tuple[int, int]
    stream: np.ndarray
    mask: Optional[np.ndarray] = None
    table: Optional[np.ndarray] = None
    bits: int = 8
    per_channel: bool = False

    @property
    def table_size(self) -> int:
        """Entries per codebook row (0 without a codebook)."""
        return 0 if self.table is None else int(self.table.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes in flash: the value stream (padding included), the mask and the codebook."""
        return sum(int(a.nbytes) for a in (self.stream, self.mask, self.table) if a is not None)


def index_bits(entries: int) -> int:
    """Bits per packed index of a codebook of ``entries`` values: ceil(log2(entries)), at least 1."""
    return max(1, int(np.ceil(np.log2(max(entries, 1)))))


def pack_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """``values`` (each below 2**bits) as one LSB-first bit stream of ``bits`` bits each, padded by a zero
    byte (the C decoder reads two bytes at a time)."""
    values = np.asarray(values, dtype=np.uint32).reshape(-1)
    planes = ((values[:, None] >> np.arange(bits, dtype=np.uint32)) & 1).astype(np.uint8).reshape(-1)
    return np.concatenate([np.packbits(planes, bitorder="little"), np.zeros(1, dtype=np.uint8)])


def unpack_bits(stream: np.ndarray, bits: int, count: int) -> np.ndarray:
    """The inverse of ``pack_bits``: ``count`` values of ``bits`` bits."""
    planes = np.unpackbits(stream, bitorder="little")[:count * bits].reshape(count, bits).astype(np.uint32)
    return (planes << np.arange(bits, dtype=np.uint32)).sum(axis=1)


def _codebook(values_by_row: list[np.ndarray], per_channel: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(table [rows or 1, size], indices of the concatenated values, bits) of the rows' values."""
    if not per_channel:
        table, indices = np.unique(np.concatenate(values_by_row), return_inverse=True)
        return table.reshape(1, -1).astype(np.int8), indices.reshape(-1), index_bits(table.size)
    found = [np.unique(row, return_inverse=True) for row in values_by_row]
    width = max(max(t.size for t, _ in found), 1)
    table = np.stack([np.concatenate([t, np.repeat(t[-1:] if t.size else np.zeros(1, t.dtype), width - t.size)])
                      for t, _ in found]).astype(np.int8)
    indices = np.concatenate([i.reshape(-1) for _, i in found]) if found else np.zeros(0, np.int64)
    return table, indices, index_bits(width)


def candidates(rows: np.ndarray) -> list[PackedWeights]:
    """Every storage of ``rows`` (int8 [channels, taps]): dense, codebook (per tensor and per channel), sparse
    raw and sparse codebook (per tensor and per channel)."""
    rows = np.ascontiguousarray(rows, dtype=np.int8)
    if rows.ndim != 2:
        raise QCompilerError(f"weight storage takes [channels, taps] rows, got shape {rows.shape}")
    shape = (int(rows.shape[0]), int(rows.shape[1]))
    found = [PackedWeights("dense", shape, rows.reshape(-1).view(np.uint8))]
    nonzero = rows != 0
    mask = np.packbits(nonzero.reshape(-1), bitorder="little")
    kept = [row[keep] for row, keep in zip(rows, nonzero)]
    found.append(PackedWeights("sparse", shape, np.concatenate(kept + [np.zeros(1, np.int8)]).view(np.uint8),
                               mask))
    for kind, values, row_mask in (("codebook", list(rows), None), ("sparse-codebook", kept, mask)):
        if not sum(v.size for v in values):
            continue
        for per_channel in (False, True):
            table, indices, bits = _codebook(values, per_channel)
            if bits < 8:
                found.append(PackedWeights(kind, shape, pack_bits(indices, bits), row_mask, table, bits,
                                           per_channel))
    return found


def choose_storage(rows: np.ndarray) -> PackedWeights:
    """The smallest storage of ``rows`` (ties: dense, then codebook, sparse, sparse codebook; per tensor
    before per channel)."""
    options = candidates(rows)
    return min(options, key=lambda p: (p.nbytes, KINDS.index(p.kind), p.per_channel))


def decode(packed: PackedWeights) -> np.ndarray:
    """The int8 rows back from their storage, as the C cursor reads them (the tests' oracle of the packing)."""
    channels, taps = packed.shape
    present = np.ones(channels * taps, dtype=bool) if packed.mask is None else \
        np.unpackbits(packed.mask, bitorder="little")[:channels * taps].astype(bool)
    count = int(present.sum())
    if packed.table is None:
        stored = packed.stream.view(np.int8)[:count]
    else:
        indices = unpack_bits(packed.stream, packed.bits, count)
        row_of = np.repeat(np.arange(channels), taps)[present] if packed.per_channel else np.zeros(count, int)
        stored = packed.table[row_of, indices]
    values = np.zeros(channels * taps, dtype=np.int8)
    values[present] = stored
    return values.reshape(channels, taps)
