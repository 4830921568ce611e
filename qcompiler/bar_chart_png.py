"""A small bar chart written as a PNG with the standard library (zlib + struct) and numpy.

The quantization report draws one with it: one bar per layer, numbered like the report's table, on a dB
axis with labelled grid lines. A chart this plain needs no plotting library, and its bytes depend only on
the data (no version or date metadata), so the same report gives the same file.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

#: A 3x5 pixel font for the characters axis labels use: each glyph is five rows of three bits.
_GLYPHS: dict[str, tuple[int, ...]] = {
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1), "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 1, 2, 2),
    "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7), "-": (0, 0, 7, 0, 0), ".": (0, 0, 0, 0, 2),
    "d": (1, 1, 7, 5, 7), "B": (6, 5, 6, 5, 6), " ": (0, 0, 0, 0, 0),
}

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)
BAR: Color = (70, 110, 170)
HIGHLIGHT: Color = (200, 60, 50)
UNBOUNDED: Color = (190, 205, 225)


@dataclass(frozen=True)
class Bar:
    """One bar: its height in axis units (None draws no bar; +inf a full-height pale bar, e.g. an exact
    tensor's SQNR) and whether it is highlighted."""

    value: Optional[float]
    highlight: bool = False


def png_bytes(pixels: np.ndarray) -> bytes:
    """Encode an ``H x W x 3`` uint8 RGB array as PNG bytes (8-bit truecolor, no interlace, filter 0)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width, channels = pixels.shape
    if channels != 3:
        raise ValueError("png_bytes takes an H x W x 3 RGB array")
    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + chunk(b"IEND", b""))


def _text(canvas: np.ndarray, text: str, x: int, y: int, scale: int, color: Color) -> None:
    """Draw ``text`` with its top-left corner at ``(x, y)``; characters without a glyph are skipped."""
    for char in text:
        glyph = _GLYPHS.get(char)
        if glyph is not None:
            for row, bits in enumerate(glyph):
                for col in range(3):
                    if bits & (4 >> col):
                        top, left = y + row * scale, x + col * scale
                        canvas[max(top, 0):top + scale, max(left, 0):left + scale] = color
        x += 4 * scale


def _text_width(text: str, scale: int) -> int:
    return max(0, 4 * scale * len(text) - scale)


def _tick_step(top: float) -> float:
    """A round grid step giving about five lines up to ``top``."""
    raw = top / 5.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(step * power for step in (1.0, 2.0, 5.0, 10.0) if step * power >= raw)


def bar_chart_png(bars: Sequence[Bar], *, bar_width: int = 14, height: int = 240, scale: int = 2,
                  unit: str = "dB") -> bytes:
    """A PNG bar chart of ``bars`` from 0 up, bars numbered 0.. under the axis, the axis labelled in ``unit``
    with round grid steps; highlighted bars are red. Negative values draw as zero-height bars, +inf as
    full-height pale ones."""
    values = [b.value for b in bars if b.value is not None and math.isfinite(b.value)]
    top = max([v for v in values if v > 0] + [1.0])
    step = _tick_step(top)
    top = math.ceil(top / step) * step
    label_w = _text_width(f"{top:g}{unit}", scale) + 3 * scale
    gap = max(2, bar_width // 3)
    plot_w = max(1, len(bars)) * (bar_width + gap) + gap
    margin_top, margin_bottom = 6 * scale, 8 * scale
    width = label_w + plot_w + 2 * scale
    canvas = np.full((margin_top + height + margin_bottom, width, 3), WHITE, np.uint8)
    base = margin_top + height  # y of the zero line

    def y_of(value: float) -> int:
        return base - int(round(height * min(max(value, 0.0), top) / top))

    tick = 0.0
    while tick <= top + 1e-9:
        y = y_of(tick)
        canvas[y, label_w:label_w + plot_w] = GRID
        label = f"{tick:g}" + (unit if tick == top else "")
        _text(canvas, label, label_w - 2 * scale - _text_width(label, scale), y - (5 * scale) // 2, scale, BLACK)
        tick += step
    for index, bar in enumerate(bars):
        left = label_w + gap + index * (bar_width + gap)
        if bar.value is not None and math.isfinite(bar.value):
            canvas[y_of(bar.value):base, left:left + bar_width] = HIGHLIGHT if bar.highlight else BAR
        elif bar.value == math.inf:
            canvas[y_of(top):base, left:left + bar_width] = UNBOUNDED
        label = str(index)
        if _text_width(label, 1) <= bar_width:
            small = 1 if _text_width(label, scale) > bar_width else scale
            _text(canvas, label, left + (bar_width - _text_width(label, small)) // 2, base + 2 * scale, small, BLACK)
    canvas[margin_top:base + 1, label_w] = BLACK
    canvas[base, label_w:label_w + plot_w] = BLACK
    return png_bytes(canvas)
