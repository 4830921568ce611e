"""Pruning with layer-wise reconstruction on calibration data (Optimal Brain Surgeon style, no training).

Magnitude pruning alone wrecks small trained models (50% of one digits_cnn layer costs 50 accuracy points).
Here each layer, in order, sees its inputs as the already-pruned model computes them; from those inputs
X (im2col rows for a convolution) and H = [X 1]^T [X 1] the pass removes, in a few rounds, the weights with
the smallest OBS saliency w_j^2 / [H_S^-1]_jj, and after each round solves the least-squares problem that
makes the kept weights and the bias reproduce the dense layer's output on those inputs. Handles
core.conv2d (groups 1), core.depthwise_conv2d (multiplier 1) and core.fully_connected.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Optional, Sequence

import numpy as np

from qcompiler.calibration_data import CalibrationSource, calibration_feeds
from qcompiler.interpreter import run
from qcompiler.ir import Graph, Op
from qcompiler.layer_weights import LayerWeight, layer_weight, replace_const_operand
from qcompiler.ops.core_image import to_nhwc, window_taps
from qcompiler.passes.prune import n_of_m_mask

#: Rounds in which unstructured pruning of a large layer reaches its target (saliencies are re-measured
#: between rounds); layers small enough for ``EXACT_BUDGET`` remove one weight at a time instead.
ROUNDS = 4
#: Largest rows x (reduction + 1)^2 for which unstructured pruning keeps every row's inverse Hessian and removes
#: weights one at a time (exact greedy OBS), about 80 MB of float64.
EXACT_BUDGET = 10_000_000
#: Largest rows x (reduction + 1)^3 for the rounds (a few seconds for 64 x 577); larger layers choose their mask
#: in one SparseGPT sweep (about 20x faster, about 20% more output error on random layers).
ROUNDS_BUDGET = 20_000_000_000
#: Ridge damping, relative to the mean diagonal of H.
DAMPING = 1e-3

RECONSTRUCTABLE = ("core.conv2d", "core.depthwise_conv2d", "core.fully_connected")


def can_reconstruct(weight: LayerWeight) -> bool:
    """Whether ``weight``'s layer is one this module rebuilds from data."""
    op = weight.op
    if op.kind not in RECONSTRUCTABLE:
        return False
    if op.kind == "core.conv2d" and int(op.attr("groups", 1)) != 1:
        return False
    if op.kind == "core.depthwise_conv2d" and int(op.attr("depth_multiplier", 1)) != 1:
        return False
    return op.operand(2) is None or op.operand(2).const_value is not None


def prune_with_reconstruction(graph: Graph, weights: Iterable[LayerWeight], calibration: CalibrationSource,
                              sparsity: float, n: int = 0, m: int = 0) -> int:
    """Prune every layer of ``weights`` (in graph order) to ``sparsity`` (or n of every m along the input
    channels when ``m``), re-solving kept weights and bias on ``calibration`` so that each layer, fed what the
    pruned model feeds it, reproduces what it computed in the dense model; returns how many layers changed."""
    return reconstruct_layers(graph, weights, calibration,
                              lambda rows, bias, systems: _prune_rows(rows, bias, systems, sparsity, n, m))


#: Normal equations (H, C) of one layer (or one per channel of a depthwise layer), see ``_normal_equations``.
Systems = list[tuple[np.ndarray, np.ndarray]]


def reconstruct_layers(graph: Graph, weights: Iterable[LayerWeight], calibration: CalibrationSource,
                       rebuild: Callable[[np.ndarray, np.ndarray, Systems], tuple[np.ndarray, np.ndarray]]) -> int:
    """Give each layer of ``weights`` (in graph order) the rows and bias ``rebuild(rows, bias, systems)``
    returns, where ``systems`` measure, on ``calibration``, how well the layer fed what ``graph`` now feeds it
    reproduces what it computed before any layer changed; returns how many layers changed."""
    feeds = list(calibration_feeds(calibration, graph))
    dense_graph = graph.clone()
    twins = {id(a): b for a, b in zip(graph.ops, dense_graph.ops)}
    changed = 0
    for weight in weights:
        op = weight.op
        changed_inputs = _layer_inputs(graph, op, feeds)
        dense_inputs = _layer_inputs(dense_graph, twins[id(op)], feeds)
        rows, bias = weight.rows().astype(np.float64), _bias(op, weight.rows().shape[0])
        if op.kind == "core.depthwise_conv2d":
            pairs = zip(_depthwise_columns(op, changed_inputs), _depthwise_columns(op, dense_inputs))
            systems = [_normal_equations(p, d) for p, d in pairs]
        else:
            systems = [_normal_equations(_columns(op, changed_inputs), _columns(op, dense_inputs))]
        new_rows, new_bias = rebuild(rows, bias, systems)
        set_weight_and_bias(weight, new_rows, new_bias)
        changed += 1
    return changed


