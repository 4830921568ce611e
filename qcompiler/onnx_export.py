"""IR -> ONNX: a ``ModelProto`` for a graph whose ops are all ``onnx.*`` or ``const``.

It lets tests run a graph after any pass in onnxruntime (the oracle) and compare node counts with the source
model. Constants become initializers; value names are kept where they are unique.
"""

from __future__ import annotations

import itertools
from typing import Optional

import onnx
from onnx import helper, numpy_helper

from qcompiler.errors import UnsupportedOpError
from qcompiler.ir import CONST, Graph, Value
from qcompiler.onnx_convert import value_info
from qcompiler.ops.onnx_dialect import onnx_node_for


def export_onnx(graph: Graph, *, ir_version: Optional[int] = None) -> onnx.ModelProto:
    """The ONNX model of ``graph`` at the graph's opset (``graph.attrs["onnx.opset"]``).

    ``ir_version`` defaults to the lowest IR version that opset needs. Raises ``UnsupportedOpError`` listing
    every op kind that is neither ``onnx.*`` nor ``const``, and for quantized types, which ONNX cannot express.
    """
    _check_exportable(graph)
    names = _ValueNames(graph)
    nodes, initializers, infos = [], [], []
    for op in graph:
        if op.kind == CONST:
            initializers.append(numpy_helper.from_array(op.attrs["value"], names[op.result]))
            continue
        inputs = ["" if v is None else names[v] for v in op.operands]
        outputs = [names[v] for v in op.results]
        nodes.append(onnx_node_for(op, inputs, outputs))
        infos.extend(value_info(names[v], v.type) for v in op.results if not v.is_graph_output)
    outputs = []
    for value, output_name in zip(graph.outputs, graph.output_names):
        if names[value] != output_name:  # a graph input or a value returned twice: copy it under the name
            nodes.append(helper.make_node("Identity", [names[value]], [output_name], name=f"{output_name}.copy"))
        outputs.append(value_info(output_name, value.type))
    onnx_graph = helper.make_graph(nodes, graph.name, [value_info(names[v], v.type) for v in graph.inputs],
                                   outputs, initializers, value_info=infos)
    opset = helper.make_opsetid("", graph.opset)
    model = helper.make_model(onnx_graph, opset_imports=[opset], producer_name="qcompiler")
    model.ir_version = ir_version if ir_version is not None else helper.find_min_ir_version_for([opset])
    return model


def _check_exportable(graph: Graph) -> None:
    foreign: dict[str, list[str]] = {}
    for value in graph.inputs:
        if value.type.quant is not None:
            raise UnsupportedOpError(f"cannot export to ONNX: input %{value.name} has a quantized type")
    for op in graph:
        if op.kind != CONST and not op.kind.startswith("onnx."):
            foreign.setdefault(op.kind, []).append(op.loc or "?")
        for value in op.results:
            if value.type.quant is not None:
                raise UnsupportedOpError(f"cannot export to ONNX: %{value.name} has a quantized type", op.loc)
    if foreign:
        listed = "; ".join(f"{kind} (ops: {', '.join(locs)})" for kind, locs in foreign.items())
        raise UnsupportedOpError(f"cannot export to ONNX, only onnx.* and const ops: {listed}")


class _ValueNames:
    """Unique ONNX tensor names for the graph's values: inputs keep theirs, outputs produced by an op take the
    output name, every other value keeps its own name when it is free (else gets a numbered variant)."""

    def __init__(self, graph: Graph) -> None:
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.counter = itertools.count()
        for value in graph.inputs:
            self._claim(value, value.name or "input")
        returned = [id(v) for v in graph.outputs]
        for value, name in zip(graph.outputs, graph.output_names):
            if value.producer is not None and returned.count(id(value)) == 1 and name not in self.used:
                self._claim(value, name)
        for value in graph.values():
            if id(value) not in self.names:
                self._claim(value, value.name or "v")
        for name in graph.output_names:  # Identity copies take the output names that are still free
            self.used.add(name)

    def _claim(self, value: Value, wanted: str) -> None:
        name = wanted
        while name in self.used:
            name = f"{wanted}.{next(self.counter)}"
        self.used.add(name)
        self.names[id(value)] = name

    def __getitem__(self, value: Value) -> str:
        return self.names[id(value)]
