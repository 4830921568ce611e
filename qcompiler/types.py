"""Tensor types of the IR: element types, shapes (with symbolic dims) and quantization parameters."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence, Union

import numpy as np

from qcompiler.errors import QCompilerError

#: Element type names as they print, with the numpy dtype that holds their values.
ELEMENT_DTYPES: dict[str, np.dtype] = {
    "f64": np.dtype(np.float64),
    "f32": np.dtype(np.float32),
    "f16": np.dtype(np.float16),
    "i64": np.dtype(np.int64),
    "i32": np.dtype(np.int32),
    "i16": np.dtype(np.int16),
    "i8": np.dtype(np.int8),
    "u64": np.dtype(np.uint64),
    "u32": np.dtype(np.uint32),
    "u16": np.dtype(np.uint16),
    "u8": np.dtype(np.uint8),
    "bool": np.dtype(np.bool_),
    "string": np.dtype(object),
}
try:  # bfloat16 and the float8 family come from ml_dtypes when it is installed.
    import ml_dtypes

    ELEMENT_DTYPES["bf16"] = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a declared dependency
    pass

_DTYPE_ELEMENTS = {dt: name for name, dt in ELEMENT_DTYPES.items() if name != "string"}

#: Integer storage ranges used by quantized types.
STORAGE_RANGES = {
    "i8": (-128, 127),
    "u8": (0, 255),
    "i16": (-32768, 32767),
    "i32": (-(2**31), 2**31 - 1),
    "i64": (-(2**63), 2**63 - 1),
    "i4": (-8, 7),
    "u4": (0, 15),
}

#: A dimension: a fixed size, a symbol name (dynamic but named), or "?" (unknown).
Dim = Union[int, str]


def element_from_dtype(dtype: np.dtype) -> str:
    """The element type name for a numpy dtype (raises for dtypes the IR has no name for)."""
    dtype = np.dtype(dtype)
    if dtype.kind in ("U", "S", "O"):
        return "string"
    try:
        return _DTYPE_ELEMENTS[dtype]
    except KeyError:
        raise QCompilerError(f"numpy dtype {dtype} has no IR element type") from None


def dtype_of(element: str) -> np.dtype:
    """The numpy dtype that holds values of an element type."""
    try:
        return ELEMENT_DTYPES[element]
    except KeyError:
        raise QCompilerError(f"unknown element type '{element}'") from None


@dataclass(frozen=True)
class QuantParams:
    """Uniform affine quantization: real = scale * (stored - zero_point).

    Per-tensor when ``axis`` is None (one scale, one zero point), per-axis otherwise
    (one scale and zero point per index of ``axis``). ``storage`` is the integer type
    the values are stored in and ``expressed`` the real type they stand for.
    """

    storage: str
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: Optional[int] = None
    expressed: str = "f32"

    def __post_init__(self) -> None:
        if self.storage not in STORAGE_RANGES:
            raise QCompilerError(f"quantized storage type must be one of {sorted(STORAGE_RANGES)}, got '{self.storage}'")
        if len(self.scales) != len(self.zero_points) or not self.scales:
            raise QCompilerError("quantization needs as many zero points as scales, and at least one")
        if self.axis is None and len(self.scales) != 1:
            raise QCompilerError("per-tensor quantization takes exactly one scale")

    @staticmethod
    def per_tensor(storage: str, scale: float, zero_point: int = 0, expressed: str = "f32") -> "QuantParams":
        """Per-tensor parameters from one scale and zero point."""
        return QuantParams(storage, (float(scale),), (int(zero_point),), None, expressed)

    @staticmethod
    def per_axis(
        storage: str, scales: Sequence[float], zero_points: Sequence[int], axis: int, expressed: str = "f32"
    ) -> "QuantParams":
        """Per-axis parameters, one scale and zero point per index along ``axis``."""
        return QuantParams(
            storage, tuple(float(s) for s in scales), tuple(int(z) for z in zero_points), int(axis), expressed
        )

    @property
    def is_per_axis(self) -> bool:
        """Whether there is one scale per index of an axis."""
        return self.axis is not None

    @property
    def scale(self) -> float:
        """The single scale of per-tensor parameters."""
        if self.axis is not None:
            raise QCompilerError("per-axis quantization has no single scale")
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        """The single zero point of per-tensor parameters."""
        if self.axis is not None:
            raise QCompilerError("per-axis quantization has no single zero point")
        return self.zero_points[0]

    @property
    def qmin(self) -> int:
        """Smallest storable integer."""
        return STORAGE_RANGES[self.storage][0]

    @property
    def qmax(self) -> int:
        """Largest storable integer."""
        return STORAGE_RANGES[self.storage][1]


@dataclass(frozen=True)
class TensorType:
    """The type of a value: its shape and element type, and quantization parameters if it is quantized.

    ``shape`` is None for a tensor of unknown rank. A quantized tensor's ``element`` is its storage type.
    """

    shape: Optional[tuple[Dim, ...]]
    element: str
    quant: Optional[QuantParams] = field(default=None)

    def __post_init__(self) -> None:
        if self.element not in ELEMENT_DTYPES:
            raise QCompilerError(f"unknown element type '{self.element}'")
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(d if isinstance(d, str) else int(d) for d in self.shape))
        if self.quant is not None and self.quant.storage != self.element:
            raise QCompilerError(
                f"quantized type stores '{self.quant.storage}' but its element type is '{self.element}'"
            )

    @staticmethod
    def of(array: np.ndarray) -> "TensorType":
        """The type of a numpy array."""
        return TensorType(tuple(array.shape), element_from_dtype(array.dtype))

    @property
    def rank(self) -> Optional[int]:
        """Number of dimensions, or None when unknown."""
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        """Whether every dimension is a known integer."""
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    @property
    def num_elements(self) -> int:
        """Number of elements of a static shape."""
        if not self.is_static:
            raise QCompilerError(f"shape {self.shape} is not static")
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the stored values."""
        return dtype_of(self.element)

    @property
    def nbytes(self) -> int:
        """Bytes of a static tensor's stored values."""
        return self.num_elements * self.dtype.itemsize

    def with_shape(self, shape: Optional[Sequence[Dim]]) -> "TensorType":
        """A copy with another shape."""
        return replace(self, shape=None if shape is None else tuple(shape))

    def with_element(self, element: str) -> "TensorType":
        """A copy with another (unquantized) element type."""
        return TensorType(self.shape, element, None)

    def with_quant(self, quant: Optional[QuantParams]) -> "TensorType":
        """A copy quantized with ``quant`` (stored as its storage type), or unquantized when None."""
        if quant is None:
            return TensorType(self.shape, self.quant.expressed if self.quant else self.element, None)
        return TensorType(self.shape, quant.storage, quant)
