"""The TFLite backend: lower a core/q graph (NHWC, after cleanup, legalize, to-nhwc, fuse-activations and,
for quantized models, lower-quantized) to TFLite operators and write the .tflite flatbuffer.

``export_tflite(graph)`` returns the model's bytes; ``describe_tflite(data)`` prints any .tflite as text.
"""

from __future__ import annotations

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph

from qcompiler.backends.tflite.inspect import describe_tflite
from qcompiler.backends.tflite.interface import IO_TYPES, make_quantized_interface
from qcompiler.backends.tflite.lower import lower_graph, unsupported_ops
from qcompiler.backends.tflite.writer import serialize


def export_tflite(graph: Graph, *, io_type: str = "float", hybrid: bool = True) -> bytes:
    """The .tflite bytes of ``graph`` (the graph itself is not changed).

    ``io_type="float"`` keeps the graph's interface (a quantized model keeps QUANTIZE/DEQUANTIZE at its
    edges); ``"int8"`` makes a quantized model's inputs and outputs its int8 tensors. With ``hybrid``, an int8
    weight that only convolutions, fully-connected layers and matmuls read goes to TFLite's hybrid kernels
    (dynamic-range mode); without, it is dequantized and the op computes in float (weight-only mode). Ops
    the backend cannot lower are reported together, each with its location. The bytes are deterministic.
    """
    if io_type not in IO_TYPES:
        raise QCompilerError(f"io_type must be one of {', '.join(IO_TYPES)}, got '{io_type}'")
    if io_type == "int8":
        graph = graph.clone()
        make_quantized_interface(graph)
    from qcompiler import __version__

    return serialize(lower_graph(graph, description=f"qcompiler {__version__}", hybrid=hybrid))


__all__ = ["export_tflite", "describe_tflite", "unsupported_ops", "IO_TYPES"]
