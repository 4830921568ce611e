"""``insert-qdq``: turn a calibrated float graph into QDQ form (``q.quantize`` -> ``q.dequantize`` around the
float ops), choosing every tensor's quantization parameters by TensorFlow Lite's rules.

The QDQ graph still runs in float ("fake quantization"); ``lower-quantized`` then turns each
dequantize -> op -> quantize pattern into an exact integer op. Modes:

- ``int8``: activations int8 asymmetric from their calibrated ranges, weights int8 symmetric per channel
  (or per tensor), biases int32 with scale input_scale * weight_scale;
- ``int16x8``: activations int16 symmetric (zero point 0), weights int8, biases int64;
- ``dynamic``: int8 weights of the ops TFLite's hybrid kernels run, dequantized; activations stay float;
- ``weight-only``: int8 weights dequantized before every op that reads one; everything else float;
- ``float16``: every float constant stored as float16 and dequantized; activations float.

Ops named in ``exclude`` (their loc or a result name) or whose kind is in ``exclude-types`` stay float, and
so do ops with no integer kernel: their inputs are dequantized and their results quantized where integer
ops read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, Optional, Sequence

from qcompiler.errors import QCompilerError
from qcompiler.ir import CONST, Graph, Op, Value
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.quantize import MODES
from qcompiler.types import QuantParams
from qcompiler.value_ranges import get_range, is_float_tensor

from qcompiler.passes.import_qdq import recorded_params
from qcompiler.passes.qdq_params import (ACTIVATION_STORAGE, BIAS_STORAGE, activation_params, bias_params,
                                         float16_const, per_tensor_input, quantized_const, recorded_weight_params,
                                         weight_params)
from qcompiler.passes.quant_rules import (FIXED_OUTPUT, HYBRID_OPS, PARAMS_PRESERVING, data_operands,
                                          runs_quantized, weight_rule)

Mode = Literal["int8", "int16x8", "dynamic", "float16", "weight-only"]


@dataclass(frozen=True)
class QdqOptions:
    """What ``insert-qdq`` does: the mode, per-channel weights, and the ops that stay float."""

    mode: str = "int8"
    per_channel: bool = True
    exclude: frozenset[str] = frozenset()
    exclude_types: frozenset[str] = frozenset()

    def excludes(self, op: Op) -> bool:
        """Whether the user asked for ``op`` to stay float (by loc, result name or kind)."""
        return (op.kind in self.exclude_types or (op.loc is not None and op.loc in self.exclude)
                or any(v.name in self.exclude for v in op.results if v.name is not None))


def insert_qdq(graph: Graph, mode: str = "int8", *, per_channel: bool = True, exclude: Sequence[str] = (),
               exclude_types: Sequence[str] = ()) -> bool:
    """Insert quantize/dequantize pairs into ``graph`` for ``mode``; return whether the graph changed."""
    if mode not in MODES:
        raise QCompilerError(f"insert-qdq: unknown mode '{mode}' (choose from {', '.join(MODES)})")
    options = QdqOptions(mode, per_channel, frozenset(exclude), frozenset(exclude_types))
    _check_names(graph, options)
    if mode in ACTIVATION_STORAGE:
        return _FullInteger(graph, options).run()
    return _quantize_weights(graph, options)


def _check_names(graph: Graph, options: QdqOptions) -> None:
    """Fail on excluded names that match no op: a typo must not silently quantize the layer."""
    known = {op.loc for op in graph} | {v.name for op in graph for v in op.results}
    missing = sorted(options.exclude - known)
    if missing:
        raise QCompilerError(f"insert-qdq: exclude names no op or tensor: {', '.join(missing)}")


def _is_core(op: Op) -> bool:
    return op.kind.startswith("core.")


# -- weights only (dynamic, weight-only, float16) ------------------------------------------------------------
def _weight_operands(op: Op, mode: str) -> list[int]:
    """The operands of ``op`` whose constants ``mode`` stores compressed."""
    if mode == "float16":
        return list(data_operands(op))
    rule = weight_rule(op)
    if rule is not None:
        return [rule.weight]
    if op.kind in HYBRID_OPS:  # batch_matmul: a constant right-hand side
        return [1]
    if mode == "weight-only" and op.kind == "core.gather":
        return [0]
    return []


def _quantize_weights(graph: Graph, options: QdqOptions) -> bool:
    """Store the weights ``options.mode`` compresses as int8 (or f16) constants, each read through a
    ``q.dequantize``; one compressed constant per float constant and axis, shared by its readers."""
    done: dict[tuple[int, Optional[int]], Value] = {}
    changed = False
    for op in graph.ops:
        if not _is_core(op) or options.excludes(op):
            continue
        rule = weight_rule(op)
        for index in _weight_operands(op, options.mode):
            value = op.operand(index)
            if value is None or not value.is_const or not is_float_tensor(value):
                continue
            per_channel = rule is not None and rule.weight == index and options.per_channel
            axis = rule.axis if per_channel and options.mode != "float16" else None
            dequantized = done.get((id(value), axis))
            if dequantized is None:
                array = value.const_value
                with graph.inserting_before(value.producer.next):
                    if options.mode == "float16":
                        stored = float16_const(graph, array, _name(value, "f16"), value.producer.loc)
                    else:
                        stored = quantized_const(graph, array, weight_params(array, axis), _name(value, "q"),
                                                 value.producer.loc)
                    dequantized = _dequantize(graph, stored, value.name, value.producer.loc)
                done[(id(value), axis)] = dequantized
            op.set_operand(index, dequantized)
            changed = True
    graph.erase_unused([op for op in graph.ops if op.kind == CONST])
    return changed


# -- full integer (int8, int16x8) ----------------------------------------------------------------------------
class _FullInteger:
    """Chooses the parameters of every tensor that integer ops read or write, then rewrites the graph."""

    def __init__(self, graph: Graph, options: QdqOptions) -> None:
        self.graph = graph
        self.options = options
        self.storage = ACTIVATION_STORAGE[options.mode]
        self.params: dict[int, QuantParams] = {}
        self.integer: set[int] = set()
        self.recorded: dict[int, QuantParams] = {}
        self.stored: dict[tuple[int, QuantParams], Value] = {}

    def run(self) -> bool:
        """Pick the integer ops, choose parameters in graph order, then insert the QDQ pairs."""
        graph = self.graph
        for op in graph:
            if self._can_run_integer(op):
                self.integer.add(id(op))
        if not self.integer:
            return False
        self._read_recorded()
        for value in graph.inputs:
            if self._needed(value):
                self.params[id(value)] = self._range_params(value)
        for op in graph.ops:
            if op.kind == CONST:
                continue
            for value in op.results:
                if self._needed(value):
                    self.params[id(value)] = self._result_params(op, value)
        for value in list(graph.inputs):
            if id(value) in self.params:
                with graph.inserting_before(graph.first):
                    self._insert_pair(value)
        for op in graph.ops:
            if op.kind == CONST:
                continue
            if id(op) in self.integer:
                self._quantize_constants(op)
            for value in op.results:
                if id(value) in self.params:
                    with graph.inserting_after(op):
                        self._insert_pair(value)
        graph.erase_unused([op for op in graph.ops if op.kind == CONST])
        return True

    # -- which ops, which values ------------------------------------------------------------------------
    def _can_run_integer(self, op: Op) -> bool:
        if not _is_core(op) or self.options.excludes(op) or not runs_quantized(op, self.storage):
            return False
        data = [op.operand(i) for i in data_operands(op) if op.operand(i) is not None]
        if not data or not all(is_float_tensor(v) for v in data) or not all(is_float_tensor(v) for v in op.results):
            return False
        rule = weight_rule(op)
        if rule is not None:
            weight, bias = op.operand(rule.weight), op.operand(rule.bias) if rule.bias is not None else None
            if weight is None or not weight.is_const or (bias is not None and not bias.is_const):
                return False
        return True

    def _needed(self, value: Value) -> bool:
        """Whether ``value`` (not a constant) is written or read by an integer op."""
        if value.is_const or not is_float_tensor(value):
            return False
        if value.producer is not None and id(value.producer) in self.integer:
            return True
        return any(id(use.op) in self.integer and use.index in data_operands(use.op) for use in value.uses)

    def _read_recorded(self) -> None:
        """Parameters a pre-quantized model stated (``import-qdq``), by value; a data-movement op's operand
        takes its result's when it has none (the quantizer may have quantized only after a reshape)."""
        table = {name: p for name, p in recorded_params(self.graph).items()
                 if p.storage == self.storage and not p.is_per_axis}
        if not table:
            return
        for value in self.graph.values():
            if value.name in table and not value.is_const:
                self.recorded[id(value)] = table[value.name]
        for op in reversed(self.graph.ops):
            if id(op) in self.integer and op.kind in PARAMS_PRESERVING and id(op.results[0]) in self.recorded:
                self.recorded.setdefault(id(op.operand(0)), self.recorded[id(op.results[0])])

    def _range_params(self, value: Value) -> QuantParams:
        if id(value) in self.recorded:
            return self.recorded[id(value)]
        value_range = get_range(self.graph, value)
        if value_range is None:
            where = value.producer.loc if value.producer is not None else None
            raise QCompilerError(f"insert-qdq: tensor %{value.name or '?'} has no calibrated range; run "
                                 f"'calibrate' (and 'propagate-ranges') first", where)
        return activation_params(value_range, self.storage)

    def _result_params(self, op: Op, value: Value) -> QuantParams:
        if id(op) in self.integer:
            if op.kind in PARAMS_PRESERVING:
                source = op.operand(0)
                return self._const_params(source) if source.is_const else self.params[id(source)]
            fixed = FIXED_OUTPUT.get(op.kind, {}).get(self.storage)
            if fixed is not None:
                return QuantParams.per_tensor(self.storage, fixed[0], fixed[1])
        return self._range_params(value)

    # -- rewriting ---------------------------------------------------------------------------------------
    def _insert_pair(self, value: Value) -> None:
        """``q.quantize`` then ``q.dequantize`` of ``value``; the readers that see quantized values (all of
        them when an integer op writes ``value``, else the integer readers) read the dequantized one."""
        graph = self.graph
        producer_integer = value.producer is not None and id(value.producer) in self.integer
        readers = [u for u in value.uses if producer_integer or (
            id(u.op) in self.integer and u.index in data_operands(u.op))]
        loc = value.producer.loc if value.producer is not None else None
        quantized = graph.create("q.quantize", [value], {}, [value.type.with_quant(self.params[id(value)])], loc,
                                 [_name(value, "q")]).result
        dequantized = _dequantize(graph, quantized, value.name, loc)
        for use in readers:
            use.op.set_operand(use.index, dequantized)

    def _quantize_constants(self, op: Op) -> None:
        """Replace the float constants ``op`` reads by quantized constants read through ``q.dequantize``."""
        graph = self.graph
        rule = weight_rule(op)
        with graph.inserting_before(op):
            weight_q: Optional[QuantParams] = None
            if rule is not None:
                weight = op.operand(rule.weight)
                weight_q = recorded_weight_params(weight, rule.axis, recorded_params(graph)) or weight_params(
                    weight.const_value, rule.axis if self.options.per_channel else None)
                self._replace_const(op, rule.weight, weight_q)
                if rule.bias is not None and op.operand(rule.bias) is not None:
                    source = per_tensor_input(op, self._operand_params(op, 0))
                    self._replace_const(op, rule.bias, bias_params(source, weight_q, BIAS_STORAGE[self.options.mode]))
            skip = () if rule is None else (rule.weight, rule.bias)
            for index in data_operands(op):
                value = op.operand(index)
                if index in skip or value is None or not value.is_const or not is_float_tensor(value):
                    continue
                self._replace_const(op, index, self._const_params(value))

    def _const_params(self, value: Value) -> QuantParams:
        """Parameters of a constant that an integer op reads as data (not as a weight): an activation's,
        over the constant's own range."""
        return activation_params(get_range(self.graph, value) or (0.0, 0.0), self.storage)

    def _operand_params(self, op: Op, index: int) -> QuantParams:
        value = op.operand(index)
        producer = value.producer
        if producer is not None and producer.kind == "q.dequantize":
            return producer.operand(0).type.quant
        return self.params[id(value)]

    def _replace_const(self, op: Op, index: int, params: QuantParams) -> None:
        """Read operand ``index`` (a float constant) as ``params`` integers through a dequantize, shared by
        every reader that quantizes the same constant the same way."""
        value = op.operand(index)
        key = (id(value), params)
        dequantized = self.stored.get(key)
        if dequantized is None:
            stored = quantized_const(self.graph, value.const_value, params, _name(value, "q"), value.producer.loc)
            dequantized = self.stored[key] = _dequantize(self.graph, stored, value.name, op.loc)
        op.set_operand(index, dequantized)


