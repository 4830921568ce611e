"""How each core op takes part in quantization (TFLite's rules), shared by ``insert-qdq`` and
``lower-quantized``: which operand is a weight and along which axis it is quantized per channel, which ops
only move values (their result keeps the operand's parameters), which ops fix their output parameters, and
which ``q`` op an integer core op lowers to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from qcompiler.ir import Op
from qcompiler.ops.registry import lookup_op_def


@dataclass(frozen=True)
class WeightRule:
    """Operand ``weight`` of the op is a weight (symmetric int8, per channel along ``axis`` of its array);
    operand ``bias`` (when not None) is a bias quantized with scale input_scale * weight_scale."""

    weight: int
    bias: Optional[int]
    axis: int


def weight_rule(op: Op) -> Optional[WeightRule]:
    """The weight rule of ``op``: conv/FC weights per output channel (axis 0 of OHWI / OIHW / [N, K]),
    depthwise weights along their channel axis (3 of 1HWC, 0 of C1HW); None for other ops."""
    if op.kind in ("core.conv2d", "core.fully_connected"):
        return WeightRule(1, 2, 0)
    if op.kind == "core.depthwise_conv2d":
        return WeightRule(1, 2, 3 if op.attr("layout") == "NHWC" else 0)
    return None


#: Ops that move or select values without computing new ones: their results keep operand 0's parameters
#: (TFLite requires equal input and output parameters for them), and they run on quantized arrays.
PARAMS_PRESERVING = frozenset({
    "core.reshape", "core.transpose", "core.pad", "core.slice", "core.gather", "core.split", "core.broadcast_to",
    "core.max_pool2d", "core.avg_pool2d", "core.reduce_max", "core.reduce_min",
})

#: Of those, the ones that need a ``q`` kernel (they compute, or clamp a fused activation) when one exists.
POOLING = frozenset({"core.max_pool2d", "core.avg_pool2d"})

#: Operands that hold data (the others are integer indices, never quantized), by kind; default: all.
DATA_OPERANDS: dict[str, tuple[int, ...]] = {"core.gather": (0,)}

#: Output parameters TFLite fixes, by kind and activation storage: (scale, zero point).
FIXED_OUTPUT: dict[str, dict[str, tuple[float, int]]] = {
    "core.softmax": {"i8": (1.0 / 256.0, -128), "i16": (1.0 / 32768.0, 0)},
    "core.sigmoid": {"i8": (1.0 / 256.0, -128), "i16": (1.0 / 32768.0, 0)},
    "core.tanh": {"i8": (1.0 / 128.0, 0), "i16": (1.0 / 32768.0, 0)},
}

#: Core kinds whose ``q`` counterpart has another name.
Q_NAMES = {"core.sigmoid": "q.logistic"}

#: Ops with weights that TFLite's hybrid (dynamic-range) kernels read as int8.
HYBRID_OPS = frozenset({"core.conv2d", "core.depthwise_conv2d", "core.fully_connected", "core.batch_matmul"})


def q_kind(kind: str) -> Optional[str]:
    """The registered ``q`` op an integer ``kind`` lowers to (``core.conv2d`` -> ``q.conv2d``), or None."""
    if not kind.startswith("core."):
        return None
    name = Q_NAMES.get(kind, "q." + kind.split(".", 1)[1])
    return name if lookup_op_def(name) is not None else None


def supports_storage(kind: str, storage: str) -> bool:
    """Whether the ``q`` op ``kind`` takes ``storage`` activations (its definition's ``storages``, when it
    declares them)."""
    storages = getattr(lookup_op_def(kind), "storages", None)
    return storages is None or storage in storages


def runs_quantized(op: Op, storage: str) -> bool:
    """Whether ``op`` can run on ``storage`` integers: a ``q`` kernel exists for it and takes that storage,
    or it only moves values."""
    kind = q_kind(op.kind)
    if kind is not None and not supports_storage(kind, storage):
        kind = None
    if op.kind == "core.avg_pool2d":  # averaging rounds: only its integer kernel does it as TFLite does
        return kind is not None
    if op.kind in PARAMS_PRESERVING:
        return op.kind not in POOLING or kind is not None or op.attr("activation") == "none"
    return op.kind == "core.concat" or kind is not None


def data_operands(op: Op) -> tuple[int, ...]:
    """The indices of ``op``'s operands that hold real numbers (quantized when the op runs on integers)."""
    found = DATA_OPERANDS.get(op.kind)
    return found if found is not None else tuple(range(op.num_operands))
