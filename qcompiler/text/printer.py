"""The IR printer: a ``Graph`` as MLIR-like text that ``parse_graph`` reads back exactly.

Small constants print inline as ``dense<...>``; large ones as ``dense_resource<key>`` with their bytes in a
trailing ``{-# dialect_resources: ... #-}`` section (or elided, for reading only).
"""

from __future__ import annotations

import re
from typing import Any, Optional

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import CONST, Graph, Op, Value
from qcompiler.types import QuantParams, TensorType
from qcompiler.text.syntax import (BARE_KEY, ELIDED_KEY, blob_hex, float_text, key_text, name_text, quote,
                                   raw_hex)

_NOT_IN_KEY = re.compile(r"[^A-Za-z0-9_.$-]")


def print_graph(graph: Graph, *, elide_constants: bool = False, large_constant_elements: int = 16) -> str:
    """The textual form of ``graph``.

    Constants with more than ``large_constant_elements`` elements go to the resource section, or print
    as ``dense_resource<__elided__>`` when ``elide_constants`` is set (text for reading, not parsing).
    """
    return _Printer(elide_constants, large_constant_elements).graph(graph)


def type_text(type: TensorType) -> str:
    """A tensor type as text: ``tensor<1x{batch}x?xf32>``, ``tensor<*xi8>``, quantized elements included."""
    if type.shape is None:
        dims = "*x"
    else:
        dims = "".join(_dim_text(d) + "x" for d in type.shape)
    element = quant_text(type.quant) if type.quant is not None else type.element
    return f"tensor<{dims}{element}>"


def _dim_text(dim: Any) -> str:
    if isinstance(dim, str):
        return "?" if dim == "?" else "{" + name_text(dim) + "}"
    return str(int(dim))


def quant_text(quant: QuantParams) -> str:
    """Quantization parameters in the quant dialect's syntax: ``!quant.uniform<i8:f32, 0.5:-3>``."""
    pairs = [f"{float_text(s)}:{int(z)}" for s, z in zip(quant.scales, quant.zero_points)]
    if quant.axis is None:
        return f"!quant.uniform<{quant.storage}:{quant.expressed}, {pairs[0]}>"
    return f"!quant.uniform<{quant.storage}:{quant.expressed}:{quant.axis}, {{{', '.join(pairs)}}}>"


def dense_text(array: np.ndarray) -> str:
    """An array as an inline ``dense<...>`` literal (nested brackets by shape; ``dense<"0x...">`` when its
    float values would not print exactly, e.g. NaN payloads)."""
    items = _element_texts(array)
    if items is None:
        return f'dense<"{raw_hex(array)}">'
    if array.ndim == 0:
        return f"dense<{items[0]}>"
    shape = array.shape
    level = items
    for axis in range(len(shape) - 1, -1, -1):
        size = shape[axis]
        groups = int(np.prod(shape[:axis], dtype=np.int64))
        level = ["[" + ", ".join(level[g * size:(g + 1) * size]) + "]" for g in range(groups)]
    return f"dense<{level[0]}>"


def _element_texts(array: np.ndarray) -> Optional[list[str]]:
    """The elements as literals, or None when floats cannot print exactly in decimal."""
    kind = array.dtype.kind
    flat = array.reshape(-1)
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "iu":
        return [str(v) for v in flat.tolist()]
    if kind in "OUS":
        texts = []
        for v in flat.tolist():
            if not isinstance(v, str):
                raise QCompilerError(f"cannot print a string tensor element of type {type(v).__name__}")
            texts.append(quote(v))
        return texts
    # Floats (f16, bf16, f32, f64): the shortest text of the dtype's own repr when it reads back
    # exactly, else the float64 repr, else (NaN payloads) None for the hex form.
    for texts in (_short_float_texts(flat), [float_text(v) for v in flat.tolist()]):
        if _reads_back(texts, flat):
            return texts
    return None


