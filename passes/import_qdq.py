"""``import-qdq``: ONNX QuantizeLinear / DequantizeLinear (from QAT or another quantizer) -> ``q.quantize`` /
``q.dequantize`` with the model's own parameters, so that a pre-quantized model lowers with them kept.

Quantized initializers become quantized constants. uint8 tensors (onnxruntime's default activations) become
int8 ones with the zero point moved by -128 (the same real values; TFLite's kernels are int8). Run it before
``cleanup``: constant folding would otherwise fold a DequantizeLinear of an initializer into floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Op, Value
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.rewrite import RewritePattern, Rewriter, apply_patterns
from qcompiler.types import STORAGE_RANGES, QuantParams, TensorType, dtype_of, element_from_dtype

#: uint8 storage is re-expressed as int8 by this shift of values and zero points.
UNSIGNED_SHIFT = {"u8": ("i8", 128)}


def _const_array(op: Op, index: int, what: str) -> Optional[np.ndarray]:
    value = op.operand(index)
    if value is None:
        return None
    if not value.is_const:
        raise QCompilerError(f"{op.kind}: the {what} must be a constant (an initializer)", op.loc)
    return np.asarray(value.const_value)


def onnx_qdq_params(op: Op, rank: int) -> tuple[QuantParams, int]:
    """The parameters an ONNX QuantizeLinear/DequantizeLinear node states (scale operand 1, zero point operand
    2, ``axis`` for 1-D scales), unsigned storage re-expressed as signed; also the shift applied to values."""
    scale = _const_array(op, 1, "scale")
    zero_point = _const_array(op, 2, "zero point")
    if zero_point is None:  # the zero point's type is the storage type; ONNX's default is uint8 zero
        zero_point = np.zeros(scale.shape, dtype=np.uint8)
    if op.attr("block_size", 0):
        raise QCompilerError(f"{op.kind}: blocked quantization (block_size) is not supported", op.loc)
    storage = element_from_dtype(zero_point.dtype)
    if storage not in STORAGE_RANGES:
        raise QCompilerError(f"{op.kind}: cannot quantize to {storage} (integer storage only)", op.loc)
    storage, shift = UNSIGNED_SHIFT.get(storage, (storage, 0))
    scales = [float(np.float32(s)) for s in np.ravel(scale)]
    zero_points = [int(z) - shift for z in np.ravel(zero_point)]
    if scale.size == 1:
        return QuantParams.per_tensor(storage, scales[0], zero_points[0]), shift
    axis = int(op.attr("axis", 1))
    if not -rank <= axis < rank:
        raise QCompilerError(f"{op.kind}: axis {axis} is out of range for rank {rank}", op.loc)
    return QuantParams.per_axis(storage, scales, zero_points, axis % rank), shift


class QuantizeLinearToQ(RewritePattern):
    """onnx.QuantizeLinear(x, scale, zero_point) -> q.quantize(x) : its quantized type."""

    root = "onnx.QuantizeLinear"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = op.operand(0)
        params, _ = onnx_qdq_params(op, source.type.rank or 0)
        type_ = TensorType(source.type.shape, params.storage, params)
        rw.replace_with_op(op, "q.quantize", [source], {}, [type_])
        return True


class DequantizeLinearToQ(RewritePattern):
    """onnx.DequantizeLinear(x, scale, zero_point) -> q.dequantize(x), x a quantized constant or the result
    of a quantize with the same parameters."""

    root = "onnx.DequantizeLinear"

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        source = op.operand(0)
        params, shift = onnx_qdq_params(op, source.type.rank or 0)
        if source.type.quant is not None:
            if source.type.quant != params:
                raise QCompilerError(f"{op.kind}: dequantizes with other parameters than its input was quantized "
                                     f"with", op.loc)
            stored = source
        elif source.is_const:
            array = (np.asarray(source.const_value).astype(np.int64) - shift).astype(dtype_of(params.storage))
            stored = rw.create("const", [], {"value": array}, [TensorType(tuple(array.shape), params.storage, params)],
                               source.producer.loc, [source.name]).result
        else:
            raise QCompilerError(f"{op.kind}: its input must be a quantized initializer or a QuantizeLinear result",
                                 op.loc)
        type_ = TensorType(source.type.shape, "f32")
        rw.replace_with_op(op, "q.dequantize", [stored], {}, [type_])
        return True


def import_qdq(graph: Graph) -> bool:
    """Rewrite every ONNX QuantizeLinear/DequantizeLinear of ``graph``; return whether any was found."""
    return apply_patterns(graph, [QuantizeLinearToQ(), DequantizeLinearToQ()])


@register_pass
@dataclass
class ImportQdq(Pass):
    """Turn ONNX QuantizeLinear/DequantizeLinear nodes (pre-quantized models: QAT, onnxruntime) into
    q.quantize/q.dequantize with the model's own parameters (uint8 re-expressed as int8)."""

    name: ClassVar[str] = "import-qdq"

    def run(self, graph: Graph) -> bool:
        """Rewrite the QDQ nodes."""
        return import_qdq(graph)