def refit_layers(graph: Graph, dense_graph: Graph, twins: Mapping[int, Op],
                 layers: Sequence[tuple[Op, Optional[np.ndarray]]], calibration: CalibrationSource) -> None:
    """Re-fit the weight and bias of each layer (core.conv2d with groups 1 or core.fully_connected, in graph
    order) so that, fed what ``graph`` now feeds it, it best reproduces what its twin in ``dense_graph``
    (``twins[id(op)]``) computed on ``calibration``: output channels ``rows`` of the twin (None: all). Channel
    pruning uses it on the consumers that lost input channels."""
    feeds = list(calibration_feeds(calibration, graph))
    for op, rows in layers:
        twin = twins[id(op)]
        weight, twin_weight = layer_weight(op), layer_weight(twin)
        assert weight is not None and twin_weight is not None
        dense_rows = twin_weight.rows().astype(np.float64)
        dense_bias = _bias(twin, dense_rows.shape[0])
        if rows is not None:
            dense_rows, dense_bias = dense_rows[rows], dense_bias[rows]
        system = _normal_equations(_columns(op, _layer_inputs(graph, op, feeds)),
                                   _columns(twin, _layer_inputs(dense_graph, twin, feeds)))
        dense = np.concatenate([dense_rows, dense_bias[:, None]], axis=1)
        keep = np.ones(weight.rows().shape[1], dtype=bool)
        solved = np.stack([solve_kept(system, row, keep, pull=False)[0] for row in dense])
        set_weight_and_bias(weight, solved[:, :-1], solved[:, -1])


def set_weight_and_bias(weight: LayerWeight, rows: np.ndarray, bias: np.ndarray) -> None:
    """Give ``weight``'s layer the weight ``rows`` ([out, reduction] form) and ``bias`` (added when absent)."""
    op = weight.op
    dtype = weight.array.dtype
    replace_const_operand(op, weight.index, weight.from_rows(rows))
    if op.operand(2) is not None:
        replace_const_operand(op, 2, bias.astype(dtype))
    else:
        graph = op.graph
        with graph.inserting_before(op):
            op.set_operands(list(op.operands[:2]) + [graph.const(bias.astype(dtype))])


def _bias(op: Op, channels: int) -> np.ndarray:
    """The layer's bias as float64 (zeros when it has none)."""
    bias = op.operand(2)
    return np.zeros(channels) if bias is None else bias.const_value.astype(np.float64).reshape(-1)


