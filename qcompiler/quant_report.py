"""The per-layer quantization report: how far every quantized tensor is from the float model, and which layers
lose the most, as JSON, Markdown and a bar chart PNG.

Both graphs run in the reference interpreter on the same samples. Each tensor of the quantized graph is
matched to the float tensor it stands for (by name: ``insert-qdq`` names a quantized tensor ``<float
name>.q``; else through the quantize/dequantize ops; else by the user's node name), and two
signal-to-quantization-noise ratios are measured over all samples:

- **cumulative SQNR**: the quantized model as it runs, so the error of every earlier layer is included;
- **layer SQNR**: the same tensor when every earlier matched tensor is replaced by the float model's value
  quantized with its own parameters, so it measures what this layer alone adds (its weights' rounding, its
  requantization, its clamping). Layers are ranked by it: the lowest are the ones that hurt most.

SQNR = 10 log10(sum(float^2) / sum((float - real(quantized))^2)) in dB; an exact tensor has infinite SQNR
(``null`` in JSON). Weights get a row too, measured once on their constant arrays.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from qcompiler import quant_math
from qcompiler.bar_chart_png import Bar, bar_chart_png
from qcompiler.calibration_data import CalibrationSource, calibration_feeds
from qcompiler.errors import QCompilerError
from qcompiler.fileio import atomic_write_bytes
from qcompiler.interpreter import run
from qcompiler.ir import Graph, Value
from qcompiler.ops.registry import lookup_op_def

#: Name suffixes that quantization passes append to the float tensor's name.
DERIVED_SUFFIXES = (".q", ".dq", ".f16")
#: Ops whose result stands for the same real tensor as their operand.
FORWARDING_OPS = frozenset({"q.quantize", "q.dequantize", "q.requantize"})
#: How many of the worst layers the Markdown summary and the chart highlight.
WORST_COUNT = 5


# -- SQNR ----------------------------------------------------------------------------------------------------
def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """SQNR of ``test`` against ``reference`` in dB (inf when they are equal, -inf when the reference is
    all zeros and the test is not)."""
    meter = NoiseMeter()
    meter.add(reference, test)
    return meter.sqnr_db


@dataclass
class NoiseMeter:
    """Accumulates signal and noise power over many arrays, so that the SQNR covers all samples at once."""

    signal: float = 0.0
    noise: float = 0.0
    max_abs_error: float = 0.0
    count: int = 0

    def add(self, reference: np.ndarray, test: np.ndarray) -> None:
        """Add one pair of arrays (the same shape) to the totals."""
        reference = np.asarray(reference, dtype=np.float64)
        error = np.asarray(test, dtype=np.float64) - reference
        self.signal += float(np.sum(reference * reference))
        self.noise += float(np.sum(error * error))
        if error.size:
            self.max_abs_error = max(self.max_abs_error, float(np.max(np.abs(error))))
        self.count += 1

    @property
    def sqnr_db(self) -> float:
        """The SQNR over everything added."""
        if self.noise == 0.0:
            return math.inf
        if self.signal == 0.0:
            return -math.inf
        return 10.0 * math.log10(self.signal / self.noise)


def real_array(value: Value, array: np.ndarray) -> np.ndarray:
    """The real numbers a value's array stands for: dequantized when the value is quantized."""
    quant = value.type.quant
    return quant_math.dequantize(array, quant) if quant is not None else np.asarray(array, dtype=np.float32)


def ideal_array(value: Value, reference: np.ndarray) -> np.ndarray:
    """What ``value`` would hold if it were exact up to its own storage: the float tensor quantized with the
    value's parameters (or the float tensor itself when the value is float)."""
    quant = value.type.quant
    if quant is not None:
        return quant_math.quantize(reference, quant)
    return np.asarray(reference).astype(value.type.dtype, copy=False)


# -- matching ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorMatch:
    """A tensor of the quantized graph and the float tensor it stands for."""

    quantized: Value
    reference: Value


def _strip_suffixes(name: str) -> Iterable[str]:
    """``name`` and the names left after dropping derived suffixes one by one (``x.q.dq`` -> ``x.q``, ``x``)."""
    yield name
    while True:
        for suffix in DERIVED_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                yield name
                break
        else:
            return


