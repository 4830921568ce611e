"""The ``round-weights`` pass: put conv/dense weights on the int8 grid the quantizer will use, choosing each
rounding direction from calibration data (``qcompiler.weight_rounding``) instead of to the nearest step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.layer_weights import layer_weights
from qcompiler.pass_manager import Pass, register_pass


@register_pass
@dataclass
class RoundWeights(Pass):
    """Round the float weights of conv, depthwise and dense layers onto their int8 grid (symmetric, per output
    channel or per tensor, as ``insert-qdq`` will quantize them), one weight at a time (large layers: one
    column at a time, as GPTQ) with the layer's other weights and bias re-solved on calibration samples after
    each step, so that int8 weights lose less than rounding to nearest. Zeros stay zero, so it composes with
    ``prune``. Run it on the float graph before quantizing with the same ``per-channel`` choice; the quantizer
    then keeps these weights exactly."""

    name: ClassVar[str] = "round-weights"
    data: str = field(default="", metadata={"doc": "calibration samples (.npz, or a folder of <input>.npy)"})
    per_channel: bool = field(default=True, metadata={"doc": "one scale per output channel (as insert-qdq)"})
    exclude: list[str] = field(default_factory=list, metadata={"doc": "layers left alone (locations or names)"})
    exclude_types: list[str] = field(default_factory=list, metadata={"doc": "op kinds left alone (e.g. "
                                                                                "core.fully_connected)"})
    only: list[str] = field(default_factory=list, metadata={"doc": "round just these layers (default: all)"})
    calibration: Any = field(default=None, metadata={"option": False})
    """From Python: calibration arrays by input name (or any calibration source) instead of ``data``."""

    def run(self, graph: Graph) -> bool:
        """Round the selected layers' weights; return whether any layer was rounded."""
        from qcompiler.sparse_reconstruction import can_reconstruct
        from qcompiler.weight_rounding import round_weights

        source = self.calibration if self.calibration is not None else (self.data or None)
        if source is None:
            raise QCompilerError("pass 'round-weights' needs calibration data: round-weights{data=<file.npz>}")
        weights = [w for w in layer_weights(graph, self.exclude, self.only)
                   if can_reconstruct(w) and w.op.kind not in self.exclude_types]
        return round_weights(graph, weights, source, self.per_channel) > 0
