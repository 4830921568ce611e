"""Builtin ops that belong to no dialect: ``const``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qcompiler.errors import VerificationError
from qcompiler.ops.registry import REQUIRED, OpDef, op
from qcompiler.types import TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op


@op("const")
class Const(OpDef):
    """A constant tensor; ``value`` holds its numpy array (shared, never copied by the IR)."""

    attrs = {"value": REQUIRED}

    def infer(self, op: Op) -> TensorType:
        value = op.attrs["value"]
        quant_type = op.results[0].type if op.results else None
        if quant_type is not None and quant_type.quant is not None:
            return quant_type
        return TensorType.of(value)

    def evaluate(self, op: Op) -> np.ndarray:
        return op.attrs["value"]

    def verify(self, op: Op) -> None:
        super().verify(op)
        value = op.attrs["value"]
        if not isinstance(value, np.ndarray):
            raise VerificationError("const needs a numpy array as its value", op.loc)
        declared = op.result.type
        if declared.shape != tuple(value.shape) or declared.dtype != value.dtype:
            raise VerificationError(
                f"const value has shape {tuple(value.shape)} and dtype {value.dtype}, "
                f"but its type says {declared.shape} {declared.element}", op.loc)
