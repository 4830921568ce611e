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
"""

from __future__ import annotations

import warnings
from typing import Iterable

import numpy as np

from qcompiler.calibration_data import CalibrationSource
from qcompiler.ir import Graph
from qcompiler.layer_weights import LayerWeight
from qcompiler.quant_math import float32_scale
from qcompiler.sparse_reconstruction import Systems, reconstruct_layers, solve_kept

#: int8 weights are symmetric in the narrow range [-QMAX, QMAX].
QMAX = 127
#: Largest rows x (kept weights + 1)^3 a layer may cost; a larger layer is left to nearest rounding.
WORK_BUDGET = 20_000_000_000


def round_weights(graph: Graph, weights: Iterable[LayerWeight], calibration: CalibrationSource,
                  per_channel: bool = True) -> int:
    """Round every layer of ``weights`` (in graph order) onto its int8 grid, compensating each rounding on
    ``calibration`` (see the module docstring); returns how many layers were rounded."""
    small, large = [], []
    for weight in weights:
        rows = weight.rows()
        kept = int(np.count_nonzero(rows, axis=1).max(initial=0)) + 1
        (small if rows.shape[0] * kept ** 3 <= WORK_BUDGET else large).append(weight)
    if large:
        warnings.warn(f"round-weights: {', '.join(w.name for w in large)} too large for data-aware rounding; "
                      f"left to nearest rounding")
    reconstruct_layers(graph, small, calibration,
                       lambda rows, bias, systems: round_rows(rows, bias, systems, per_channel))
    return len(small)


def round_rows(rows: np.ndarray, bias: np.ndarray, systems: Systems, per_channel: bool
               ) -> tuple[np.ndarray, np.ndarray]:
    """[out, reduction] ``rows`` and ``bias`` of one layer, its weights on the int8 grid; ``systems`` holds
    one set of normal equations for all rows, or one per row (depthwise)."""
    channels, size = rows.shape
    dense = np.concatenate([rows, bias[:, None]], axis=1)
    keep = rows != 0
    system_of = (lambda r: systems[0]) if len(systems) == 1 else (lambda r: systems[r])
    starts = [solve_kept(system_of(r), dense[r], keep[r]) for r in range(channels)]
    bounds = np.array([np.abs(solution[:size]).max(initial=0.0) for solution, _ in starts])
    if per_channel:
        scales, pinned = bounds / QMAX, np.ones(channels, dtype=bool)
    else:
        scales = np.full(channels, bounds.max(initial=0.0) / QMAX)
        pinned = np.arange(channels) == int(np.argmax(bounds))
    result = np.empty_like(dense)
    for r, (solution, inverse) in enumerate(starts):
        scale = float32_scale(scales[r])
        if scale == 0.0:
            result[r] = solution
            continue
        result[r] = _round_row(solution, inverse, keep[r], scale, bool(pinned[r]))
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
        _fix(values, inverse, pending, first, np.sign(values[first]) * QMAX * scale)
    while pending.any():
        grid = np.clip(np.round(values[:-1] / scale), -QMAX, QMAX) * scale
        diagonal = np.maximum(np.diag(inverse)[:-1], 1e-30)
        cost = np.where(pending, (values[:-1] - grid) ** 2 / diagonal, np.inf)
        q = int(np.argmin(cost))
        _fix(values, inverse, pending, q, grid[q])
    row = np.zeros(solution.shape)
    row[free] = values[:-1]
    row[-1] = values[-1]
    return row


def _fix(values: np.ndarray, inverse: np.ndarray, pending: np.ndarray, q: int, target: float) -> None:
    """Set entry ``q`` to ``target`` and move the pending entries and the bias to the least-squares optimum
    given that (Optimal Brain Surgeon update), then drop ``q`` from the problem."""
    column = inverse[:, q].copy()
    if column[q] > 0:
        values -= (values[q] - target) / column[q] * column
        inverse -= np.outer(column, column) / column[q]
    values[q] = target
    inverse[q, :] = 0.0
    inverse[:, q] = 0.0
    pending[q] = False
