"""The ONNX importer: an ONNX model (file or ``ModelProto``) becomes an IR ``Graph`` of ``onnx.*`` and
``const`` ops with every value typed. Loading, type inference and graph building live in submodules."""

from __future__ import annotations

from typing import Optional

from qcompiler.ir import Graph
from qcompiler.onnx_import.builder import UnsupportedOnnxOpsError, build_graph, node_location
from qcompiler.onnx_import.loading import MIN_OPSET, ModelSource, load_model
from qcompiler.onnx_import.shapes import InputShapes

__all__ = ["import_onnx", "UnsupportedOnnxOpsError", "node_location", "MIN_OPSET"]


def import_onnx(source: ModelSource, *, input_shapes: Optional[InputShapes] = None) -> Graph:
    """Import an ONNX model into an IR graph.

    ``source`` is a path to a ``.onnx`` file (external data next to it is loaded, but only from inside its
    folder) or an ``onnx.ModelProto``. ``input_shapes`` fixes dynamic input dims before shape inference,
    e.g. ``{"input": (1, 3, 224, 224)}``. The graph's ``attrs["onnx.opset"]`` records the model's opset.
    Raises ``ModelImportError`` (or its subclass ``UnsupportedOnnxOpsError``) with a one-line message.
    """
    return build_graph(load_model(source), input_shapes)