class TensorMatcher:
    """Finds the float tensor of a quantized graph's tensor: by name, through quantize/dequantize ops, then
    by the user's node name (``loc``) and result index when exactly one float op of that name fits."""

    def __init__(self, reference: Graph) -> None:
        self.by_name: dict[str, Value] = {}
        self.by_loc: dict[tuple[str, int], list[Value]] = {}
        for value in reference.values():
            if value.name is not None:
                self.by_name.setdefault(value.name, value)
            if value.producer is not None and value.producer.loc is not None:
                self.by_loc.setdefault((value.producer.loc, value.result_index), []).append(value)

    def find(self, value: Value) -> Optional[Value]:
        """The float tensor ``value`` stands for, or None."""
        seen: set[int] = set()
        while id(value) not in seen:
            seen.add(id(value))
            found = self._by_name(value) or self._by_loc(value)
            if found is not None:
                return found
            producer = value.producer
            if producer is None or producer.kind not in FORWARDING_OPS or producer.operand(0) is None:
                return None
            value = producer.operand(0)
        return None

    def _by_name(self, value: Value) -> Optional[Value]:
        if value.name is None:
            return None
        for name in _strip_suffixes(value.name):
            found = self.by_name.get(name)
            if found is not None and _same_shape(found, value):
                return found
        return None

    def _by_loc(self, value: Value) -> Optional[Value]:
        producer = value.producer
        if producer is None or producer.loc is None or producer.kind in FORWARDING_OPS:
            return None
        fits = [v for v in self.by_loc.get((producer.loc, value.result_index), []) if _same_shape(v, value)]
        return fits[0] if len(fits) == 1 else None


def _same_shape(a: Value, b: Value) -> bool:
    return a.type.shape == b.type.shape


def match_tensors(reference: Graph, quantized: Graph) -> list[TensorMatch]:
    """One match per float tensor that the quantized graph computes (constants included), in the quantized
    graph's order. When several quantized tensors stand for one float tensor (in QDQ form the float op's
    result and its ``q.quantize``; an int16 layer's result and its int8 requantization), the one the layer
    stores wins: the first quantized value, else the last one."""
    matcher = TensorMatcher(reference)
    chosen: dict[int, Value] = {}
    order: list[int] = []
    for value in quantized.values():
        if value.producer is not None and value.producer.kind == "q.dequantize":
            continue  # the same numbers as its quantized source
        found = matcher.find(value)
        if found is None or (found.is_graph_input and value.is_graph_input):
            continue
        key = id(found)
        if key not in chosen:
            order.append(key)
            chosen[key] = value
        elif chosen[key].type.quant is None:
            chosen[key] = value
    references = {id(v): v for v in reference.values()}
    return [TensorMatch(chosen[key], references[key]) for key in order]


# -- the report ----------------------------------------------------------------------------------------------
@dataclass
class TensorRow:
    """One line of the report: a tensor of the quantized graph against its float tensor."""

    index: int
    name: str
    layer: Optional[str]
    op: str
    storage: str
    weight: bool
    sqnr_db: float
    layer_sqnr_db: Optional[float]
    max_abs_error: float
    scale: Optional[float] = None


@dataclass
class OutputRow:
    """SQNR of one graph output of the quantized graph against the float graph's."""

    name: str
    sqnr_db: float
    max_abs_error: float
    top1_agreement: Optional[float] = None


