"""``import-qdq``: read the quantization of a pre-quantized ONNX model (QuantizeLinear / DequantizeLinear
nodes from QAT or another quantizer) so that ``insert-qdq`` quantizes it with the model's own parameters.

Legalization and the NHWC conversion need float constant weights, so the QDQ nodes are folded away here and
their parameters recorded, by tensor name, in the graph attribute ``quant_params`` (they print and parse):

- QuantizeLinear -> DequantizeLinear on an activation: the pair is removed, its parameters recorded for the
  quantized tensor;
- DequantizeLinear of an integer initializer (a weight or a bias): replaced by the float constant it stands
  for (exactly representable, so re-quantizing it with the recorded parameters gives the same integers).

``insert-qdq`` then emits ``q.quantize`` / ``q.dequantize`` with these parameters wherever the tensors
survive cleanup (a batch norm folded into a convolution changes its weight: that weight is re-quantized).
uint8 parameters (onnxruntime's default activations) become int8 ones with the zero point moved by -128
(the same real values; TFLite's kernels are int8). Run it before ``cleanup``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler import quant_math
from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Op
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.rewrite import RewritePattern, Rewriter, apply_patterns
from qcompiler.types import STORAGE_RANGES, QuantParams, element_from_dtype

#: The graph attribute holding recorded parameters by tensor name.
QUANT_PARAMS_ATTR = "quant_params"
#: uint8 storage is re-expressed as int8 by this shift of the zero points.
UNSIGNED_SHIFT = {"u8": ("i8", 128)}


def recorded_params(graph: Graph) -> dict[str, QuantParams]:
    """The parameters ``import-qdq`` recorded, by tensor name (empty when there are none)."""
    table = graph.attrs.get(QUANT_PARAMS_ATTR) or {}
    if not isinstance(table, dict) or not all(isinstance(p, QuantParams) for p in table.values()):
        raise QCompilerError(f"graph attribute '{QUANT_PARAMS_ATTR}' must map tensor names to quantized types")
    return table


def _record(graph: Graph, name: Optional[str], params: QuantParams) -> None:
    if name:
        table = dict(graph.attrs.get(QUANT_PARAMS_ATTR) or {})
        table[name] = params
        graph.attrs[QUANT_PARAMS_ATTR] = table


def _const_array(op: Op, index: int, what: str) -> Optional[np.ndarray]:
    value = op.operand(index)
    if value is None:
        return None
    if not value.is_const:
        raise QCompilerError(f"{op.kind}: the {what} must be a constant (an initializer)", op.loc)
    return np.asarray(value.const_value)


def onnx_qdq_params(op: Op) -> tuple[QuantParams, QuantParams]:
    """The parameters an ONNX QuantizeLinear/DequantizeLinear node states (scale operand 1, zero point operand
    2, ``axis`` for 1-D scales): as stated, and re-expressed as signed storage."""
    scale = _const_array(op, 1, "scale")
    zero_point = _const_array(op, 2, "zero point")
    if zero_point is None:  # the zero point's type is the storage type; ONNX's default is a uint8 zero
        zero_point = np.zeros(scale.shape, dtype=np.uint8)
    if op.attr("block_size", 0):
        raise QCompilerError(f"{op.kind}: blocked quantization (block_size) is not supported", op.loc)
    stated = element_from_dtype(zero_point.dtype)
    if stated not in STORAGE_RANGES:
        raise QCompilerError(f"{op.kind}: cannot quantize to {stated} (integer storage only)", op.loc)
    signed, shift = UNSIGNED_SHIFT.get(stated, (stated, 0))
    scales = [float(np.float32(s)) for s in np.ravel(scale)]
    zero_points = [int(z) for z in np.ravel(zero_point)]
    if scale.size == 1:
        return (QuantParams.per_tensor(stated, scales[0], zero_points[0]),
                QuantParams.per_tensor(signed, scales[0], zero_points[0] - shift))
    rank = op.operand(0).type.rank or 0
    axis = int(op.attr("axis", 1))
    if not -rank <= axis < rank:
        raise QCompilerError(f"{op.kind}: axis {axis} is out of range for rank {rank}", op.loc)
    return (QuantParams.per_axis(stated, scales, zero_points, axis % rank),
            QuantParams.per_axis(signed, scales, [z - shift for z in zero_points], axis % rank))


class FoldActivationQdq(RewritePattern):
    """DequantizeLinear(QuantizeLinear(x)) with the same parameters -> x, the parameters recorded for x."""

    root = "onnx.DequantizeLinear"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        quantize = op.operand(0).producer
        if quantize is None or quantize.kind != "onnx.QuantizeLinear":
            return False
        stated, signed = onnx_qdq_params(op)
        if onnx_qdq_params(quantize)[0] != stated:
            raise QCompilerError(f"{op.kind}: dequantizes with other parameters than its input was quantized with",
                                 op.loc)
        source = quantize.operand(0)
        _record(rw.graph, source.name, signed)
        rw.replace(op, [source])
        return True


class FoldWeightDequantize(RewritePattern):
    """DequantizeLinear(integer initializer) -> the float constant it stands for, its parameters recorded
    under the constant's name."""

    root = "onnx.DequantizeLinear"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        stored = op.operand(0)
        if not stored.is_const:
            return False
        stated, signed = onnx_qdq_params(op)
        array = quant_math.dequantize(np.asarray(stored.const_value), stated)
        name = stored.name or op.result.name
        value = rw.const(array, name=name)
        _record(rw.graph, name, signed)
        rw.replace(op, [value])
        return True


def import_qdq(graph: Graph) -> bool:
    """Fold every ONNX QDQ node of ``graph`` into recorded parameters; return whether there was any."""
    changed = apply_patterns(graph, [FoldActivationQdq(), FoldWeightDequantize()])
    for op in graph:
        if op.kind in ("onnx.QuantizeLinear", "onnx.DequantizeLinear"):
            raise QCompilerError(f"{op.kind}: only QuantizeLinear -> DequantizeLinear pairs and DequantizeLinear of "
                                 f"initializers are supported", op.loc)
    return changed


@register_pass
@dataclass
class ImportQdq(Pass):
    """Fold ONNX QuantizeLinear/DequantizeLinear nodes (pre-quantized models: QAT, onnxruntime) away and record
    their parameters by tensor name (graph attribute quant_params) for insert-qdq to keep."""

    name: ClassVar[str] = "import-qdq"

    def run(self, graph: Graph) -> bool:
        """Fold the QDQ nodes."""
        return import_qdq(graph)
