"""The sweep chart: one line per layer, accuracy (%) against the swept setting, with the accuracy budget as a
red line; written as a PNG with the quantization report's stdlib PNG encoder and pixel font, so the bytes
depend only on the data. Layers are numbered in the chart's legend in the order of the sweep's JSON."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from qcompiler.bar_chart_png import BLACK, GRID, HIGHLIGHT, WHITE, Color, _text, _text_width, png_bytes

#: Line colours, cycled over layers.
PALETTE: tuple[Color, ...] = ((70, 110, 170), (230, 140, 40), (60, 160, 80), (150, 80, 170), (40, 170, 190),
                              (170, 120, 60), (220, 100, 160), (110, 110, 110), (160, 170, 40))


def sweep_chart_png(curves: Mapping[str, Mapping[float, float]], values: Sequence[float], baseline: float,
                    budget_points: float, *, width: int = 480, height: int = 240, scale: int = 2) -> bytes:
    """PNG bytes: x = the swept settings in sweep order (evenly spaced, labelled), y = accuracy in percent
    from the lowest measured value (rounded down to 10) to 100; a red line at ``baseline - budget``."""
    accuracies = [a * 100 for curve in curves.values() for a in curve.values()] + [baseline * 100]
    bottom = float(np.floor(min(accuracies) / 10.0) * 10.0)
    label_w = _text_width("100", scale) + 3 * scale
    margin_top, margin_bottom, legend_h = 6 * scale, 9 * scale, 9 * scale * ((len(curves) + 7) // 8)
    canvas = np.full((margin_top + height + margin_bottom + legend_h, label_w + width + 6 * scale, 3), WHITE,
                     np.uint8)
    base = margin_top + height

    def y_of(percent: float) -> int:
        return base - int(round(height * (min(max(percent, bottom), 100.0) - bottom) / (100.0 - bottom)))

    def x_of(index: int) -> int:
        return label_w + 4 * scale + int(round(index * (width - 8 * scale) / max(len(values) - 1, 1)))

    for tick in np.arange(bottom, 100.0 + 1e-9, 10.0):
        y = y_of(float(tick))
        canvas[y, label_w:label_w + width] = GRID
        label = f"{tick:g}"
        _text(canvas, label, label_w - 2 * scale - _text_width(label, scale), y - (5 * scale) // 2, scale, BLACK)
    for index, value in enumerate(values):
        label = f"{value:g}"
        _text(canvas, label, x_of(index) - _text_width(label, scale) // 2, base + 2 * scale, scale, BLACK)
    limit = y_of(baseline * 100 - budget_points)
    canvas[limit, label_w:label_w + width] = HIGHLIGHT
    for number, curve in enumerate(curves.values()):
        color = PALETTE[number % len(PALETTE)]
        points = [(x_of(i), y_of(curve[v] * 100)) for i, v in enumerate(values) if v in curve]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            _line(canvas, x0, y0, x1, y1, color, scale)
        for x, y in points:
            canvas[max(y - scale, 0):y + scale + 1, max(x - scale, 0):x + scale + 1] = color
        left = label_w + (number % 8) * 14 * scale
        top = base + margin_bottom + (number // 8) * 9 * scale
        canvas[top + scale:top + 4 * scale, left:left + 4 * scale] = color
        _text(canvas, str(number), left + 5 * scale, top, scale, BLACK)
    canvas[margin_top:base + 1, label_w] = BLACK
    canvas[base, label_w:label_w + width] = BLACK
    return png_bytes(canvas)


def _line(canvas: np.ndarray, x0: int, y0: int, x1: int, y1: int, color: Color, thickness: int) -> None:
    """Draw a straight segment by sampling it densely (enough for a chart)."""
    steps = max(abs(x1 - x0), abs(y1 - y0), 1)
    xs = np.rint(np.linspace(x0, x1, steps + 1)).astype(int)
    ys = np.rint(np.linspace(y0, y1, steps + 1)).astype(int)
    half = thickness // 2
    for dx in range(-half, thickness - half):
        for dy in range(-half, thickness - half):
            canvas[np.clip(ys + dy, 0, canvas.shape[0] - 1), np.clip(xs + dx, 0, canvas.shape[1] - 1)] = color
