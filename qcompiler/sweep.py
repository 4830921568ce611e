"""The sensitivity sweep: measure accuracy against sparsity (or cluster count) one layer at a time, then pick
per-layer settings whose combination stays within an accuracy budget.

Evaluation data is an ``.npz`` holding the model inputs (one array per graph input, named after it, first axis
= samples, as ``qcompiler.samples`` reads them) plus a ``labels`` array of integer classes, one per sample.
Accuracy is top-1 of the first output (argmax over its last axis). Without labels, the float model's own
predictions serve as labels (the measure is then agreement with the uncompressed model).

Trials are independent, so they run in parallel: on local processes (``ProcessPoolExecutor``) by default,
or on a Ray cluster when ``ray_address`` is given (``pip install qcompiler[sweep]``). Every trial is
deterministic, so the result does not depend on where or in which order trials ran.
"""

from __future__ import annotations

import concurrent.futures
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping, Optional, Sequence

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.layer_weights import layer_weights
from qcompiler.pass_manager import Pass, get_pass
from qcompiler.samples import SamplesError, load_samples, read_arrays, run_samples, validate_samples

Method = Literal["prune", "cluster"]
#: Settings tried per layer when none are given: sparsities for prune, cluster counts for cluster.
DEFAULT_VALUES: dict[str, tuple[float, ...]] = {
    "prune": (0.25, 0.5, 0.625, 0.75, 0.875),
    "cluster": (64, 32, 16, 8, 4),
}
LABELS = "labels"


class SweepError(QCompilerError):
    """A sweep that cannot run: bad settings, no prunable layer, Ray missing."""


@dataclass(frozen=True)
class EvalData:
    """Evaluation samples (arrays by input name, first axis = samples) and their labels."""

    samples: dict[str, np.ndarray]
    labels: Optional[np.ndarray]


def load_eval_data(path: str, graph: Graph, labels: Optional[str] = None) -> EvalData:
    """Read ``path`` (.npz or folder of .npy): the model inputs and the labels, taken from the array named
    ``labels`` (default ``labels``) or from a separate ``.npy`` file when ``labels`` is a path."""
    arrays = read_arrays(path)
    if labels is not None and (labels.endswith(".npy") or os.path.sep in labels):
        from qcompiler.samples import read_npy

        label_array: Optional[np.ndarray] = read_npy(labels)
    else:
        key = labels or LABELS
        if labels is not None and key not in arrays:
            raise SamplesError(f"{path} has no array '{key}' (it has {', '.join(sorted(arrays))})")
        label_array = arrays.pop(key, None)
    samples = validate_samples(arrays, graph, source=str(path))
    count = len(next(iter(samples.values())))
    if label_array is not None:
        label_array = np.asarray(label_array).reshape(-1)
        if label_array.dtype.kind not in "iu":
            raise SamplesError(f"labels must be integer classes, got {label_array.dtype}")
        if len(label_array) != count:
            raise SamplesError(f"{len(label_array)} labels for {count} samples")
    return EvalData(samples, label_array)


def predictions(graph: Graph, data: EvalData) -> np.ndarray:
    """Top-1 class of the first output for every sample."""
    scores = run_samples(graph, data.samples)[graph.output_names[0]]
    return scores.reshape(len(scores), -1).argmax(axis=1)


def accuracy(graph: Graph, data: EvalData) -> float:
    """Top-1 accuracy of ``graph`` on ``data`` (labels required)."""
    if data.labels is None:
        raise SweepError("accuracy needs labels")
    return float(np.mean(predictions(graph, data) == data.labels))


@dataclass(frozen=True)
class TrialSpec:
    """One trial: one layer compressed with one setting."""

    layer: str
    value: float


@dataclass
class SweepConfig:
    """What every trial needs besides its spec (shipped once to each worker)."""

    model_text: str
    samples: dict[str, np.ndarray]
    labels: np.ndarray
    method: str
    granularity: str = "unstructured"
    calibration: Optional[dict[str, np.ndarray]] = None


