"""Fast numpy kernels for the hot ONNX operators; every other op falls back to ``onnx.reference``.

A kernel takes the op and its operand arrays and returns the result array(s), or ``NotImplemented``
to hand a case it does not cover to the reference implementation.
"""

from __future__ import annotations

from typing import Callable

FAST_KERNELS: dict[str, Callable] = {}
