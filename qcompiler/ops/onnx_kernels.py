"""Fast numpy kernels for the hot ONNX operators; every other op falls back to ``onnx.reference``.

A kernel takes the op and its operand arrays and returns the result array(s), or ``NotImplemented``
to hand a case it does not cover (an odd attribute, an old opset's semantics, an extra output) to the
reference implementation. Convolution and pooling live in ``onnx_kernels_window``.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator, Optional, TYPE_CHECKING

import numpy as np

from qcompiler.ops import onnx_kernels_window as window

if TYPE_CHECKING:
    from qcompiler.ir import Op

Kernel = Callable[..., object]


def _opset(op: Op) -> int:
    return op.graph.opset if op.graph is not None else 17


def gemm(op: Op, a: np.ndarray, b: np.ndarray, c: Optional[np.ndarray] = None):
    """ONNX Gemm: ``alpha * A' @ B' + beta * C`` with optional transposes and a broadcast C."""
    if a.ndim != 2 or b.ndim != 2 or a.dtype.kind != "f":
        return NotImplemented
    if op.attrs.get("transA", 0):
        a = a.T
    if op.attrs.get("transB", 0):
        b = b.T
    alpha = op.attrs.get("alpha", 1.0)
    beta = op.attrs.get("beta", 1.0)
    out = a @ b
    if alpha != 1.0:
        out *= a.dtype.type(alpha)
    if c is not None and beta != 0.0:
        out += c * a.dtype.type(beta) if beta != 1.0 else c
    return out


def matmul(op: Op, a: np.ndarray, b: np.ndarray):
    """ONNX MatMul: numpy's matmul (same broadcasting and 1-D promotion rules)."""
    return np.matmul(a, b)


def batch_normalization(op: Op, x: np.ndarray, scale: np.ndarray, bias: np.ndarray, mean: np.ndarray,
                        var: np.ndarray):
    """ONNX BatchNormalization in inference mode (one output, per-channel statistics)."""
    if len(op.results) != 1 or op.attrs.get("training_mode", 0) or op.attrs.get("spatial", 1) != 1:
        return NotImplemented
    if x.ndim < 2 or x.dtype.kind != "f":
        return NotImplemented
    epsilon = op.attrs.get("epsilon", 1e-5)
    factor = scale / np.sqrt(var.astype(np.float64) + epsilon)
    shift = bias - mean * factor
    broadcast = (-1,) + (1,) * (x.ndim - 2)
    return (x * factor.astype(x.dtype).reshape(broadcast) + shift.astype(x.dtype).reshape(broadcast)).astype(x.dtype)


def _softmax_axes(op: Op, x: np.ndarray):
    """The array to normalise and the axis to normalise over, under the op's opset rules.

    Before opset 13 the input is coerced to 2-D at ``axis`` (default 1) and normalised over the second
    dimension; from 13 on, ``axis`` (default -1) alone is normalised.
    """
    if _opset(op) >= 13:
        return x, int(op.attrs.get("axis", -1))
    axis = int(op.attrs.get("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    rows = int(np.prod(x.shape[:axis], dtype=np.int64))
    return x.reshape(rows, -1), 1


def softmax(op: Op, x: np.ndarray):
    """ONNX Softmax, numerically stable (the maximum is subtracted first)."""
    if x.dtype.kind != "f" or x.ndim == 0:
        return NotImplemented
    flat, axis = _softmax_axes(op, x)
    shifted = np.exp(flat - flat.max(axis=axis, keepdims=True))
    return (shifted / shifted.sum(axis=axis, keepdims=True)).reshape(x.shape)


def log_softmax(op: Op, x: np.ndarray):
    """ONNX LogSoftmax, numerically stable."""
    if x.dtype.kind != "f" or x.ndim == 0:
        return NotImplemented
    flat, axis = _softmax_axes(op, x)
    shifted = flat - flat.max(axis=axis, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).reshape(x.shape)


def hardmax(op: Op, x: np.ndarray):
    """ONNX Hardmax: 1 at the first maximum along the axis, 0 elsewhere (opset rules as for Softmax)."""
    if x.ndim == 0:
        return NotImplemented
    flat, axis = _softmax_axes(op, x)
    winners = np.expand_dims(np.argmax(flat, axis=axis), axis)
    out = np.zeros_like(flat)
    np.put_along_axis(out, winners, 1, axis=axis)
    return out.reshape(x.shape)


def lrn(op: Op, x: np.ndarray):
    """ONNX LRN: ``x / (bias + alpha / size * sum of squares over nearby channels) ** beta``."""
    if x.ndim < 3 or x.dtype.kind != "f":
        return NotImplemented
    size = int(op.attrs["size"])
    alpha = op.attrs.get("alpha", 1e-4)
    beta = op.attrs.get("beta", 0.75)
    bias = op.attrs.get("bias", 1.0)
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    squares = np.square(x.astype(np.float64))
    widths = [(0, 0), (before + 1, after)] + [(0, 0)] * (x.ndim - 2)
    running = np.cumsum(np.pad(squares, widths), axis=1)
    channels = x.shape[1]
    window_sums = running[:, size:size + channels] - running[:, :channels]
    return (x / (bias + alpha / size * window_sums) ** beta).astype(x.dtype)


def global_average_pool(op: Op, x: np.ndarray):
    """ONNX GlobalAveragePool: the mean over every spatial axis, kept as size-1 axes."""
    if x.ndim < 3:
        return NotImplemented
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=np.float64 if x.dtype.kind != "f" else None
                  ).astype(x.dtype)


def global_max_pool(op: Op, x: np.ndarray):
    """ONNX GlobalMaxPool: the maximum over every spatial axis, kept as size-1 axes."""
    if x.ndim < 3:
        return NotImplemented
    return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)


