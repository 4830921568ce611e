"""The model interface of an exported quantized graph (``io_type``): with float I/O the graph keeps its
QUANTIZE/DEQUANTIZE at the edges; with int8 I/O those edge conversions go and the graph's inputs and outputs
become the quantized tensors themselves."""

from __future__ import annotations

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph

#: The interface types export_tflite accepts.
IO_TYPES = ("float", "int8")


def make_quantized_interface(graph: Graph) -> None:
    """Turn every graph input that feeds only q.quantize ops of one type into an input of that quantized type,
    and every output made by q.dequantize into that op's quantized operand (in place; use a clone)."""
    for value in graph.inputs:
        users = value.users
        if not users or any(op.kind != "q.quantize" for op in users):
            raise QCompilerError(f"io_type int8 needs graph input '{value.name}' to feed q.quantize ops only "
                                 f"(it feeds {', '.join(sorted({op.kind for op in users})) or 'nothing'}); "
                                 "is the model quantized?")
        types = {op.result.type for op in users}
        if len(types) != 1:
            raise QCompilerError(f"io_type int8: graph input '{value.name}' is quantized with "
                                 f"{len(types)} different parameter sets", users[0].loc)
        quantized = types.pop()
        if quantized.element != "i8":
            raise QCompilerError(f"io_type int8: graph input '{value.name}' is quantized to {quantized.element}, "
                                 "not i8", users[0].loc)
        value.type = quantized
        for op in users:
            op.replace_with(value)
    outputs, edges = [], []
    for name, value in zip(graph.output_names, graph.outputs):
        producer = value.producer
        if producer is None or producer.kind != "q.dequantize" or producer.operand(0).type.element != "i8":
            raise QCompilerError(f"io_type int8 needs graph output '{name}' to come from a q.dequantize of an "
                                 f"i8 tensor (it comes from {producer.kind if producer else 'a graph input'})",
                                 producer.loc if producer else None)
        outputs.append(producer.operand(0))
        edges.append(producer)
    graph.set_outputs(outputs, graph.output_names)
    graph.erase_unused(edges)