@dataclass
class QuantReport:
    """Per-tensor and per-output SQNR of a quantized graph against its float graph over ``samples`` samples."""

    samples: int
    tensors: list[TensorRow] = field(default_factory=list)
    outputs: list[OutputRow] = field(default_factory=list)

    @property
    def activations(self) -> list[TensorRow]:
        """The rows of computed tensors (not weights), in graph order."""
        return [row for row in self.tensors if not row.weight]

    def worst_layers(self, count: int = WORST_COUNT) -> list[TensorRow]:
        """The ``count`` activation rows with the lowest layer SQNR (the layers that hurt most), worst first."""
        rows = [r for r in self.activations if r.layer_sqnr_db is not None and math.isfinite(r.layer_sqnr_db)]
        return sorted(rows, key=lambda r: (r.layer_sqnr_db, r.index))[:count]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (infinite SQNRs become None, as JSON has no infinity)."""
        return _finite({"samples": self.samples, "outputs": [asdict(r) for r in self.outputs],
                        "tensors": [asdict(r) for r in self.tensors],
                        "worst_layers": [r.name for r in self.worst_layers()]})

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, allow_nan=False) + "\n"

    def to_markdown(self) -> str:
        """The report as Markdown: outputs, the layers that hurt most, and every tensor (``#`` numbers the
        chart's bars)."""
        lines = ["# Quantization report", "",
                 f"SQNR against the float model over {self.samples} sample(s), in dB (higher is better; "
                 f"cumulative = as the quantized model runs, layer = this layer's own error on exact inputs).", "",
                 "## Outputs", "", "| output | SQNR | max abs error | top-1 agreement |", "|---|---:|---:|---:|"]
        for row in self.outputs:
            agreement = "" if row.top1_agreement is None else f"{row.top1_agreement:.4f}"
            lines.append(f"| {row.name} | {_db(row.sqnr_db)} | {row.max_abs_error:.4g} | {agreement} |")
        lines += ["", "## Layers that hurt most", "", "| # | tensor | layer | op | layer SQNR | cumulative SQNR |",
                  "|---:|---|---|---|---:|---:|"]
        for row in self.worst_layers():
            lines.append(f"| {row.index} | {row.name} | {row.layer or ''} | {row.op} | {_db(row.layer_sqnr_db)} | "
                         f"{_db(row.sqnr_db)} |")
        lines += ["", "## Tensors", "", "| # | tensor | layer | op | storage | layer SQNR | cumulative SQNR |",
                  "|---:|---|---|---|---|---:|---:|"]
        for row in self.tensors:
            lines.append(f"| {'' if row.weight else row.index} | {row.name} | {row.layer or ''} | {row.op} | "
                         f"{row.storage} | {_db(row.layer_sqnr_db)} | {_db(row.sqnr_db)} |")
        return "\n".join(lines) + "\n"

    def chart_png(self) -> bytes:
        """A bar chart of every activation's layer SQNR in graph order (bar ``i`` is row ``#i``), the worst
        layers in red."""
        worst = {row.index for row in self.worst_layers()}
        return bar_chart_png([Bar(row.layer_sqnr_db, row.index in worst) for row in self.activations])


def _db(value: Optional[float]) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "exact" if value > 0 else "-inf"
    return f"{value:.2f}"


def _finite(data: Any) -> Any:
    """``data`` with infinite floats replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


def _row_scale(value: Value) -> Optional[float]:
    quant = value.type.quant
    return None if quant is None or quant.is_per_axis else quant.scale


class _Measurement:
    """The meters of one report: cumulative and layer-isolated for each activation match, per output.

    Four runs per sample: the float graph; the quantized graph; then both again with every matched tensor
    replaced by the float tensor quantized with its parameters (the quantized graph reads the integers, the
    float graph their real values). In the second pair each layer reads the same inputs in both graphs, so
    the difference at its output is its own error alone.
    """

    def __init__(self, reference: Graph, quantized: Graph, matches: Sequence[TensorMatch]) -> None:
        self.reference, self.quantized = reference, quantized
        self.activations = [m for m in matches if not m.quantized.is_const and not m.quantized.is_graph_input]
        self.by_quantized = {id(m.quantized): m for m in self.activations}
        self.by_reference = {id(m.reference): m for m in self.activations}
        self.cumulative = {id(m.quantized): NoiseMeter() for m in self.activations}
        self.isolated = {id(m.quantized): NoiseMeter() for m in self.activations}
        self.outputs = [NoiseMeter() for _ in quantized.outputs]
        self.agreement = [0 for _ in quantized.outputs]
        self.samples = 0

    def add_sample(self, feed: dict[str, np.ndarray]) -> None:
        """Run both graphs on one sample (plain and isolated) and add its errors."""
        plain: dict[int, np.ndarray] = {}  # float tensors of the float graph, by id of the float value

        def keep(value: Value, array: np.ndarray) -> None:
            if id(value) in self.by_reference:
                plain[id(value)] = array

        expected = run(self.reference, feed, observe=keep)

        def measure(value: Value, array: np.ndarray) -> None:
            match = self.by_quantized.get(id(value))
            if match is not None:
                self.cumulative[id(value)].add(plain[id(match.reference)], real_array(value, array))

        got = run(self.quantized, feed, observe=measure)
        ideal = {id(m.quantized): ideal_array(m.quantized, plain[id(m.reference)]) for m in self.activations}
        local: dict[int, np.ndarray] = {}  # each float layer's output on the quantized graph's ideal inputs

        def requantized_reference(value: Value, array: np.ndarray) -> Optional[np.ndarray]:
            match = self.by_reference.get(id(value))
            if match is None:
                return None
            local[id(value)] = array
            return real_array(match.quantized, ideal[id(match.quantized)])

        reference_feed = dict(feed)
        for value in self.reference.inputs:
            match = self.by_reference.get(id(value))
            if match is not None:
                reference_feed[value.name] = real_array(match.quantized, ideal[id(match.quantized)])
        run(self.reference, reference_feed, substitute=requantized_reference)

        def isolate(value: Value, array: np.ndarray) -> Optional[np.ndarray]:
            match = self.by_quantized.get(id(value))
            if match is None:
                return None
            reference_array = local.get(id(match.reference), plain[id(match.reference)])
            self.isolated[id(value)].add(reference_array, real_array(value, array))
            return ideal[id(value)]

        run(self.quantized, feed, substitute=isolate)
        for index, (want, have) in enumerate(zip(expected.values(), got.values())):
            self.outputs[index].add(want, have)
            want, have = np.asarray(want), np.asarray(have)
            if want.ndim >= 1 and want.size > 1 and want.shape == have.shape:
                self.agreement[index] += int(np.argmax(want.reshape(-1)) == np.argmax(have.reshape(-1)))
        self.samples += 1


def build_report(reference: Graph, quantized: Graph, samples: CalibrationSource, *,
                 max_samples: Optional[int] = None, include_float: bool = False) -> QuantReport:
    """Measure ``quantized`` against ``reference`` (the float graph it was made from, in the same layout:
    for example the prepared graph before ``calibrate``) on ``samples`` (a samples file or folder, a
    mapping of arrays, or an iterable of feed dicts), at most ``max_samples`` of them.

    Rows list the quantized tensors; ``include_float`` lists the float tensors of the quantized graph too
    (layers kept float, or a whole float graph compared with another)."""
    if len(reference.outputs) != len(quantized.outputs):
        raise QCompilerError(f"the float graph has {len(reference.outputs)} output(s) but the quantized graph has "
                             f"{len(quantized.outputs)}: they are not the same model")
    matches = match_tensors(reference, quantized)
    measurement = _Measurement(reference, quantized, matches)
    for index, feed in enumerate(calibration_feeds(samples, reference)):
        if max_samples is not None and index >= max_samples:
            break
        measurement.add_sample(feed)
    if measurement.samples == 0:
        raise QCompilerError("the report needs at least one sample")
    report = QuantReport(measurement.samples)
    activation_index = 0
    for match in matches:
        value = match.quantized
        if value.is_graph_input:
            continue
        producer = value.producer
        if value.is_const:
            if value.type.quant is None:
                continue  # a float constant left as it was
            meter = NoiseMeter()
            meter.add(match.reference.const_value, real_array(value, value.const_value))
            layer_sqnr, index = None, -1
            layer = ", ".join(sorted({use.op.loc for use in _readers(value) if use.op.loc})) or producer.loc
        elif value.type.quant is None and not include_float:
            continue
        else:
            meter = measurement.cumulative[id(value)]
            layer_sqnr, index = measurement.isolated[id(value)].sqnr_db, activation_index
            activation_index += 1
            layer = _layer_op(value).loc
        name = match.reference.name or value.name or _unnamed(value, layer)
        report.tensors.append(TensorRow(index, name, layer,
                                        _layer_op(value).kind, value.type.element, value.is_const, meter.sqnr_db,
                                        layer_sqnr, meter.max_abs_error, _row_scale(value)))
    for name, meter, agreed in zip(quantized.output_names, measurement.outputs, measurement.agreement):
        sized = all(v.type.is_static and v.type.num_elements > 1 for v in quantized.outputs)
        report.outputs.append(OutputRow(name, meter.sqnr_db, meter.max_abs_error,
                                        agreed / measurement.samples if sized else None))
    return report


def _readers(value: Value):
    """The uses of ``value``, looking through the ``q.dequantize`` that reads a quantized constant."""
    for use in value.uses:
        if use.op.kind == "q.dequantize":
            yield from use.op.result.uses
        else:
            yield use


def _unnamed(value: Value, layer: Optional[str]) -> str:
    """A label for a tensor without a name: ``<layer>.<operand role>`` for a constant (``/c1/Conv.weight``),
    ``<layer>#<result index>`` otherwise."""
    if value.is_const:
        for use in _readers(value):
            definition = lookup_op_def(use.op.kind)
            if definition is not None and use.index < len(definition.operands):
                return f"{use.op.loc or layer or '?'}.{definition.operands[use.index].rstrip('?*')}"
    return f"{layer or '?'}#{value.result_index}"


def _layer_op(value: Value):
    """The op that computes ``value``'s numbers: its producer, or for a ``q.quantize`` the op it quantizes."""
    producer = value.producer
    while producer is not None and producer.kind == "q.quantize" and producer.operand(0).producer is not None:
        producer = producer.operand(0).producer
    return producer


@dataclass(frozen=True)
class ReportFiles:
    """The files ``write_report`` wrote."""

    json: Path
    markdown: Path
    chart: Path


def write_report(report: QuantReport, folder: Union[str, os.PathLike]) -> ReportFiles:
    """Write ``report.json``, ``report.md`` and ``layer_sqnr.png`` into ``folder`` (created if needed)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise QCompilerError(f"report folder {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(folder / "report.json", folder / "report.md", folder / "layer_sqnr.png")
    atomic_write_bytes(files.json, report.to_json().encode())
    atomic_write_bytes(files.markdown, report.to_markdown().encode())
    atomic_write_bytes(files.chart, report.chart_png())
    return files
