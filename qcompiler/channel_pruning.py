"""Channel pruning: remove whole output channels of convolutions and dense layers and rewire every consumer,
so the model really shrinks (parameters and MACs), in every backend.

The channels of one tensor are not always free to go one layer at a time: a residual add makes the channels
of both its operands one set (the same indices must go from every producer), a concatenation lays several
sets side by side, and channel-wise ops (activations, pooling, depthwise convolution, per-channel constants,
spatial means, squeezing reshapes) pass a set through unchanged. This module finds those sets ("channel
spaces", a union-find over tensors' channel axes), pins the ones it cannot change (graph inputs and outputs,
ops it does not know), ranks each free space's channels by the L1 norm of the producing filters (summed over
producers, each normalized by its mean) and removes the lowest ones everywhere they appear. Core ops only
(run it after legalize), before quantization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from qcompiler.calibration_data import CalibrationSource
from qcompiler.errors import QCompilerError
from qcompiler.ir import CONST, Graph, Op, Value
from qcompiler.layer_weights import LayerWeight, layer_name, layer_weight, matches, replace_const_operand
from qcompiler.macs import graph_macs, graph_parameters
from qcompiler.ops.registry import infer_result_types

#: Binary elementwise core ops: operands of the result's shape share its channels.
ELEMENTWISE_BINARY = ("core.add", "core.sub", "core.mul", "core.div", "core.maximum", "core.minimum",
                      "core.squared_difference", "core.prelu")
#: Pooling keeps channels where its layout says.
POOLING = ("core.max_pool2d", "core.avg_pool2d")
#: Reductions keep the channel axis when they do not reduce it.
REDUCTIONS = ("core.mean", "core.sum", "core.reduce_max", "core.reduce_min", "core.reduce_prod")


class _Space:
    """A set of channels that must be pruned together (a union-find node)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.parent: "_Space" = self
        self.pinned = False
        self.producers: list[LayerWeight] = []

    def root(self) -> "_Space":
        """The representative of this space's set (with path halving)."""
        node = self
        while node.parent is not node:
            node.parent = node.parent.parent
            node = node.parent
        return node


@dataclass
class _Channels:
    """The channel axis of a tensor and the spaces laid side by side along it."""

    axis: int
    segments: list[_Space]

    @property
    def size(self) -> int:
        """The number of channels along the axis."""
        return sum(s.size for s in self.segments)


@dataclass(frozen=True)
class PrunedSpace:
    """One pruned channel space: the layers producing it and its channel count before and after."""

    producers: tuple[str, ...]
    before: int
    after: int