def global_lp_pool(op: Op, x: np.ndarray):
    """ONNX GlobalLpPool: the p-norm (``p`` default 2) over every spatial axis, kept as size-1 axes.

    The reference implementation has no class for it, so this kernel is its only implementation.
    """
    if x.ndim < 3 or x.dtype.kind != "f":
        return NotImplemented
    p = float(op.attrs.get("p", 2))
    axes = tuple(range(2, x.ndim))
    norms = np.sum(np.abs(x.astype(np.float64)) ** p, axis=axes, keepdims=True) ** (1.0 / p)
    return norms.astype(x.dtype)


def _same_dtype(function: Callable[..., np.ndarray]) -> Kernel:
    """An elementwise kernel for numpy ``function`` that keeps its operands' (shared) dtype."""

    def kernel(op: Op, *inputs: np.ndarray):
        if any(x is None or x.dtype != inputs[0].dtype or x.dtype.kind not in "fiub" for x in inputs):
            return NotImplemented
        return np.asarray(function(*inputs)).astype(inputs[0].dtype, copy=False)

    kernel.__doc__ = f"Elementwise ONNX op computed by numpy's {getattr(function, '__name__', 'function')}."
    return kernel


def _variadic(function: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda *inputs: functools.reduce(function, inputs)


FAST_KERNELS: dict[str, Kernel] = {
    "Conv": window.conv,
    "ConvTranspose": window.conv_transpose,
    "MaxPool": window.max_pool,
    "AveragePool": window.average_pool,
    "GlobalAveragePool": global_average_pool,
    "GlobalMaxPool": global_max_pool,
    "GlobalLpPool": global_lp_pool,
    "Gemm": gemm,
    "MatMul": matmul,
    "BatchNormalization": batch_normalization,
    "LRN": lrn,
    "Softmax": softmax,
    "LogSoftmax": log_softmax,
    "Hardmax": hardmax,
    "Relu": _same_dtype(lambda x: np.maximum(x, 0)),
    "Add": _same_dtype(np.add),
    "Sub": _same_dtype(np.subtract),
    "Mul": _same_dtype(np.multiply),
    "Sum": _same_dtype(_variadic(np.add)),
    "Max": _same_dtype(_variadic(np.maximum)),
    "Min": _same_dtype(_variadic(np.minimum)),
}
"""Fast kernels by ONNX op type; ``OnnxOp.evaluate`` tries these before the reference implementation."""


@contextlib.contextmanager
def fast_kernels_disabled() -> Iterator[None]:
    """Within the block every onnx op runs on ``onnx.reference``: for benchmarks that measure what the
    fast kernels save, and for checking a kernel against the reference through the interpreter."""
    saved = dict(FAST_KERNELS)
    FAST_KERNELS.clear()
    try:
        yield
    finally:
        FAST_KERNELS.update(saved)
