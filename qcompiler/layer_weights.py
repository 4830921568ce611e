"""The constant weights of convolution and dense layers, where their output channels are, and how to swap in
a new weight: what pruning, clustering and the sensitivity sweep share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from qcompiler.ir import CONST, Graph, Op, Value
from qcompiler.passes.const_match import float_const


@dataclass(frozen=True)
class LayerWeight:
    """The constant weight of one layer op: operand ``index`` of ``op``, with its output-channel axis and the
    axes one output channel reduces over, listed innermost last (input channel last, as TFLite's n:m
    sparsity groups them)."""

    op: Op
    index: int
    out_axis: int
    reduce_axes: tuple[int, ...]

    @property
    def value(self) -> Value:
        """The weight value (a constant)."""
        value = self.op.operand(self.index)
        assert value is not None
        return value

    @property
    def array(self) -> np.ndarray:
        """The weight's array."""
        array = self.value.const_value
        assert array is not None
        return array

    @property
    def name(self) -> str:
        """The layer's name for users and options: its source location, else its result's name."""
        return layer_name(self.op)

    def rows(self, array: Optional[np.ndarray] = None) -> np.ndarray:
        """``array`` (default: the weight) as [output channels, reduction elements], input channel innermost."""
        array = self.array if array is None else array
        return np.transpose(array, (self.out_axis,) + self.reduce_axes).reshape(array.shape[self.out_axis], -1)

    def from_rows(self, rows: np.ndarray) -> np.ndarray:
        """The inverse of ``rows``: a weight-shaped array from its [output channels, reduction] form."""
        order = (self.out_axis,) + self.reduce_axes
        shape = self.array.shape
        transposed = rows.reshape(tuple(shape[a] for a in order))
        return np.transpose(transposed, np.argsort(order)).astype(self.array.dtype, copy=False)


def layer_name(op: Op) -> str:
    """The name a layer goes by in options and reports: its location, else its first result's name."""
    return op.loc or (op.results[0].name if op.results and op.results[0].name else op.kind)


def layer_weight(op: Op) -> Optional[LayerWeight]:
    """The constant float weight of a conv/dense op (core ops, and onnx Conv/Gemm/MatMul), else None."""
    kind = op.kind
    if kind in ("core.conv2d", "core.depthwise_conv2d"):
        array = float_const(op.operand(1))
        if array is None or array.ndim != 4:
            return None
        nhwc = op.attr("layout", "NHWC") == "NHWC"
        if kind == "core.depthwise_conv2d" and nhwc:  # 1HWC
            return LayerWeight(op, 1, 3, (0, 1, 2))
        if nhwc:  # OHWI
            return LayerWeight(op, 1, 0, (1, 2, 3))
        return LayerWeight(op, 1, 0, (2, 3, 1))  # OIHW (depthwise: C1HW)
    if kind == "core.fully_connected":
        array = float_const(op.operand(1))
        return None if array is None or array.ndim != 2 else LayerWeight(op, 1, 0, (1,))
    if kind == "onnx.Conv":
        array = float_const(op.operand(1))
        if array is None or array.ndim < 3:
            return None
        return LayerWeight(op, 1, 0, tuple(range(2, array.ndim)) + (1,))
    if kind == "onnx.Gemm":
        array = float_const(op.operand(1))
        if array is None or array.ndim != 2:
            return None
        return LayerWeight(op, 1, 0, (1,)) if int(op.attr("transB", 0)) else LayerWeight(op, 1, 1, (0,))
    if kind == "onnx.MatMul":
        array = float_const(op.operand(1))
        return None if array is None or array.ndim != 2 else LayerWeight(op, 1, 1, (0,))
    return None


def layer_weights(graph: Graph, exclude: Sequence[str] = (), only: Sequence[str] = ()) -> Iterator[LayerWeight]:
    """The weights of the graph's layers in order, without those whose op matches ``exclude`` and, when
    ``only`` is given, just those matching it (a match is the op's location or result name)."""
    for op in list(graph):
        weight = layer_weight(op)
        if weight is None or matches(op, exclude) or (only and not matches(op, only)):
            continue
        yield weight


def matches(op: Op, names: Iterable[str]) -> bool:
    """Whether ``op``'s location or one of its result names is in ``names``. A missing location or name
    (None) never matches, even when ``names`` holds None: otherwise every unnamed op would."""
    wanted = {name for name in names if name is not None}
    return bool(wanted) and ((op.loc is not None and op.loc in wanted)
                             or any(v.name is not None and v.name in wanted for v in op.results))


def replace_const_operand(op: Op, index: int, array: np.ndarray, attrs: Optional[dict] = None) -> Value:
    """Make operand ``index`` of ``op`` a new constant holding ``array`` (placed before ``op``, keeping the old
    constant's name and location, with extra const ``attrs``); the old constant goes when nothing else uses it."""
    old = op.operand(index)
    assert old is not None and old.producer is not None and old.producer.kind == CONST
    graph = op.graph
    assert graph is not None
    with graph.inserting_before(op):
        new = graph.const(array, name=old.name, loc=old.producer.loc)
    if attrs:
        new.producer.attrs.update(attrs)
    op.set_operand(index, new)
    if not old.uses:
        old.producer.erase()
    return new