def compression_pass(method: str, layers: Sequence[str], value: float, granularity: str = "unstructured",
                     calibration: Optional[Mapping[str, np.ndarray]] = None, data: str = "") -> Pass:
    """The pass that compresses ``layers`` with ``value`` (a sparsity for prune, a cluster count for cluster)."""
    if method == "prune":
        return get_pass("prune")(sparsity=float(value), granularity=granularity, only=list(layers), data=data,
                                 calibration=calibration)
    return get_pass("cluster")(clusters=int(value), only=list(layers))


_WORKER: dict[str, Any] = {}


def _worker_setup(config: SweepConfig) -> None:
    """Process-pool initializer: parse the model once per worker."""
    from qcompiler.text.parser import parse_graph

    _WORKER["config"] = config
    _WORKER["graph"] = parse_graph(config.model_text)


def _worker_trial(spec: TrialSpec) -> float:
    """Run one trial in a pool worker."""
    return trial_accuracy(_WORKER["graph"], _WORKER["config"], spec)


def trial_accuracy(graph: Graph, config: SweepConfig, spec: TrialSpec) -> float:
    """Accuracy of ``graph`` with one layer compressed as ``spec`` says (the graph itself is not changed)."""
    trial = graph.clone()
    compression_pass(config.method, [spec.layer], spec.value, config.granularity, config.calibration).run(trial)
    return accuracy(trial, EvalData(config.samples, config.labels))


def run_trials(config: SweepConfig, specs: Sequence[TrialSpec], jobs: Optional[int] = None,
               ray_address: Optional[str] = None) -> list[float]:
    """Accuracies of ``specs`` in order: on ``jobs`` local processes (1: in this process), or on Ray."""
    if ray_address is not None:
        return _run_on_ray(config, specs, ray_address)
    jobs = jobs or min(len(specs), os.cpu_count() or 1)
    if jobs <= 1:
        _worker_setup(config)
        return [_worker_trial(spec) for spec in specs]
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, initializer=_worker_setup,
                                                initargs=(config,)) as pool:
        return list(pool.map(_worker_trial, specs))