def _dequantize(graph: Graph, stored: Value, name: Optional[str], loc: Optional[str]) -> Value:
    """``q.dequantize(stored)`` as a float32 tensor of the same shape."""
    type_ = stored.type.with_quant(None).with_element("f32")
    return graph.create("q.dequantize", [stored], {}, [type_], loc, [_name_of(name, "dq")]).result


def _name(value: Value, suffix: str) -> Optional[str]:
    return _name_of(value.name, suffix)


def _name_of(name: Optional[str], suffix: str) -> Optional[str]:
    return f"{name}.{suffix}" if name else None


def _names(text: Sequence[str]) -> list[str]:
    return [n for n in text if n]


@register_pass
@dataclass
class InsertQdq(Pass):
    """Insert quantize/dequantize pairs with TFLite's quantization parameters (QDQ form, still float).

    ``mode``: int8 (int8 activations from the calibrated ranges, int8 per-channel weights, int32 biases),
    int16x8 (int16 symmetric activations, int8 weights, int64 biases), dynamic (int8 weights of hybrid
    ops), weight-only (int8 weights), float16 (float16 constants). ``per-channel`` quantizes conv and
    fully-connected weights per output channel. Ops in ``exclude`` (loc or result name) or of a kind in
    ``exclude-types`` stay float. Run ``calibrate`` first for int8 and int16x8.
    """

    name: ClassVar[str] = "insert-qdq"
    mode: Mode = "int8"
    per_channel: bool = True
    exclude: list[str] = field(default_factory=list)
    exclude_types: list[str] = field(default_factory=list)

    def run(self, graph: Graph) -> bool:
        """Insert the pairs for ``mode``."""
        return insert_qdq(graph, self.mode, per_channel=self.per_channel, exclude=_names(self.exclude),
                          exclude_types=_names(self.exclude_types))