@dataclass
class ChannelPruningReport:
    """What ``prune_channels`` did: MACs and parameters before/after, and each pruned space."""

    macs_before: int
    macs_after: int
    parameters_before: int
    parameters_after: int
    spaces: list[PrunedSpace] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any channel went."""
        return any(s.after < s.before for s in self.spaces)

    @property
    def mac_reduction(self) -> float:
        """The fraction of MACs removed."""
        return 1.0 - self.macs_after / self.macs_before if self.macs_before else 0.0

    def summary(self) -> str:
        """One line for users: channels, MACs and parameters before -> after."""
        channels = sum(s.before for s in self.spaces), sum(s.after for s in self.spaces)
        return (f"channels {channels[0]} -> {channels[1]} in {len(self.spaces)} free group(s), MACs "
                f"{self.macs_before} -> {self.macs_after} (-{self.mac_reduction * 100:.1f}%), parameters "
                f"{self.parameters_before} -> {self.parameters_after}")


def prune_channels(graph: Graph, fraction: float, *, exclude: Sequence[str] = (), only: Sequence[str] = (),
                   calibration: Optional[CalibrationSource] = None) -> ChannelPruningReport:
    """Remove ``fraction`` of the output channels of every free channel space (at least one channel stays),
    producers in ``exclude`` (or outside ``only`` when given) keeping theirs; rewire consumers in place.
    With ``calibration`` samples, every conv/dense layer that lost input channels is re-fitted (least squares,
    in graph order) to reproduce its original output on them, which recovers most of the lost accuracy."""
    if not 0.0 <= fraction < 1.0:
        raise QCompilerError(f"channel pruning: fraction must be in [0, 1), got {fraction}")
    quantized = next((op for op in graph if op.kind.startswith("q.") or any(
        v.type.quant is not None for v in op.results)), None)
    if quantized is not None:
        raise QCompilerError("channel pruning works on float graphs: run it before quantization", quantized.loc)
    macs_before, parameters_before = graph_macs(graph), graph_parameters(graph)
    analysis = _Analysis(graph, exclude, only)
    kept = analysis.choose(fraction)
    spaces = [PrunedSpace(tuple(layer_name(p.op) for p in root.producers), root.size, len(kept[id(root)]))
              for root in analysis.roots() if id(root) in kept]
    if any(s.after < s.before for s in spaces):
        dense = graph.clone() if calibration is not None else None
        twins = {id(a): b for a, b in zip(graph.ops, dense.ops)} if dense is not None else {}
        out_rows = analysis.apply(kept)
        if dense is not None:
            from qcompiler.sparse_reconstruction import refit_layers

            layers = [(op, out_rows.get(id(op))) for op in analysis.input_pruned(kept)]
            refit_layers(graph, dense, twins, layers, calibration)
    return ChannelPruningReport(macs_before, graph_macs(graph), parameters_before, graph_parameters(graph), spaces)


class _Analysis:
    """The channel spaces of a graph and the edits that removing channels of them takes."""

    def __init__(self, graph: Graph, exclude: Sequence[str], only: Sequence[str]) -> None:
        self.graph = graph
        self.exclude, self.only = exclude, only
        self.channels: dict[int, _Channels] = {}
        self.spaces: list[_Space] = []
        # edits: (op, operand index, axis of the constant, the value whose channels it follows)
        self.const_slices: list[tuple[Op, int, int, Value]] = []
        self.reshapes: list[tuple[Op, int]] = []
        for op in graph:
            self._visit(op)
        for operand in graph.return_op.operands:
            self._pin(operand)

    # -- analysis ---------------------------------------------------------------------------
    def _new_space(self, size: int) -> _Space:
        space = _Space(size)
        self.spaces.append(space)
        return space

    def _pin(self, value: Optional[Value]) -> None:
        info = self.channels.get(id(value)) if value is not None else None
        if info is not None:
            for segment in info.segments:
                segment.root().pinned = True

    def _union(self, a: _Channels, b: _Channels) -> bool:
        """Make the spaces of two same-shaped channel layouts one; False when their segments do not line up."""
        if [s.size for s in a.segments] != [s.size for s in b.segments]:
            return False
        for x, y in zip(a.segments, b.segments):
            rx, ry = x.root(), y.root()
            if rx is not ry:
                ry.parent = rx
                rx.pinned = rx.pinned or ry.pinned
                rx.producers.extend(ry.producers)
        return True

    def _visit(self, op: Op) -> None:
        if op.kind == CONST:
            return
        handler = self._handlers().get(op.kind)
        if handler is None and _is_unary(op.kind):
            handler = self._pool  # channel-wise: the result keeps the operand's channels
        if handler is None or not handler(op):
            for operand in op.operands:
                self._pin(operand)
            for result in op.results:
                if id(result) in self.channels:
                    self._pin(result)

    def _handlers(self) -> dict[str, Callable[[Op], bool]]:
        handlers: dict[str, Callable[[Op], bool]] = {
            "core.conv2d": self._layer, "core.fully_connected": self._layer,
            "core.depthwise_conv2d": self._depthwise, "core.reshape": self._reshape, "core.concat": self._concat,
        }
        for kind in ELEMENTWISE_BINARY:
            handlers[kind] = self._binary
        for kind in POOLING:
            handlers[kind] = self._pool
        for kind in REDUCTIONS:
            handlers[kind] = self._reduce
        return handlers

    def _layer(self, op: Op) -> bool:
        weight = layer_weight(op)
        if weight is None or op.kind == "core.conv2d" and int(op.attr("groups", 1)) != 1:
            return False
        if op.operand(2) is not None and op.operand(2).const_value is None:
            return False
        source = self.channels.get(id(op.operand(0)))
        if source is not None:
            if source.axis != (op.operand(0).type.rank - 1 if op.kind == "core.fully_connected"
                               else _layout_channel_axis(op)):
                self._pin(op.operand(0))
            else:
                in_axis = 1 if op.kind == "core.fully_connected" else (3 if _nhwc(op) else 1)
                self.const_slices.append((op, 1, in_axis, op.operand(0)))
        result = op.result
        space = self._new_space(int(weight.array.shape[weight.out_axis]))
        if matches(op, self.exclude) or (self.only and not matches(op, self.only)):
            space.pinned = True
        space.producers.append(weight)
        axis = result.type.rank - 1 if op.kind == "core.fully_connected" else _layout_channel_axis(op)
        self.channels[id(result)] = _Channels(axis, [space])
        self.const_slices.append((op, 1, weight.out_axis, result))
        if op.operand(2) is not None:
            self.const_slices.append((op, 2, 0, result))
        return True

    def _depthwise(self, op: Op) -> bool:
        source = self.channels.get(id(op.operand(0)))
        weight = op.operand(1).const_value
        if source is None or weight is None or int(op.attr("depth_multiplier", 1)) != 1:
            return False
        if op.operand(2) is not None and op.operand(2).const_value is None:
            return False
        self.channels[id(op.result)] = source
        self.const_slices.append((op, 1, 3 if _nhwc(op) else 0, op.result))
        if op.operand(2) is not None:
            self.const_slices.append((op, 2, 0, op.result))
        return True

    def _pool(self, op: Op) -> bool:
        """Pooling and unary elementwise ops: the result has the operand's channels, on the same axis."""
        source = self.channels.get(id(op.operand(0)))
        if source is None:
            return False
        self.channels[id(op.result)] = source
        return True

    def _reduce(self, op: Op) -> bool:
        source = self.channels.get(id(op.operand(0)))
        if source is None:
            return False
        rank = op.operand(0).type.rank
        axes = {a % rank for a in op.attr("axes")}
        if source.axis in axes:
            return False
        axis = source.axis if op.attr("keepdims") else source.axis - sum(1 for a in axes if a < source.axis)
        self.channels[id(op.result)] = _Channels(axis, source.segments)
        return True

    def _reshape(self, op: Op) -> bool:
        source = self.channels.get(id(op.operand(0)))
        if source is None or not op.operand(0).type.is_static or not op.result.type.is_static:
            return False
        in_shape, out_shape = op.operand(0).type.shape, op.result.type.shape
        before, after = np.prod(in_shape[:source.axis]), np.prod(in_shape[source.axis + 1:])
        for axis, size in enumerate(out_shape):
            if size == source.size and np.prod(out_shape[:axis]) == before and np.prod(out_shape[axis + 1:]) == after:
                self.channels[id(op.result)] = _Channels(axis, source.segments)
                self.reshapes.append((op, axis))
                return True
        return False

    def _concat(self, op: Op) -> bool:
        infos = [self.channels.get(id(v)) for v in op.operands]
        if any(info is None for info in infos):
            return False
        axis = int(op.attr("axis")) % op.result.type.rank
        if all(info.axis == axis for info in infos):
            self.channels[id(op.result)] = _Channels(axis, [s for info in infos for s in info.segments])
            return True
        if all(info.axis == infos[0].axis for info in infos) and all(self._union(infos[0], i) for i in infos[1:]):
            self.channels[id(op.result)] = infos[0]
            return True
        return False

    def _binary(self, op: Op) -> bool:
        shape = op.result.type.shape
        tracked: list[_Channels] = []
        constants: list[int] = []
        for index, operand in enumerate(op.operands):
            info = self.channels.get(id(operand))
            if info is not None and operand.type.shape == shape:
                tracked.append(info)
            elif operand.is_const:
                constants.append(index)
            else:
                return False
        if not tracked or any(t.axis != tracked[0].axis for t in tracked):
            return False
        if not all(self._union(tracked[0], t) for t in tracked[1:]):
            return False
        info = tracked[0]
        for index in constants:
            array = op.operand(index).const_value
            const_axis = info.axis - (len(shape) - array.ndim)
            if const_axis < 0 or array.shape[const_axis] == 1:
                continue
            if array.shape[const_axis] != info.size:
                return False
            self.const_slices.append((op, index, const_axis, op.result))
        self.channels[id(op.result)] = info
        return True

    # -- choice and rewrite -------------------------------------------------------------------
    def roots(self) -> list[_Space]:
        """The distinct spaces (set representatives), in creation order."""
        seen: dict[int, _Space] = {}
        for space in self.spaces:
            root = space.root()
            seen.setdefault(id(root), root)
        return list(seen.values())

    def choose(self, fraction: float) -> dict[int, np.ndarray]:
        """The sorted channel indices each free space keeps (by id of its root)."""
        kept: dict[int, np.ndarray] = {}
        for root in self.roots():
            if root.pinned or not root.producers:
                continue
            score = np.zeros(root.size)
            for weight in root.producers:
                norms = np.abs(weight.rows()).sum(axis=1).astype(np.float64)
                score += norms / max(float(norms.mean()), 1e-30)
            remove = min(int(round(fraction * root.size)), root.size - 1)
            order = np.argsort(score, kind="stable")
            kept[id(root)] = np.sort(order[remove:])
        return kept

    def _indices(self, value: Value, kept: dict[int, np.ndarray]) -> Optional[np.ndarray]:
        """The channel indices ``value`` keeps, or None when it keeps them all."""
        info = self.channels[id(value)]
        parts, offset, changed = [], 0, False
        for segment in info.segments:
            root = segment.root()
            chosen = kept.get(id(root))
            if chosen is None or len(chosen) == segment.size:
                parts.append(np.arange(segment.size) + offset)
            else:
                parts.append(chosen + offset)
                changed = True
            offset += segment.size
        return np.concatenate(parts) if changed else None

    def input_pruned(self, kept: dict[int, np.ndarray]) -> list[Op]:
        """The conv/dense layers whose input channels ``kept`` reduces, in graph order."""
        ops = {id(op): op for op, index, axis, follows in self.const_slices
               if index == 1 and follows is op.operand(0) and self._indices(follows, kept) is not None}
        return [op for op in self.graph if id(op) in ops]

    def apply(self, kept: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Slice constants and reshape targets, then re-infer the types of every op downstream; returns the
        output channels each layer keeps (by id of the op; layers keeping all are left out)."""
        edited: set[int] = set()
        out_rows: dict[int, np.ndarray] = {}
        slices: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
        for op, index, axis, follows in self.const_slices:
            indices = self._indices(follows, kept)
            if indices is not None:
                slices.setdefault((id(op), index), []).append((axis, indices))
                if index == 1 and follows is op.result and op.kind in ("core.conv2d", "core.fully_connected"):
                    out_rows[id(op)] = indices
        for op, index, axis, follows in self.const_slices:
            cuts = slices.pop((id(op), index), None)
            if cuts is None:
                continue
            array = op.operand(index).const_value
            for cut_axis, indices in cuts:
                array = np.take(array, indices, axis=cut_axis)
            replace_const_operand(op, index, np.ascontiguousarray(array))
            edited.add(id(op))
        for op, axis in self.reshapes:
            indices = self._indices(op.result, kept)
            if indices is not None:
                shape = list(op.attr("shape"))
                shape[axis] = len(indices)
                op.attrs["shape"] = shape
                edited.add(id(op))
        changed_values: set[int] = set()
        for op in self.graph:
            if op.kind == CONST:
                continue
            if id(op) not in edited and not any(id(v) in changed_values for v in op.operands if v is not None):
                continue
            for value, inferred in zip(op.results, infer_result_types(op)):
                if inferred.shape != value.type.shape:
                    value.type = value.type.with_shape(inferred.shape)
                    changed_values.add(id(value))
        return out_rows


def _is_unary(kind: str) -> bool:
    """Whether ``kind`` is a unary elementwise core op (activations and the like)."""
    from qcompiler.ops.core_elementwise import UnaryOp
    from qcompiler.ops.registry import lookup_op_def

    return kind.startswith("core.") and isinstance(lookup_op_def(kind), UnaryOp)


def _nhwc(op: Op) -> bool:
    return op.attr("layout", "NHWC") == "NHWC"


def _layout_channel_axis(op: Op) -> int:
    """The channel axis of a 4-D image op's input and result."""
    return 3 if _nhwc(op) else 1