def _run_on_ray(config: SweepConfig, specs: Sequence[TrialSpec], address: str) -> list[float]:
    """Run the trials as Ray tasks on the cluster at ``address`` ('local' starts a local Ray instance)."""
    try:
        import ray
    except ImportError:
        raise SweepError("--ray needs Ray: pip install 'qcompiler[sweep]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(_ray_trial)
        shared = ray.put(config)
        return [float(x) for x in ray.get([remote.remote(shared, spec) for spec in specs])]
    finally:
        if started:
            ray.shutdown()


def _ray_trial(config: SweepConfig, spec: TrialSpec) -> float:
    """A trial as a Ray task: parse the model and run the trial."""
    from qcompiler.text.parser import parse_graph

    return trial_accuracy(parse_graph(config.model_text), config, spec)


@dataclass
class LayerChoice:
    """The setting chosen for one layer, with its weight count and its own accuracy at that setting."""

    layer: str
    weights: int
    value: Optional[float]
    accuracy: Optional[float]


@dataclass
class SweepResult:
    """The sweep's measurements and choices. ``curves[layer][value]`` is the accuracy with only that layer
    compressed; ``choices`` the per-layer settings picked; ``pipeline`` the pass pipeline applying them."""

    method: str
    metric: str
    baseline: float
    max_accuracy_drop: float
    values: list[float]
    curves: dict[str, dict[float, float]]
    choices: list[LayerChoice]
    final_accuracy: float
    pipeline: str
    compressed_fraction: float = 0.0
    history: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        """A JSON-ready dict (``-o choices.json``)."""
        data = asdict(self)
        data["curves"] = {layer: {_key(v): a for v, a in curve.items()} for layer, curve in self.curves.items()}
        return data


def _key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def sweep(graph: Graph, data: EvalData, *, method: str = "prune", values: Optional[Sequence[float]] = None,
          max_accuracy_drop: float = 0.5, granularity: str = "unstructured",
          calibration: Optional[str] = None, jobs: Optional[int] = None,
          ray_address: Optional[str] = None, layers: Sequence[str] = ()) -> SweepResult:
    """Sweep every conv/dense layer of ``graph`` (or just ``layers``) over ``values``, then choose per-layer
    settings: each layer's most aggressive setting whose own drop (and that of every milder setting) is
    within ``max_accuracy_drop`` points; if the combination exceeds the budget, the layer whose own drop is
    largest backs off one step, until it fits. ``calibration`` (a samples file) makes pruning re-fit kept
    weights on it (``prune{data=...}``). ``graph`` is not changed."""
    from qcompiler.text.printer import print_graph

    if method not in DEFAULT_VALUES:
        raise SweepError(f"unknown sweep method '{method}' (choose prune or cluster)")
    if max_accuracy_drop < 0:
        raise SweepError(f"--max-accuracy-drop must be >= 0, got {max_accuracy_drop}")
    values = sorted(values or DEFAULT_VALUES[method], reverse=(method == "cluster"))
    weights = {w.name: w.array.size for w in layer_weights(graph, only=layers)}
    if not weights:
        raise SweepError("the model has no conv/dense layer with a constant weight to sweep"
                         + (f" among {', '.join(layers)}" if layers else ""))
    metric = "accuracy"
    if data.labels is None:
        data = EvalData(data.samples, predictions(graph, data))
        metric = "agreement with the uncompressed model"
    baseline = accuracy(graph, data)
    calibration_arrays = load_samples(calibration, graph) if calibration else None
    config = SweepConfig(print_graph(graph), data.samples, data.labels, method, granularity, calibration_arrays)
    specs = [TrialSpec(layer, value) for layer in weights for value in values]
    results = run_trials(config, specs, jobs, ray_address)
    curves: dict[str, dict[float, float]] = {layer: {} for layer in weights}
    for spec, result in zip(specs, results):
        curves[spec.layer][spec.value] = result
    budget = max_accuracy_drop / 100.0
    steps = {layer: _allowed_steps(curves[layer], values, baseline, budget) for layer in weights}
    history: list[dict] = []
    while True:
        chosen = {layer: values[n - 1] for layer, n in steps.items() if n > 0}
        combined = _apply(graph, config, chosen)
        final = accuracy(combined, data)
        history.append({"choices": {k: v for k, v in chosen.items()}, "accuracy": final})
        if baseline - final <= budget + 1e-12 or not chosen:
            break
        worst = max(chosen, key=lambda layer: (baseline - curves[layer][chosen[layer]], -weights[layer]))
        steps[worst] -= 1
    choices = [LayerChoice(layer, weights[layer], chosen.get(layer), curves[layer].get(chosen.get(layer)))
               for layer in weights]
    return SweepResult(method, metric, baseline, max_accuracy_drop, list(values), curves, choices, final,
                       _pipeline_text(method, chosen, granularity, calibration or ""), _compressed(method, chosen, weights), history)


def _allowed_steps(curve: Mapping[float, float], values: Sequence[float], baseline: float, budget: float) -> int:
    """How many settings, mildest first, stay within ``budget`` of ``baseline`` one after the other."""
    count = 0
    for value in values:
        if baseline - curve[value] > budget + 1e-12:
            break
        count += 1
    return count


def _apply(graph: Graph, config: SweepConfig, chosen: Mapping[str, float]) -> Graph:
    """A copy of ``graph`` with the chosen settings applied, layer by layer in graph order."""
    combined = graph.clone()
    for layer, value in chosen.items():
        compression_pass(config.method, [layer], value, config.granularity, config.calibration).run(combined)
    return combined


def _pipeline_text(method: str, chosen: Mapping[str, float], granularity: str, data: str) -> str:
    """The pass pipeline that applies ``chosen`` (layers sharing a setting share a pass)."""
    by_value: dict[float, list[str]] = {}
    for layer, value in chosen.items():
        by_value.setdefault(value, []).append(layer)
    return ",".join(compression_pass(method, layers, value, granularity, data=data).pipeline_text()
                    for value, layers in by_value.items())


def _compressed(method: str, chosen: Mapping[str, float], weights: Mapping[str, int]) -> float:
    """For prune: the fraction of swept weights removed; for cluster: the fraction of weight bits saved
    against 8-bit storage (log2(clusters) bits per weight)."""
    total = sum(weights.values())
    if method == "prune":
        return sum(weights[layer] * value for layer, value in chosen.items()) / total
    return sum(weights[layer] * (1 - np.ceil(np.log2(value)) / 8) for layer, value in chosen.items()) / total