def _short_float_texts(flat: np.ndarray) -> list[str]:
    texts = []
    for value in flat:
        text = str(value)
        if not any(c in text for c in ".en"):
            text += ".0"
        texts.append(text)
    return texts


def _reads_back(texts: list[str], flat: np.ndarray) -> bool:
    back = np.array([float(t) for t in texts], dtype=np.float64).astype(flat.dtype)
    return back.tobytes() == np.ascontiguousarray(flat).tobytes()


def attr_text(value: Any, printer: Optional["_Printer"] = None, owner: str = "attr") -> str:
    """An attribute value as text (bool, int, float, str, None, lists, dicts, arrays, types, quant params).

    Arrays print inline unless ``printer`` decides they are large (then as resources named after ``owner``).
    """
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return float_text(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(attr_text(v, printer, owner) for v in value) + "]"
    if isinstance(value, dict):
        return attr_dict_text(value, printer, owner)
    if isinstance(value, np.ndarray):
        literal = printer.array_literal(value, owner) if printer is not None else dense_text(value)
        return f"{literal} : {type_text(TensorType.of(value))}"
    if isinstance(value, TensorType):
        return f"type({type_text(value)})"
    if isinstance(value, QuantParams):
        return quant_text(value)
    raise QCompilerError(f"cannot print an attribute value of type {type(value).__name__}")


def attr_dict_text(attrs: dict, printer: Optional["_Printer"] = None, owner: str = "attr") -> str:
    """A dictionary of attributes as ``{a = 1, b = "x"}``, sorted by name."""
    parts = []
    for key in sorted(attrs):
        if not isinstance(key, str):
            raise QCompilerError(f"attribute names must be strings, got {key!r}")
        try:
            parts.append(f"{key_text(key)} = {attr_text(attrs[key], printer, f'{owner}.{key}')}")
        except QCompilerError as error:
            raise QCompilerError(f"attribute '{key}': {error.message}", error.location) from None
    return "{" + ", ".join(parts) + "}"


class _Printer:
    """State of one print: the names given to values and the resources collected for the trailing section."""

    def __init__(self, elide_constants: bool, large_constant_elements: int) -> None:
        self.elide = elide_constants
        self.large = large_constant_elements
        self.names: dict[int, str] = {}
        self.resources: dict[str, str] = {}
        self.resource_of_array: dict[int, str] = {}
        self.arrays: list[np.ndarray] = []  # keeps printed arrays alive so their ids stay unique
        self.types: dict[TensorType, str] = {}

    # -- names ----------------------------------------------------------------------------------
    def name_values(self, graph: Graph) -> None:
        """Give every value a unique printed name: its own, ``name_N`` for duplicates, numbers for None."""
        values = list(graph.values())
        taken = {v.name for v in values if v.name is not None}
        used: set[str] = set()
        counter = 0
        for value in values:
            name = value.name
            if name is None:
                while str(counter) in taken or str(counter) in used:
                    counter += 1
                name = str(counter)
            elif name in used:
                suffix = 1
                while f"{name}_{suffix}" in taken or f"{name}_{suffix}" in used:
                    suffix += 1
                name = f"{name}_{suffix}"
            used.add(name)
            self.names[id(value)] = name

    def ref(self, value: Optional[Value]) -> str:
        """A use of ``value`` (``none`` for an omitted operand)."""
        if value is None:
            return "none"
        try:
            return "%" + name_text(self.names[id(value)])
        except KeyError:
            raise QCompilerError(f"value {value!r} is used but not defined in the graph") from None

    def type(self, type: TensorType) -> str:
        """A type's text, cached (graphs repeat few distinct types)."""
        text = self.types.get(type)
        if text is None:
            text = self.types[type] = type_text(type)
        return text

    # -- constants ------------------------------------------------------------------------------
    def array_literal(self, array: np.ndarray, owner: str) -> str:
        """``dense<...>`` for small arrays, ``dense_resource<key>`` (or elided) for large ones."""
        if array.size <= self.large or array.dtype.kind in "OUS":
            return dense_text(array)
        if self.elide:
            return f"dense_resource<{ELIDED_KEY}>"
        key = self.resource_of_array.get(id(array))
        if key is None:
            key = _NOT_IN_KEY.sub("_", owner) or "resource"
            if key in self.resources or key == ELIDED_KEY:
                suffix = 1
                while f"{key}_{suffix}" in self.resources:
                    suffix += 1
                key = f"{key}_{suffix}"
            self.resources[key] = blob_hex(array)
            self.resource_of_array[id(array)] = key
            self.arrays.append(array)
        return f"dense_resource<{key}>"

    # -- graph ----------------------------------------------------------------------------------
    def graph(self, graph: Graph) -> str:
        """The whole text: signature, ops, return and the resource section."""
        self.name_values(graph)
        lines = [self.signature(graph)]
        for op in graph:
            try:
                lines.append("  " + self.op(op))
            except QCompilerError as error:
                raise QCompilerError(f"cannot print {op.kind}: {error.message}", error.location or op.loc) from None
        returned = ", ".join(self.ref(v) for v in graph.return_op.operands)
        lines.append(f"  return {returned}" if returned else "  return")
        lines.append("}")
        if self.resources:
            lines += ["", "{-#", "  dialect_resources: {", "    builtin: {"]
            entries = [f'      {key}: "{blob}"' for key, blob in self.resources.items()]
            lines.append(",\n".join(entries))
            lines += ["    }", "  }", "#-}"]
        return "\n".join(lines) + "\n"

    def signature(self, graph: Graph) -> str:
        """``func @name(%in: T, ...) -> (out: T, ...) attributes {...} {``."""
        inputs = ", ".join(f"{self.ref(v)}: {self.type(v.type)}" for v in graph.inputs)
        outputs = []
        for index, value in enumerate(graph.return_op.operands):
            label = graph.output_names[index] if index < len(graph.output_names) else self.names.get(id(value), "")
            value_type = "none" if value is None else self.type(value.type)
            outputs.append(f"{name_text(label)}: {value_type}")
        text = f"func @{name_text(graph.name)}({inputs}) -> ({', '.join(outputs)})"
        if graph.attrs:
            text += " attributes " + attr_dict_text(graph.attrs, self, "graph")
        return text + " {"

    def op(self, op: Op) -> str:
        """One op line (without indentation)."""
        parts = []
        if op.results:
            parts.append(", ".join(self.ref(v) for v in op.results) + " = ")
        parts.append(op.kind if BARE_KEY.fullmatch(op.kind) else quote(op.kind))
        attrs = op.attrs
        owner = self.names[id(op.results[0])] if op.results else (op.loc or op.kind)
        if self._prints_const_literal(op):
            parts.append(" " + self.array_literal(attrs["value"], owner))
            attrs = {k: v for k, v in attrs.items() if k != "value"}
            if op.num_operands:
                parts.append("(" + ", ".join(self.ref(v) for v in op.operands) + ")")
        else:
            parts.append("(" + ", ".join(self.ref(v) for v in op.operands) + ")")
        if attrs:
            parts.append(" " + attr_dict_text(attrs, self, owner))
        if op.results:
            parts.append(" : " + ", ".join(self.type(v.type) for v in op.results))
        if op.loc is not None:
            parts.append(f" loc({quote(op.loc)})")
        return "".join(parts)

    @staticmethod
    def _prints_const_literal(op: Op) -> bool:
        """Whether a const op's value can print as the literal of its result type."""
        if op.kind != CONST or len(op.results) != 1:
            return False
        value = op.attrs.get("value")
        if not isinstance(value, np.ndarray):
            return False
        result = op.results[0].type
        if result.element == "string":  # str arrays of any numpy kind read back as object arrays
            return result.shape == tuple(value.shape) and value.dtype.kind in "OU"
        return result.shape == tuple(value.shape) and result.dtype == value.dtype
