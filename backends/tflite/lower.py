"""Lowering a core/q graph to a TFLite program: one tensor per IR value, one or more TFLite operators per op.

Each op kind has a lowering rule (registered with ``@lowering``) that emits TFLite operators and their options
through a ``LoweringContext``. The rules live by op family in ``lower_image``, ``lower_nn``,
``lower_elementwise`` and ``lower_shape`` (a q compute op shares its core counterpart's rule: the same
operator on quantized tensors) and ``lower_quant`` (quantize/dequantize); this module holds the context, the
registry and the driver. Ops with no rule are collected and reported together, each with its location.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from qcompiler.errors import QCompilerError, UnsupportedOpError
from qcompiler.ir import CONST, RETURN, Graph, Op, Value
from qcompiler.types import TensorType

from qcompiler.backends.c_common.identifiers import claim_unique
from qcompiler.backends.rule_table import registrar
from qcompiler.backends.tflite.versions import min_runtime_version, operator_version
from qcompiler.backends.tflite.writer import TflOperator, TflProgram, TflTensor

Rule = Callable[[Op, "LoweringContext"], None]

#: Lowering rules by op kind.
RULES: dict[str, Rule] = {}


#: Decorator registering a lowering rule for the given op kinds: ``@lowering("onnx.Add", ...)``.
lowering = registrar(RULES)


class LoweringContext:
    """What lowering rules write into: tensors (one per IR value, plus constants and intermediates the rules
    create) and operators, in emission order."""

    def __init__(self, graph: Graph, hybrid: bool = True) -> None:
        self.graph = graph
        self.hybrid = hybrid
        self.program = TflProgram(name=graph.name)
        self._tensors: dict[int, int] = {}
        self._names: set[str] = set()
        self.current: Optional[Op] = None

    # -- tensors ----------------------------------------------------------------------------
    def unique_name(self, hint: str) -> str:
        """A tensor name not used yet, derived from ``hint``."""
        return claim_unique(hint, self._names)

    def add_tensor(self, name: str, type: TensorType, data: Optional[np.ndarray] = None) -> int:
        """Append a tensor and return its index."""
        self.program.tensors.append(TflTensor(self.unique_name(name), type, data))
        return len(self.program.tensors) - 1

    def tensor(self, value: Optional[Value]) -> int:
        """The tensor of an IR value (created on first use; constants carry their data); -1 for None."""
        if value is None:
            return -1
        index = self._tensors.get(id(value))
        if index is None:
            data = value.const_value
            if data is not None:
                data = np.ascontiguousarray(data, dtype=value.type.dtype)
            index = self.add_tensor(self.value_name(value), value.type, data)
            self._tensors[id(value)] = index
        return index

    def bind(self, value: Value, index: int) -> None:
        """Make ``value`` stand for an existing tensor (rules that forward an operand use this)."""
        self._tensors[id(value)] = index

    def value_name(self, value: Value) -> str:
        """A readable tensor name for a value: its name, else its producer's location and result index."""
        if value.name:
            return value.name
        producer = value.producer
        if producer is not None and producer.loc:
            return producer.loc if len(producer.results) == 1 else f"{producer.loc}:{value.result_index}"
        return "tensor"

    def const(self, array: Any, hint: str, type: Optional[TensorType] = None) -> int:
        """A new constant tensor holding ``array`` (its IR type by default); a 0-d array stays a scalar
        (``np.ascontiguousarray`` would make it shape (1,), and GATHER would then keep the gathered axis)."""
        array = np.asarray(array)
        array = np.ascontiguousarray(array).reshape(array.shape)
        return self.add_tensor(hint, type or TensorType.of(array), array)

    def int32_const(self, values: Sequence[int] | int, hint: str) -> int:
        """An int32 constant (a vector, or a scalar when ``values`` is an int), as shape/axis operands want."""
        return self.const(np.asarray(values, dtype=np.int32), hint)

    def intermediate(self, type: TensorType, hint: str) -> int:
        """A new tensor for a value that only exists inside a multi-operator lowering."""
        return self.add_tensor(hint, type)

    def type_of(self, index: int) -> TensorType:
        """The IR type of tensor ``index``."""
        return self.program.tensors[index].type

    # -- operators --------------------------------------------------------------------------
    def emit(self, code: int, inputs: Sequence[int], outputs: Sequence[int], options: Any = None,
             version: Optional[int] = None) -> None:
        """Append a TFLite operator; its version is derived from its tensors' types when not given."""
        operator = TflOperator(code, list(inputs), list(outputs), options, 1)
        operator.version = version if version is not None else operator_version(operator, self.type_of)
        self.program.operators.append(operator)

    def hint(self, suffix: str) -> str:
        """A name for a tensor created while lowering the current op: its location plus ``suffix``."""
        loc = self.current.loc if self.current is not None and self.current.loc else "op"
        return f"{loc}/{suffix}"


def unsupported_ops(graph: Graph) -> list[Op]:
    """The ops of ``graph`` that no lowering rule covers."""
    _load_rules()
    return [op for op in graph if op.kind not in (CONST, RETURN) and op.kind not in RULES]


def lower_graph(graph: Graph, description: str, hybrid: bool = True) -> TflProgram:
    """Lower every op of ``graph`` into a TFLite program; raises one error listing every op it cannot lower.
    ``hybrid`` lets int8 weights of float convolutions and matmuls go to TFLite's hybrid kernels."""
    left = unsupported_ops(graph)
    if left:
        listed = ", ".join(f"{op.kind} at '{op.loc}'" if op.loc else op.kind for op in left)
        raise UnsupportedOpError(f"the TFLite backend cannot lower {len(left)} op(s): {listed}", left[0].loc)
    context = LoweringContext(graph, hybrid)
    program = context.program
    program.description = description
    for value in graph.inputs:
        if value.type.shape is None or not value.type.is_static:
            raise QCompilerError(f"TFLite export needs static input shapes; input '{value.name}' is "
                                 f"{value.type.shape} (fix it with --input-shape)")
        program.inputs.append(context.tensor(value))
        program.input_names.append(value.name or f"input_{len(program.input_names)}")
    for op in graph:
        if op.kind == CONST:
            continue
        context.current = op
        try:
            RULES[op.kind](op, context)
        except QCompilerError as error:
            if error.location is None:
                error.location = op.loc
            raise
    context.current = None
    for name, value in zip(graph.output_names, graph.outputs):
        program.outputs.append(context.tensor(value))
        program.output_names.append(name)
    name_outputs(program)
    program.min_runtime_version = min_runtime_version(program.operators)
    return program


def name_outputs(program: TflProgram) -> None:
    """Name each output tensor after the graph output it is (when no other tensor has that name)."""
    taken = {t.name for t in program.tensors}
    for index, name in zip(program.outputs, program.output_names):
        tensor = program.tensors[index]
        if tensor.name != name and name not in taken:
            taken.discard(tensor.name)
            tensor.name = name
            taken.add(name)


def _load_rules() -> None:
    from qcompiler.backends.tflite import (  # noqa: F401  (registers the rules)
        lower_elementwise, lower_image, lower_nn, lower_quant, lower_shape)
