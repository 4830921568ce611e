"""Test support for calibration and range propagation: digits_cnn prepared for quantization and its
calibration images preprocessed as shared/models/README.md says."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qcompiler.ir import Graph, Value
from qcompiler.onnx_import import import_onnx
from qcompiler.pass_manager import PassManager
from qcompiler.value_ranges import Range, get_range, is_float_tensor

#: The float pipeline calibration runs after.
PREPARE = "cleanup,legalize,to-nhwc,fuse-activations"


def prepared_graph(model: Path) -> Graph:
    """``model`` imported and run through the float pipeline that precedes calibration."""
    graph = import_onnx(str(model))
    PassManager(PREPARE, verify_each=True).run(graph)
    return graph


def upsampled(x: np.ndarray) -> np.ndarray:
    """8x8 digits as the 16x16 models take them: each pixel repeated 2x2, a channel axis added."""
    return np.repeat(np.repeat(x, 2, 1), 2, 2)[:, None].astype(np.float32)


def range_tensors(graph: Graph) -> list[Value]:
    """The values that must carry a range: float graph inputs and float op results (not constants)."""
    return [v for v in graph.values() if is_float_tensor(v) and not v.is_const]


def ranges_by_position(graph: Graph) -> list[tuple[str, Range]]:
    """``(name, range)`` of every range tensor, in graph order (comparable across clones and re-parses)."""
    return [(v.name or "?", get_range(graph, v)) for v in range_tensors(graph)]
