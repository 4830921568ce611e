"""``fuse-activations``: fold a relu / relu6 / relu_n1_to_1 (or a clamp with those bounds) into the core op
that produces its input, as TFLite's fused activation functions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

from qcompiler.ir import Graph, Op
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.rewrite import RewritePattern, Rewriter, apply_patterns

#: Ops whose TFLite form carries a fused activation.
FUSING_OPS = frozenset({"core.conv2d", "core.depthwise_conv2d", "core.fully_connected", "core.add", "core.sub",
                        "core.mul", "core.max_pool2d", "core.avg_pool2d"})

#: Activation ops and the fused activation each is.
ACTIVATION_OPS = {"core.relu": "relu", "core.relu6": "relu6", "core.relu_n1_to_1": "relu_n1_to_1"}

#: Clamp bounds that are a fused activation.
CLAMP_ACTIVATIONS = {(0.0, math.inf): "relu", (0.0, 6.0): "relu6", (-1.0, 1.0): "relu_n1_to_1"}


def fused_activation(op: Op) -> Optional[str]:
    """The fused activation ``op`` computes, or None when it is not one."""
    if op.kind == "core.clamp":
        return CLAMP_ACTIVATIONS.get((float(op.attr("min")), float(op.attr("max"))))
    return ACTIVATION_OPS.get(op.kind)


class FuseActivation(RewritePattern):
    """activation(producer(...)) -> producer(...) {activation}, when the producer is a fusing op without an
    activation yet and the activation op is the only user of its result (which is no graph output)."""

    root = tuple(ACTIVATION_OPS) + ("core.clamp",)

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        activation = fused_activation(op)
        source = op.operand(0)
        producer = source.producer
        if activation is None or producer is None or producer.kind not in FUSING_OPS:
            return False
        if producer.attr("activation") != "none" or not source.has_one_use() or source.type.quant is not None:
            return False
        producer.attrs["activation"] = activation
        rw.modified(producer)
        if source.name is None:
            source.name = op.result.name
        rw.replace(op, [source])
        return True


@register_pass
@dataclass
class FuseActivations(Pass):
    """Fold relu / relu6 / relu_n1_to_1 (and clamps with those bounds) into the conv, depthwise conv,
    fully_connected, add, sub, mul or pooling op that produces their input, as TFLite's fused activations."""

    name: ClassVar[str] = "fuse-activations"

    def run(self, graph: Graph) -> bool:
        """Fuse every activation that can be."""
        return apply_patterns(graph, [FuseActivation()])
