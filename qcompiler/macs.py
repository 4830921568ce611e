"""Multiply-accumulate counts of a graph's ops, from their types alone (no run): what pruning reports and what
the C backends can print per op. Convolutions, dense layers and matmuls count; other ops count zero."""

from __future__ import annotations

from typing import Optional

import numpy as np

from qcompiler.ir import CONST, Graph, Op


def op_macs(op: Op) -> int:
    """Multiply-accumulates one run of ``op`` performs (0 for ops that are not conv/dense/matmul, or whose
    shapes are not static)."""
    out = op.results[0].type if op.results else None
    weight = op.operand(1).type if op.num_operands > 1 and op.operand(1) is not None else None
    if out is None or weight is None or not out.is_static or not weight.is_static:
        return 0
    outputs = out.num_elements
    kind = op.kind
    if kind.startswith("q."):
        kind = "core." + kind[2:]  # quantized layers count like their float counterparts
    if kind in ("core.conv2d", "onnx.Conv"):
        return outputs * int(np.prod(weight.shape[1:]))  # KH*KW*I/groups (OHWI) or I/groups*KH*KW (OIHW)
    if kind == "core.depthwise_conv2d":
        nhwc = op.attr("layout", "NHWC") == "NHWC"
        kernel = weight.shape[1] * weight.shape[2] if nhwc else weight.shape[2] * weight.shape[3]
        return outputs * kernel
    if kind == "core.fully_connected":
        return outputs * weight.shape[1]
    if kind == "onnx.Gemm":
        return outputs * (weight.shape[1] if int(op.attr("transB", 0)) else weight.shape[0])
    if kind in ("onnx.MatMul", "core.batch_matmul"):
        inner = _inner_dim(op)
        return 0 if inner is None else outputs * inner
    return 0


def _inner_dim(op: Op) -> Optional[int]:
    """The contracted dimension of a matmul (the first operand's last dim, or second-last when adjoint)."""
    a = op.operand(0).type
    if a.shape is None or len(a.shape) < 1:
        return None
    dim = a.shape[-2] if op.attr("adj_x", False) and len(a.shape) >= 2 else a.shape[-1]
    return dim if isinstance(dim, int) else None


def graph_macs(graph: Graph) -> int:
    """Total multiply-accumulates of one run of ``graph``."""
    return sum(op_macs(op) for op in graph)


def graph_parameters(graph: Graph) -> int:
    """Elements held by the graph's constants (weights, biases and the rest)."""
    return sum(int(op.attrs["value"].size) for op in graph if op.kind == CONST)
