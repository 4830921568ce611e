"""The ``fold-constants`` pass: evaluate ops whose operands are all constant with the reference interpreter,
fold ``Shape``/``Size`` of statically shaped values, and re-infer the types that folding makes known."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler.errors import QCompilerError, UnsupportedOpError
from qcompiler.ir import CONST, RETURN, Graph, Op, Value
from qcompiler.ops.registry import evaluate_op, infer_result_types
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.passes.const_match import is_splat
from qcompiler.types import TensorType

#: Ops that fold from their operand's static type alone, without needing its values.
SHAPE_QUERIES = ("onnx.Shape", "onnx.Size")

#: Ops whose result repeats the one element of a splat data operand (or of their fill value).
SPLAT_PRESERVING = ("onnx.ConstantOfShape", "onnx.Reshape", "onnx.Flatten", "onnx.Squeeze", "onnx.Unsqueeze",
                    "onnx.Transpose", "onnx.Expand", "onnx.Tile", "onnx.Identity")


@register_pass
@dataclass
class FoldConstants(Pass):
    """Evaluate ops whose operands are all constant (and Shape/Size of static shapes) into constants.

    ``max-elements`` bounds each folded result that is bigger than every constant operand, so that Expand,
    Tile or ConstantOfShape cannot blow up memory (a Transpose or Reshape of a big weight still folds). A result
    over the bound that repeats one element (ConstantOfShape, or Reshape/Transpose/Expand/... of such a splat)
    still folds, into a zero-stride broadcast view that holds that one element.
    """

    name: ClassVar[str] = "fold-constants"
    max_elements: int = 1_000_000

    def run(self, graph: Graph) -> bool:
        folder = _Folder(graph, self.max_elements)
        for op in graph:
            folder.visit(op)
        return folder.changed


class _Folder:
    """One forward sweep: ops are visited in order, so a folded value is constant when its users are seen."""

    def __init__(self, graph: Graph, max_elements: int) -> None:
        self.graph = graph
        self.max_elements = max_elements
        self.changed = False
        self.retyped: set[int] = set()  # values whose type or constness changed during this sweep

    def visit(self, op: Op) -> None:
        if op.kind in (CONST, RETURN) or not op.results or op.is_erased:
            return
        if any(id(v) in self.retyped for v in op.operands if v is not None):
            self._reinfer(op)
        if not is_foldable(op):
            return
        arrays = self._fold(op)
        if arrays is None:
            return
        with self.graph.inserting_before(op):
            values = [self.graph.const(_as_declared(array, result.type), result.name, op.loc)
                      for array, result in zip(arrays, op.results)]
        for old in op.results:
            old.name = None  # the constant takes over the name
        op.replace_with(values)
        self.retyped.update(id(v) for v in values)
        self.changed = True

    def _fold(self, op: Op) -> Optional[list[np.ndarray]]:
        if op.kind in SHAPE_QUERIES:
            return shape_query(op)
        operands = [v for v in op.operands if v is not None]
        if not all(v.is_const for v in operands):
            return None
        # the bound is on growth: a result no bigger than a constant already there always folds
        bound = max([self.max_elements] + [v.const_value.size for v in operands])
        declared = [r.type for r in op.results]
        if all(t.is_static for t in declared) and sum(t.num_elements for t in declared) > bound:
            return splat_result(op)
        try:
            arrays = evaluate_op(op, [None if v is None else v.const_value for v in op.operands])
        except UnsupportedOpError:
            return None
        if sum(a.size for a in arrays) > bound:
            return None
        return arrays

    def _reinfer(self, op: Op) -> None:
        """Re-infer result types that are not fully known, now that an operand became constant or retyped."""
        if all(r.type.is_static for r in op.results):
            return
        try:
            inferred = infer_result_types(op)
        except QCompilerError:  # inference that still cannot decide leaves the old types in place
            return
        if len(inferred) != len(op.results):
            return
        for result, new in zip(op.results, inferred):
            if new != result.type and _more_known(new, result.type):
                result.type = new
                self.retyped.add(id(result))
                self.changed = True


def is_foldable(op: Op) -> bool:
    """Whether folding may replace ``op``: not quantized (quantization ops stay for the backends)."""
    if op.dialect == "q":
        return False
    values = [v for v in op.operands if v is not None] + list(op.results)
    return all(v.type.quant is None for v in values)


def shape_query(op: Op) -> Optional[list[np.ndarray]]:
    """The result of onnx.Shape (with its start/end) or onnx.Size on a value of static shape, else None."""
    source: Value = op.operand(0)
    if source is None or not source.type.is_static:
        return None
    shape = list(source.type.shape)
    if op.kind == "onnx.Size":
        return [np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)]
    rank = len(shape)
    start, end = int(op.attr("start", 0) or 0), op.attr("end", None)
    end = rank if end is None else int(end)
    start, end = (min(max(i + rank if i < 0 else i, 0), rank) for i in (start, end))
    return [np.array(shape[start:end], dtype=np.int64)]


def splat_result(op: Op) -> Optional[list[np.ndarray]]:
    """The result of an op in ``SPLAT_PRESERVING`` on a splat (or ConstantOfShape's fill) as a read-only
    broadcast view of its one element, or None for other ops and other operands."""
    if op.kind not in SPLAT_PRESERVING or len(op.results) != 1 or not op.result.type.is_static:
        return None
    if op.kind == "onnx.ConstantOfShape":
        fill = op.attrs.get("value")
        element = np.zeros((), dtype=np.float32) if fill is None else np.asarray(fill).reshape(-1)[0]
    else:
        data = op.operand(0).const_value
        if data is None or not is_splat(data):
            return None
        element = data.reshape(-1)[0] if data.ndim == 0 else data[(0,) * data.ndim]
    element = np.asarray(element).astype(op.result.type.dtype)
    return [np.broadcast_to(element, op.result.type.shape)]


def _as_declared(array: np.ndarray, declared: TensorType) -> np.ndarray:
    """The folded array with the element type the folded value was declared with."""
    array = np.asarray(array)
    if declared.element != "string" and array.dtype != declared.dtype:
        array = array.astype(declared.dtype)
    return array


def _more_known(new: TensorType, old: TensorType) -> bool:
    """Whether ``new`` tells at least as much as ``old`` (never trade a known dim for an unknown one)."""
    if new.element != old.element and old.element is not None:
        return False
    if new.shape is None:
        return False
    if old.shape is None:
        return True
    if len(new.shape) != len(old.shape):
        return False
    return all(isinstance(n, int) or not isinstance(o, int) for n, o in zip(new.shape, old.shape))
