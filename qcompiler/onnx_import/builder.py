"""Building the IR graph from a loaded ONNX model: constants, ops with their ONNX names, and types.

Every value gets a ``TensorType``: from whole-model ONNX shape inference first, then from the op
definition's own inference, and as a last resort from evaluating an op whose operands are all constant.
"""

from __future__ import annotations

import heapq
from typing import Optional

import numpy as np
import onnx
from onnx import AttributeProto, numpy_helper

from qcompiler.errors import ModelImportError, QCompilerError, UnsupportedOpError
from qcompiler.ir import Graph, Op, Value
from qcompiler.onnx_convert import attribute_to_python, element_from_onnx, schema_for
from qcompiler.onnx_import.loading import LoadedModel, one_line
from qcompiler.onnx_import.shapes import (InputShapes, ModelTypes, better_type, infer_model_types, is_complete,
                                          tensor_type_of)
from qcompiler.ops.onnx_dialect import supported_onnx_ops
from qcompiler.ops.registry import evaluate_op, infer_result_types
from qcompiler.types import TensorType

DEFAULT_DOMAINS = ("", "ai.onnx")


class UnsupportedOnnxOpsError(ModelImportError, UnsupportedOpError):
    """A model uses ONNX ops the importer cannot take; ``ops`` maps each op type to the nodes that use it."""

    def __init__(self, ops: dict[str, list[str]], location: Optional[str] = None) -> None:
        listed = "; ".join(f"{op_type} (nodes: {', '.join(nodes)})" for op_type, nodes in ops.items())
        super().__init__(f"unsupported ONNX ops: {listed}", location)
        self.ops = ops


def node_location(node: onnx.NodeProto, index: int) -> str:
    """The node's name, or a stable name from its op type and first output when it has none."""
    if node.name:
        return node.name
    first = next((name for name in node.output if name), None)
    return f"{node.op_type}({first})" if first else f"{node.op_type}#{index}"


def build_graph(loaded: LoadedModel, input_shapes: Optional[InputShapes]) -> Graph:
    """The IR graph of ``loaded`` (see ``import_onnx``)."""
    model, origin = loaded.proto, loaded.origin
    _check_unsupported(model.graph, origin)
    _check_tensor_inputs(model.graph, origin)
    types = infer_model_types(model, input_shapes, origin)
    graph = Graph()
    graph.attrs["onnx.opset"] = loaded.opset
    builder = _Builder(graph, types, origin)
    builder.add_initializers(model.graph)
    builder.add_inputs(model.graph)
    for index, node in _topological(model.graph, origin):
        builder.add_node(node, index)
    builder.set_outputs(model.graph)
    return graph


def _check_unsupported(graph: onnx.GraphProto, origin: Optional[str]) -> None:
    """Raise one error listing every unsupported op type and the nodes that use it."""
    supported = supported_onnx_ops()
    found: dict[str, list[str]] = {}
    for index, node in enumerate(graph.node):
        if node.domain not in DEFAULT_DOMAINS:
            key = f"{node.domain}.{node.op_type}"
        elif node.op_type != "Constant" and node.op_type not in supported:
            key = node.op_type
        elif any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute):
            key = f"{node.op_type} with a subgraph"
        else:
            continue
        found.setdefault(key, []).append(node_location(node, index))
    if found:
        raise UnsupportedOnnxOpsError(found, origin)


def _check_tensor_inputs(graph: onnx.GraphProto, origin: Optional[str]) -> None:
    """Refuse sparse initializers and inputs that are sequences, maps or optionals."""
    if len(graph.sparse_initializer):
        names = ", ".join(s.values.name or "?" for s in graph.sparse_initializer)
        raise ModelImportError(f"sparse initializers are not supported ({names})", origin)
    for info in graph.input:
        if info.type.WhichOneof("value") not in (None, "tensor_type"):
            tensor_type_of(info.name, info.type, origin, what="input")


