"""Packing constant arrays (weights, biases, per-channel multipliers) into aligned ``const`` C arrays for flash:
element type names, values formatted row by row for the templates, identical arrays stored once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from qcompiler.backends.c_common.identifiers import IdentifierTable, comment_text
from qcompiler.errors import QCompilerError

#: C element types by numpy dtype.
C_TYPES = {
    np.dtype(np.int8): "int8_t", np.dtype(np.uint8): "uint8_t", np.dtype(np.int16): "int16_t",
    np.dtype(np.int32): "int32_t", np.dtype(np.float32): "float", np.dtype(np.float64): "double",
}

#: Values per line in the generated arrays.
ROW_LENGTH = 16


def c_type(dtype: np.dtype) -> str:
    """The C type of a numpy dtype the kernels use."""
    try:
        return C_TYPES[np.dtype(dtype)]
    except KeyError:
        raise QCompilerError(f"the C backend cannot store {np.dtype(dtype)} arrays") from None


def c_literal(value, dtype: np.dtype) -> str:
    """One array element as a C literal: exact for integers, float32 (shortest round-trip repr) and float64
    (a C99 hex float literal, the double's bits with no decimal conversion)."""
    if np.dtype(dtype) == np.float64:
        number = float(value)
        if not np.isfinite(number):
            raise QCompilerError(f"the C backend cannot store the double {number}")
        return number.hex()
    if np.dtype(dtype) == np.float32:
        text = repr(float(np.float32(value)))
        return ("(-1.0f/0.0f)" if value < 0 else "(1.0f/0.0f)") if "inf" in text else text + "f"
    number = int(value)
    if number == -(2 ** 31):
        return "(-2147483647 - 1)"
    return str(number)


@dataclass
class WeightArray:
    """One ``const`` array in the weights file."""

    name: str
    ctype: str
    count: int
    nbytes: int
    rows: list[str]
    comment: str


@dataclass
class WeightPack:
    """The model's constant arrays, deduplicated by content; ``add`` returns the C name of an array."""

    prefix: str
    arrays: list[WeightArray] = field(default_factory=list)
    _names: IdentifierTable = field(default_factory=IdentifierTable)
    _by_content: dict[tuple, str] = field(default_factory=dict)

    def add(self, array: np.ndarray, hint: str, comment: Optional[str] = None) -> str:
        """Store ``array`` (flattened, C order) and return its identifier; an identical array is shared."""
        data = np.ascontiguousarray(array).reshape(-1)
        ctype = c_type(data.dtype)
        key = (ctype, data.tobytes())
        if key in self._by_content:
            return self._by_content[key]
        name = self._names.unique(f"{self.prefix}_{hint}")
        rows = [", ".join(c_literal(v, data.dtype) for v in data[i:i + ROW_LENGTH].tolist())
                for i in range(0, max(len(data), 1), ROW_LENGTH)] if len(data) else ["0"]
        self.arrays.append(WeightArray(name, ctype, max(len(data), 1), data.nbytes, rows,
                                       comment_text(comment if comment is not None else hint)))
        self._by_content[key] = name
        return name

    @property
    def nbytes(self) -> int:
        """Bytes of constant data."""
        return sum(array.nbytes for array in self.arrays)