def _layer_inputs(graph: Graph, op: Op, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    """The arrays ``op``'s first operand takes over ``feeds`` (concatenated on the batch axis)."""
    source = op.operand(0)
    seen: list[np.ndarray] = []

    def observe(value, array: np.ndarray) -> None:
        if value is source:
            seen.append(np.asarray(array, dtype=np.float64))

    for feed in feeds:
        run(graph, feed, observe=observe)
    return np.concatenate(seen, axis=0)


def _taps(op: Op, inputs: np.ndarray) -> list[np.ndarray]:
    """The per-kernel-position [N, OH, OW, C] views of a convolution's NHWC input."""
    layout = op.attr("layout", "NHWC")
    weight = op.operand(1).type.shape
    kernel = (weight[1], weight[2]) if layout == "NHWC" else (weight[2], weight[3])
    x = to_nhwc(inputs, layout)
    return [tap for _, _, tap in window_taps(x, kernel, op.attr("strides"), op.attr("dilations"),
                                             op.attr("padding"), 0.0)]


def _columns(op: Op, inputs: np.ndarray) -> np.ndarray:
    """[P, K] rows a layer multiplies its weight rows with: im2col (kernel position, then input channel) for
    conv2d, the inputs themselves for fully_connected."""
    if op.kind == "core.fully_connected":
        return inputs.reshape(-1, inputs.shape[-1])
    taps = _taps(op, inputs)
    stacked = np.stack(taps, axis=3)  # [N, OH, OW, KH*KW, C]
    return stacked.reshape(-1, stacked.shape[3] * stacked.shape[4])


def _depthwise_columns(op: Op, inputs: np.ndarray) -> np.ndarray:
    """[C, P, KH*KW]: per channel, the kernel-window rows of that channel."""
    stacked = np.stack(_taps(op, inputs), axis=3)  # [N, OH, OW, KH*KW, C]
    return np.moveaxis(stacked.reshape(-1, stacked.shape[3], stacked.shape[4]), 2, 0)


def _normal_equations(pruned: np.ndarray, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, C): H = [Xp 1]^T [Xp 1] with ridge damping on the weight part and C = [Xp 1]^T [Xd 1], for
    inputs Xp (pruned model) and Xd (dense model); the last row/column stands for the bias."""
    ones = np.ones((pruned.shape[0], 1))
    augmented = np.concatenate([pruned, ones], axis=1)
    gram = augmented.T @ augmented
    cross = augmented.T @ np.concatenate([dense, ones], axis=1)
    size = pruned.shape[1]
    gram[np.arange(size), np.arange(size)] += DAMPING * max(float(np.mean(np.diag(gram)[:size])), 1e-12)
    return gram, cross


def ridge_of(gram: np.ndarray) -> float:
    """The ridge damping ``_normal_equations`` added to the weight part of ``gram``'s diagonal."""
    size = gram.shape[0] - 1
    return DAMPING * max(float(np.mean(np.diag(gram)[:size])) / (1.0 + DAMPING), 1e-12) if size else 0.0


def solve_kept(system: tuple[np.ndarray, np.ndarray], dense: np.ndarray, keep: np.ndarray, pull: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """Kept weights and bias that best reproduce the dense row ``dense`` (bias last) on the dense inputs:
    returns the new row (bias last) and the inverse of H restricted to the kept entries and the bias.

    With ``pull`` the ridge damping pulls the kept weights towards their dense values rather than towards
    zero, so that a layer whose inputs did not change keeps its weights when nothing is removed (strongly
    correlated inputs would otherwise move them far); without it (the row and the layer's inputs index
    different channels) the ridge pulls towards zero."""
    gram, cross = system
    free = np.concatenate([np.flatnonzero(keep), [gram.shape[0] - 1]])
    inverse = np.linalg.inv(gram[np.ix_(free, free)])
    right = cross[free] @ dense
    if pull:
        right[:-1] += ridge_of(gram) * dense[free[:-1]]
    solution = np.zeros(gram.shape[0])
    solution[free] = inverse @ right
    return solution, inverse


def solve_all(system: tuple[np.ndarray, np.ndarray], dense: np.ndarray) -> np.ndarray:
    """``solve_kept`` for every row of ``dense`` at once with every weight kept (one system for all rows)."""
    gram, cross = system
    size = gram.shape[0] - 1
    right = dense @ cross.T
    right[:, :size] += ridge_of(gram) * dense[:, :size]
    return np.linalg.solve(gram, right.T).T


def inverse_cholesky(gram: np.ndarray) -> np.ndarray:
    """The upper Cholesky factor U of H^-1 (H^-1 = U^T U), through which GPTQ and SparseGPT spread the error
    of fixing one column over the columns after it."""
    return np.linalg.cholesky(np.linalg.inv(gram)).T


def obs_update(values: np.ndarray, inverse: np.ndarray, q: int, target: float) -> None:
    """Set entry ``q`` of ``values`` (a row's free entries, bias last) to ``target`` and move the other free
    entries to the least-squares optimum given that (Optimal Brain Surgeon update), then drop ``q`` from the
    problem: both in place, ``inverse`` being the inverse Hessian over the free entries."""
    column = inverse[:, q].copy()
    if column[q] > 0:
        values -= (values[q] - target) / column[q] * column
        inverse -= np.outer(column, column) / column[q]
    values[q] = target
    inverse[q, :] = 0.0
    inverse[:, q] = 0.0


def _prune_rows(rows: np.ndarray, bias: np.ndarray, systems: Systems, sparsity: float, n: int, m: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pruned rows and bias: one system of normal equations for all rows, or one per row (depthwise)."""
    channels, size = rows.shape
    dense = np.concatenate([rows, bias[:, None]], axis=1)
    keep = np.ones((channels, size), dtype=bool)
    current = dense.copy()
    gram_of = (lambda r: systems[0]) if len(systems) == 1 else (lambda r: systems[r])
    if channels * (size + 1) ** 2 <= EXACT_BUDGET:
        keep = _greedy_obs_mask(dense, gram_of, int(round(sparsity * rows.size)), n, m)
    elif m:
        saliency = _saliencies(current, keep, gram_of)
        keep = n_of_m_mask(saliency, n, m)
    elif len(systems) == 1 and channels * (size + 1) ** 3 > ROUNDS_BUDGET:
        keep = _sparsegpt_mask(dense, systems[0], int(round(sparsity * rows.size)))
    else:
        target = int(round(sparsity * rows.size))
        for round_index in range(1, ROUNDS + 1):
            goal = target * round_index // ROUNDS
            more = goal - int((~keep).sum())
            if more <= 0:
                continue
            saliency = _saliencies(current, keep, gram_of)
            order = np.argsort(np.where(keep, saliency, np.inf).reshape(-1), kind="stable")
            keep.reshape(-1)[order[:more]] = False
            current = np.stack([solve_kept(gram_of(r), dense[r], keep[r])[0] for r in range(channels)])
    current = np.stack([solve_kept(gram_of(r), dense[r], keep[r])[0] for r in range(channels)])
    return current[:, :size], current[:, size]


def _saliencies(current: np.ndarray, keep: np.ndarray, gram_of) -> np.ndarray:
    """OBS saliency w_j^2 / [H_S^-1]_jj of every kept weight (inf for pruned ones)."""
    channels, size = keep.shape
    saliency = np.full((channels, size), np.inf)
    for r in range(channels):
        kept = np.flatnonzero(keep[r])
        if kept.size == 0:
            continue
        _, inverse = solve_kept(gram_of(r), current[r], keep[r])
        diagonal = np.diag(inverse)[:kept.size]
        saliency[r, kept] = current[r, kept] ** 2 / np.maximum(diagonal, 1e-30)
    return saliency


def _greedy_obs_mask(dense: np.ndarray, gram_of, count: int, n: int = 0, m: int = 0) -> np.ndarray:
    """Keep-mask [rows, reduction] after removing ``count`` weights one at a time, each time the one (in any row)
    whose removal, with the row's other weights and bias re-solved, least raises the layer's output error
    (Optimal Brain Surgeon, with a rank-one update of the row's inverse Hessian after each removal). With ``m``
    the count is ignored: each row removes weights until every group of ``m`` consecutive ones keeps ``n``
    (a short last group ``min(n, len)``), and a group that got there is closed."""
    channels, size = dense.shape[0], dense.shape[1] - 1
    keep = np.ones((channels, size), dtype=bool)
    group = np.arange(size) // m if m else np.zeros(size, dtype=int)
    quota = np.bincount(group) - np.minimum(n, np.bincount(group)) if m else np.array([size])
    removed = np.zeros((channels, quota.size), dtype=int)
    if m:
        count = channels * int(quota.sum())
    inverses, current, saliency = [], np.empty_like(dense), np.empty((channels, size))
    for r in range(channels):
        solution, inverse = solve_kept(gram_of(r), dense[r], keep[r])
        inverses.append(inverse)
        current[r] = solution
        saliency[r] = np.where(quota[group] > 0, solution[:size] ** 2 / np.maximum(np.diag(inverse)[:size], 1e-30),
                               np.inf)
    best = saliency.min(axis=1)
    for _ in range(count):
        r = int(np.argmin(best))
        q = int(np.argmin(saliency[r]))
        obs_update(current[r], inverses[r], q, 0.0)
        keep[r, q] = False
        removed[r, group[q]] += 1
        diagonal = np.maximum(np.diag(inverses[r])[:size], 1e-30)
        open_ = keep[r] & (removed[r, group] < quota[group])
        saliency[r] = np.where(open_, current[r, :size] ** 2 / diagonal, np.inf)
        best[r] = saliency[r].min()
    return keep


#: Columns whose mask one SparseGPT step chooses together.
SPARSEGPT_BLOCK = 64


def _sparsegpt_mask(dense: np.ndarray, system: tuple[np.ndarray, np.ndarray], count: int) -> np.ndarray:
    """Keep-mask [rows, reduction] of a large layer with ``count`` weights removed, chosen in one sweep over the
    columns as SparseGPT does: in each block of columns the weights with the smallest w^2 / [U_jj]^2 (U the
    Cholesky factor of the inverse Hessian) go, at the layer's rate, and every removal's error is spread over
    the columns still to come, so that later choices see the compensated weights."""
    channels, size = dense.shape[0], dense.shape[1] - 1
    values = solve_all(system, dense)
    factor = inverse_cholesky(system[0])
    keep = np.ones((channels, size), dtype=bool)
    removed = 0
    for start in range(0, size, SPARSEGPT_BLOCK):
        end = min(start + SPARSEGPT_BLOCK, size)
        goal = int(round(count * end / size)) - removed
        score = values[:, start:end] ** 2 / np.diag(factor)[start:end] ** 2
        order = np.argsort(score.reshape(-1), kind="stable")[:max(goal, 0)]
        block = np.ones(score.size, dtype=bool)
        block[order] = False
        keep[:, start:end] = block.reshape(score.shape)
        removed += len(order)
        for j in range(start, end):
            error = np.where(keep[:, j], 0.0, values[:, j]) / factor[j, j]
            values[:, j] = np.where(keep[:, j], values[:, j], 0.0)
            values[:, j + 1:] -= np.outer(error, factor[j, j + 1:])
    return keep
