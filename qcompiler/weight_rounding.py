"""Data-aware rounding of conv/dense weights to the int8 grid (Optimal Brain Quantization, the exact greedy
form of GPTQ), done on the float model before it is quantized.

Rounding every weight to its nearest int8 step is what the quantizer does; its errors add up in each output.
Here each layer, in graph order and fed what the already-rounded model feeds it, rounds its weights one at a
time onto the grid the quantizer will choose (symmetric, narrow range, per output channel or per tensor),
each time the weight whose rounding costs least, and after each rounding re-solves the not-yet-rounded
weights and the bias so that the layer keeps reproducing what it computed before (the inverse Hessian of the
layer's least-squares problem gets a rank-one update per step). The largest weight of each channel is put
on the grid's end first, so the quantizer later picks the very same scale and the int8 model carries these
weights exactly. Zeros stay zero (pruned weights keep their sparsity) and the bias stays float.

A layer too large for that (rows x (kept weights + 1)^3 above ``EXACT_BUDGET``, e.g. a 3x3 conv with 64
input channels) is rounded as GPTQ does: one column at a time in a fixed order (largest input energy first,
the bias last and never rounded) for all rows at once, each rounding error spread over the columns still
to come through the Cholesky factor of the inverse Hessian; pruned weights are rounded to zero the same way.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from qcompiler.calibration_data import CalibrationSource
from qcompiler.ir import Graph
from qcompiler.layer_weights import LayerWeight
from qcompiler.quant_math import float32_scale
from qcompiler.sparse_reconstruction import (Systems, inverse_cholesky, obs_update, reconstruct_layers,
                                             solve_all, solve_kept)

#: int8 weights are symmetric in the narrow range [-QMAX, QMAX].
QMAX = 127
#: Largest rows x (kept weights + 1)^3 for the one-weight-at-a-time rounding; larger layers use GPTQ's
#: fixed order (a few seconds for a 256 x 2304 layer).
EXACT_BUDGET = 1_000_000_000


def round_weights(graph: Graph, weights: Iterable[LayerWeight], calibration: CalibrationSource,
                  per_channel: bool = True) -> int:
    """Round every layer of ``weights`` (in graph order) onto its int8 grid, compensating each rounding on
    ``calibration`` (see the module docstring); returns how many layers were rounded."""
    return reconstruct_layers(graph, weights, calibration,
                              lambda rows, bias, systems: round_rows(rows, bias, systems, per_channel))


def round_rows(rows: np.ndarray, bias: np.ndarray, systems: Systems, per_channel: bool
               ) -> tuple[np.ndarray, np.ndarray]:
    """[out, reduction] ``rows`` and ``bias`` of one layer, its weights on the int8 grid; ``systems`` holds
    one set of normal equations for all rows, or one per row (depthwise)."""
    channels, size = rows.shape
    dense = np.concatenate([rows, bias[:, None]], axis=1)
    keep = rows != 0
    kept = int(np.count_nonzero(keep, axis=1).max(initial=0)) + 1
    if len(systems) == 1 and channels * kept ** 3 > EXACT_BUDGET:
        return _round_columns(dense, systems[0], keep, per_channel)
    system_of = (lambda r: systems[0]) if len(systems) == 1 else (lambda r: systems[r])
    starts = [solve_kept(system_of(r), dense[r], keep[r]) for r in range(channels)]
    scales, pinned = _grid(np.stack([solution[:size] for solution, _ in starts]) * keep, per_channel)
    result = np.empty_like(dense)
    for r, (solution, inverse) in enumerate(starts):
        scale = scales[r]
        if scale == 0.0:
            result[r] = solution
            continue
        result[r] = _round_row(solution, inverse, keep[r], scale, bool(pinned[r]))
    return result[:, :size], result[:, size]


def _grid(weights: np.ndarray, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row of [out, reduction] ``weights``: the float32 scale of its int8 grid (from its largest magnitude,
    or the tensor's) and whether the row holds the element pinned to the grid's end."""
    bounds = np.abs(weights).max(axis=1, initial=0.0)
    if per_channel:
        return np.array([float32_scale(b / QMAX) for b in bounds]), np.ones(len(bounds), dtype=bool)
    scale = float32_scale(bounds.max(initial=0.0) / QMAX)
    return np.full(len(bounds), scale), np.arange(len(bounds)) == int(np.argmax(bounds))


def _round_columns(dense: np.ndarray, system: tuple[np.ndarray, np.ndarray], keep: np.ndarray, per_channel: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    """GPTQ over all rows at once (see the module docstring): rows and bias of a layer too large to round one
    weight at a time, weights on the int8 grid (pruned ones zero), each row's largest kept weight pinned to
    the grid's end."""
    gram = system[0]
    size = gram.shape[0] - 1
    values = solve_all(system, dense)
    scales, pinned = _grid(values[:, :size] * keep, per_channel)
    pin_column = np.where(pinned, np.argmax(np.abs(values[:, :size]) * keep, axis=1), -1)
    pin_value = np.sign(values[np.arange(len(values)), np.maximum(pin_column, 0)]) * QMAX * scales
    order = np.concatenate([np.argsort(-np.diag(gram)[:size], kind="stable"), [size]])
    factor = inverse_cholesky(gram[np.ix_(order, order)])
    values = values[:, order]
    steps = np.where(scales > 0, scales, 1.0)
    for j, column in enumerate(order[:-1]):
        current = values[:, j]
        target = np.clip(np.round(current / steps), -QMAX, QMAX) * steps
        target = np.where(keep[:, column], target, 0.0)
        target = np.where(pin_column == column, pin_value, target)
        error = (current - target) / factor[j, j]
        values[:, j] = target
        values[:, j + 1:] -= np.outer(error, factor[j, j + 1:])
    result = np.empty_like(values)
    result[:, order] = values
    return result[:, :size], result[:, size]


def _round_row(solution: np.ndarray, inverse: np.ndarray, keep: np.ndarray, scale: float, pin: bool
               ) -> np.ndarray:
    """One row (bias last) with its kept weights rounded one at a time, cheapest first (the largest first
    when ``pin``, onto the grid's end), the others and the bias re-solved after each step."""
    free = np.flatnonzero(keep)
    values = np.concatenate([solution[free], solution[-1:]])
    inverse = inverse.copy()
    pending = np.ones(free.size, dtype=bool)
    if pin:
        first = int(np.argmax(np.abs(values[:-1])))
        obs_update(values, inverse, first, np.sign(values[first]) * QMAX * scale)
        pending[first] = False
    while pending.any():
        grid = np.clip(np.round(values[:-1] / scale), -QMAX, QMAX) * scale
        diagonal = np.maximum(np.diag(inverse)[:-1], 1e-30)
        cost = np.where(pending, (values[:-1] - grid) ** 2 / diagonal, np.inf)
        q = int(np.argmin(cost))
        obs_update(values, inverse, q, grid[q])
        pending[q] = False
    row = np.zeros(solution.shape)
    row[free] = values[:-1]
    row[-1] = values[-1]
    return row