def _topological(graph: onnx.GraphProto, origin: Optional[str]) -> list[tuple[int, onnx.NodeProto]]:
    """The nodes in an order where every tensor is produced before it is used (the file's order when it is one)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    nodes = list(enumerate(graph.node))
    if _in_order(nodes, set(available)):
        return nodes
    producers = {name: index for index, node in nodes for name in node.output if name}
    waiting: dict[int, int] = {}
    consumers: dict[int, list[int]] = {}
    for index, node in nodes:
        needed = {producers[name] for name in node.input if name not in available and name in producers}
        waiting[index] = len(needed)
        for producer in needed:
            consumers.setdefault(producer, []).append(index)
    ready = [index for index, _ in nodes if waiting[index] == 0]
    heapq.heapify(ready)  # among the ready nodes the earliest in the file goes first: a stable order
    order = []
    while ready:
        index = heapq.heappop(ready)
        order.append((index, graph.node[index]))
        for consumer in consumers.get(index, []):
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                heapq.heappush(ready, consumer)
    if len(order) != len(nodes):
        stuck = sorted(set(range(len(nodes))) - {i for i, _ in order})
        names = ", ".join(node_location(graph.node[i], i) for i in stuck[:5])
        raise ModelImportError(f"the graph has a cycle through nodes {names}", origin)
    return order


def _in_order(nodes: list[tuple[int, onnx.NodeProto]], available: set[str]) -> bool:
    for _, node in nodes:
        if any(name not in available for name in node.input):
            return False
        available.update(node.output)
    return True


class _Builder:
    """Adds ONNX initializers, inputs and nodes to a graph, keeping a map from tensor names to values."""

    def __init__(self, graph: Graph, types: ModelTypes, origin: Optional[str]) -> None:
        self.graph = graph
        self.model_types = types
        self.types = types.types
        self.origin = origin
        self.values: dict[str, Value] = {}
        self.constant: dict[int, bool] = {}  # value id -> computed from constants only
        self.folded: dict[int, Optional[list[np.ndarray]]] = {}  # op id -> results evaluated at import

    def _define(self, name: str, value: Value, loc: str) -> None:
        if name in self.values:
            raise ModelImportError(f"tensor '{name}' is defined twice", loc)
        self.values[name] = value

    def add_initializers(self, graph: onnx.GraphProto) -> None:
        """One ``const`` op per initializer (initializers listed as inputs too are constants)."""
        for tensor in graph.initializer:
            self._add_const(tensor.name, _tensor_array(tensor, tensor.name), tensor.name)

    def _add_const(self, name: str, array: np.ndarray, loc: str) -> None:
        try:
            value = self.graph.const(array, name, loc=loc)
        except QCompilerError as error:  # an element type the IR has no name for
            raise ModelImportError(f"constant '{name}': {error.message}", loc) from None
        self._define(name, value, loc)

    def add_inputs(self, graph: onnx.GraphProto) -> None:
        """Graph inputs: the ONNX inputs that are not initializers."""
        for info in graph.input:
            if info.name in self.values:
                continue
            found = better_type(self.types.get(info.name), tensor_type_of(info.name, info.type, self.origin))
            if found is None:
                raise ModelImportError(f"input '{info.name}' has no element type", self.origin)
            self._define(info.name, self.graph.add_input(info.name, found), info.name)

    def add_node(self, node: onnx.NodeProto, index: int) -> None:
        """A ``const`` op for a Constant node, an ``onnx.<OpType>`` op for any other."""
        loc = node_location(node, index)
        if node.op_type == "Constant":
            self._add_const(node.output[0], _constant_node_array(node, loc), loc)
            return
        operands = []
        for name in node.input:
            if not name:
                operands.append(None)
            elif name in self.values:
                operands.append(self.values[name])
            else:
                raise ModelImportError(f"{node.op_type} uses tensor '{name}', which no node, input or initializer "
                                       "defines", loc)
        outputs = list(node.output)
        while outputs and not outputs[-1]:
            outputs.pop()
        attrs = {}
        for attr in node.attribute:
            try:
                attrs[attr.name] = attribute_to_python(attr)
            except QCompilerError as error:
                raise ModelImportError(f"{node.op_type}: {error.message}", loc) from None
        known = [self.types.get(name) if name else None for name in outputs]
        placeholder = [t if t is not None else TensorType(None, "f32") for t in known]
        op = self.graph.create(f"onnx.{node.op_type}", operands, attrs, placeholder, loc,
                               [name or None for name in outputs])
        if not all(is_complete(t) for t in known):
            self._complete_types(op, known)
        for name, value in zip(outputs, op.results):
            if name:
                self._define(name, value, loc)

    def _complete_types(self, op: Op, known: list[Optional[TensorType]]) -> None:
        """Fill types shape inference left open: the op's own inference, then the schema's element type, and
        last, when every operand is constant (directly or through constant ops), evaluation of the op."""
        try:
            inferred = [self.model_types.normalize(t) for t in infer_result_types(op)]
        except QCompilerError:
            inferred = []
        best = [better_type(k, i) for k, i in zip(known, inferred)] if len(inferred) == len(known) else known
        best = [t if t is not None else _element_from_schema(op, i) for i, t in enumerate(best)]
        for value, t in zip(op.results, best):
            if t is not None:
                value.type = t
        if not all(is_complete(t) for t in best) and all(t is not None for t in best):
            arrays = self._evaluate(op)
            if arrays is not None:
                best = [TensorType.of(a) for a in arrays]
        for value, t in zip(op.results, best):
            if t is None:
                raise ModelImportError(f"cannot infer the type of output '{value.name}'", op.loc)
            value.type = t

    def _is_constant(self, value: Optional[Value]) -> bool:
        """Whether ``value`` is a const or computed from consts only (memoized; omitted operands count)."""
        if value is None or value.is_const:
            return True
        key = id(value)
        if key not in self.constant:
            producer = value.producer
            self.constant[key] = producer is not None and all(self._is_constant(v) for v in producer.operands)
        return self.constant[key]

    def _evaluate(self, op: Op) -> Optional[list[np.ndarray]]:
        """The results of ``op`` when all its operands are constant, evaluating producers as needed."""
        if not all(self._is_constant(v) for v in op.operands):
            return None
        if id(op) not in self.folded:
            inputs = []
            for value in op.operands:
                if value is None or value.is_const:
                    inputs.append(None if value is None else value.const_value)
                    continue
                results = self._evaluate(value.producer)
                if results is None:
                    return None
                inputs.append(results[value.result_index])
            try:
                self.folded[id(op)] = evaluate_op(op, inputs)
            except QCompilerError:
                self.folded[id(op)] = None
        return self.folded[id(op)]

    def set_outputs(self, graph: onnx.GraphProto) -> None:
        """The graph returns the ONNX outputs, under their ONNX names."""
        values = []
        for info in graph.output:
            if info.name not in self.values:
                raise ModelImportError(f"graph output '{info.name}' is not produced by any node, input or "
                                       "initializer", self.origin)
            values.append(self.values[info.name])
        self.graph.set_outputs(values, [info.name for info in graph.output])


def _element_from_schema(op: Op, index: int) -> Optional[TensorType]:
    """Unknown-rank type of result ``index`` when the op's schema fixes its element type, either outright or
    through a type parameter it shares with a typed operand (e.g. Dropout-7's mask, typed like its input)."""
    schema = schema_for(op.kind.split(".", 1)[1], op.graph.opset if op.graph is not None else 17)
    if schema is None or index >= len(schema.outputs):
        return None
    type_str = schema.outputs[index].type_str
    allowed = {c.type_param_str: list(c.allowed_type_strs) for c in schema.type_constraints}.get(type_str, [type_str])
    for formal, value in zip(schema.inputs, op.operands):
        if formal.type_str == type_str and value is not None:
            return TensorType(None, value.type.element)
    if len(allowed) == 1 and allowed[0].startswith("tensor("):
        element = allowed[0][len("tensor("):-1]
        try:
            return TensorType(None, element_from_onnx(getattr(onnx.TensorProto, element.upper())))
        except (AttributeError, QCompilerError):
            return None
    return None


def _tensor_array(tensor: onnx.TensorProto, where: str) -> np.ndarray:
    try:
        return numpy_helper.to_array(tensor)
    except Exception as error:  # unsupported data types, inconsistent sizes
        raise ModelImportError(f"cannot read tensor '{tensor.name}': {one_line(error)}", where) from None


def _constant_node_array(node: onnx.NodeProto, loc: str) -> np.ndarray:
    """The value of a Constant node, whichever of its value attributes is set."""
    for attr in node.attribute:
        if attr.name == "value":
            return _tensor_array(attr.t, loc)
        if attr.name == "sparse_value":
            raise ModelImportError("Constant with a sparse value is not supported", loc)
        if attr.name in ("value_float", "value_floats"):
            return np.asarray(attribute_to_python(attr), dtype=np.float32)
        if attr.name in ("value_int", "value_ints"):
            return np.asarray(attribute_to_python(attr), dtype=np.int64)
        if attr.name in ("value_string", "value_strings"):
            return np.asarray(attribute_to_python(attr), dtype=object)
    raise ModelImportError("Constant node has no value attribute", loc)
