"""The IR parser: reads the text ``print_graph`` writes (and hand-written IR for tests) back into a ``Graph``.

Ops are built from the kinds and result types written in the text, without consulting the op registry, so
IR of users' own dialects reads back too. Resources (``dense_resource<key>``) are resolved after the
trailing ``{-# dialect_resources #-}`` section has been read; their arrays view the decoded bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import CONST, Graph, Op, Value
from qcompiler.text.lexer import Cursor
from qcompiler.text.printer import type_text
from qcompiler.text.syntax import BARE_KEY, ELIDED_KEY, array_from_bytes, unescape
from qcompiler.types import ELEMENT_DTYPES, QuantParams, TensorType

_QUOTED = r'"((?:[^"\\\n]|\\.)*)"'
_NAME = rf'(?:([A-Za-z0-9_.$-]+)|{_QUOTED})'
_VALUE_REF = re.compile(r"%" + _NAME)
_SYMBOL = re.compile(r"@" + _NAME)
_LABEL = re.compile(_NAME + r"\s*:")
_KEY = re.compile(rf"(?:({BARE_KEY.pattern})|{_QUOTED})")
_RESOURCE_KEY = re.compile(_NAME)
_KIND = re.compile(rf"(?:([A-Za-z_][A-Za-z0-9_.$-]*)|{_QUOTED})")
_NUMBER = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|nan)(?![A-Za-z0-9_])")
_INT = re.compile(r"[-+]?\d+(?![A-Za-z0-9_.])")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIMPLE_TYPE = re.compile(r"tensor<((?:\d+x)*)([a-z][a-z0-9]*)>")
_DIM = re.compile(r"(?:(-?\d+)|(\?)|\{" + _NAME + r"\})x")
_ELEMENT = re.compile(r"[a-z][a-z0-9]*")
_HEX_BLOB = re.compile(r'"0x([0-9A-Fa-f]*)"')


def parse_graph(text: str, filename: str = "<string>") -> Graph:
    """The graph written in ``text``; errors are ``ParseError``s located at ``filename:line:column``."""
    return _Parser(text, filename).graph()


@dataclass
class _Resource:
    """A ``dense_resource<key>`` whose bytes come later in the text."""

    key: str
    type: TensorType
    pos: int


@dataclass
class _Dense:
    """An inline ``dense<...>`` literal before its type is known: flat elements, or hex bytes."""

    elements: list
    is_splat: bool
    hex: Optional[str]
    pos: int


class _Parser:
    """Recursive-descent parser over a ``Cursor``; one instance per text."""

    def __init__(self, text: str, filename: str) -> None:
        self.cur = Cursor(text, filename)
        self.values: dict[str, Value] = {}
        self.types: dict[str, TensorType] = {}
        self.pending: list[Any] = []  # the ops (and the graph) whose attrs hold ``_Resource``s
        self.resource_count = 0

    # -- names and values -----------------------------------------------------------------------
    def _name(self, match: re.Match, first_group: int = 1) -> str:
        bare = match.group(first_group)
        if bare is not None:
            return bare
        text = unescape(match.group(first_group + 1))
        if text is None:
            raise self.cur.error("unknown escape in quoted name", match.start())
        return text

    def value_name(self) -> tuple[str, int]:
        """A ``%name`` token: the name and where it starts."""
        found = self.cur.match(_VALUE_REF)
        if found is None:
            raise self.cur.expected("a value name like %x")
        return self._name(found), found.start()

    def define(self, name: str, pos: int) -> None:
        """Check that ``name`` is not defined yet."""
        if name in self.values:
            raise self.cur.error(f"value %{name} is defined twice", pos)

    def use(self) -> Optional[Value]:
        """An operand: ``%name`` of a defined value, or ``none``."""
        if self.cur.accept_word("none"):
            return None
        name, pos = self.value_name()
        value = self.values.get(name)
        if value is None:
            raise self.cur.error(f"use of undefined value %{name}", pos)
        return value

    # -- types ----------------------------------------------------------------------------------
    def type(self) -> TensorType:
        """A tensor type."""
        cur = self.cur
        cur.skip()
        simple = _SIMPLE_TYPE.match(cur.text, cur.pos)
        if simple is not None:
            text = simple.group(0)
            cached = self.types.get(text)
            if cached is None and simple.group(2) in ELEMENT_DTYPES:
                dims = tuple(int(d) for d in simple.group(1).split("x")[:-1])
                cached = self.types[text] = TensorType(dims, simple.group(2))
            if cached is not None:
                cur.pos = simple.end()
                return cached
        start = cur.pos
        if not cur.accept("tensor<"):
            raise cur.expected("a type like tensor<1x3xf32>")
        shape: Optional[list] = []
        if cur.text.startswith("*x", cur.pos):
            cur.pos += 2
            shape = None
        else:
            while True:
                dim = cur.match_here(_DIM)
                if dim is None:
                    break
                if dim.group(1) is not None:
                    shape.append(int(dim.group(1)))
                elif dim.group(2) is not None:
                    shape.append("?")
                else:
                    shape.append(self._name(dim, 3))
        if cur.text.startswith("!quant.uniform<", cur.pos):
            quant = self.quant()
            element = quant.storage
        else:
            quant = None
            element_pos = cur.pos
            found = cur.match_here(_ELEMENT)
            if found is None or found.group(0) not in ELEMENT_DTYPES:
                cur.pos = element_pos
                raise cur.expected(f"a dimension or an element type ({', '.join(ELEMENT_DTYPES)})")
            element = found.group(0)
        if not cur.text.startswith(">", cur.pos):
            raise cur.expected("'>' closing the tensor type")
        cur.pos += 1
        try:
            return TensorType(None if shape is None else tuple(shape), element, quant)
        except QCompilerError as error:
            raise cur.error(error.message, start) from None

    def quant(self) -> QuantParams:
        """``!quant.uniform<i8:f32, scale:zp>`` or per-axis ``!quant.uniform<i8:f32:axis, {s:zp, ...}>``."""
        cur = self.cur
        start = cur.pos
        cur.expect("!quant.uniform<")
        storage = self._element_word("a storage type like i8")
        cur.expect(":")
        expressed = self._element_word("an expressed type like f32")
        axis = None
        if cur.accept(":"):
            axis = self.int("a quantization axis")
        cur.expect(",")
        if axis is not None:
            cur.expect("{", "'{' opening the per-axis scales")
            pairs = cur.comma_separated(self.scale_zero_point)
            cur.expect("}", "',' or '}' after a scale:zero_point pair")
        else:
            pairs = [self.scale_zero_point()]
        cur.expect(">", "'>' closing the quantized type")
        try:
            return QuantParams(storage, tuple(s for s, _ in pairs), tuple(z for _, z in pairs), axis, expressed)
        except QCompilerError as error:
            raise cur.error(error.message, start) from None

    def _element_word(self, what: str) -> str:
        found = self.cur.match(_ELEMENT)
        if found is None:
            raise self.cur.expected(what)
        return found.group(0)

    def scale_zero_point(self) -> tuple[float, int]:
        """``scale:zero_point`` (the zero point defaults to 0)."""
        scale = self.number("a scale")
        zero_point = self.int("a zero point") if self.cur.accept(":") else 0
        return float(scale), zero_point

    def number(self, what: str = "a number") -> Any:
        """An int or a float literal (a float has '.', an exponent, or is inf/nan)."""
        found = self.cur.match(_NUMBER)
        if found is None:
            raise self.cur.expected(what)
        text = found.group(0)
        if any(c in text for c in ".eEn"):
            return float(text)
        return int(text)

    def int(self, what: str) -> int:
        """An integer literal."""
        found = self.cur.match(_INT)
        if found is None:
            raise self.cur.expected(what)
        return int(found.group(0))

    # -- attributes -----------------------------------------------------------------------------
    def entries(self, close: str, key_pattern: re.Pattern, separator: str,
                entry: Callable[[str, int], None], what: str) -> None:
        """``key <separator> value`` entries separated by commas (a trailing one allowed) up to ``close``;
        ``entry(key, position)`` parses each value. Keys must be unique."""
        cur = self.cur
        seen: set[str] = set()
        while not cur.accept(close):
            found = cur.match(key_pattern)
            if found is None:
                raise cur.expected(f"{what} name")
            key = self._name(found)
            if key in seen:
                raise cur.error(f"{what} '{key}' is given twice", found.start())
            seen.add(key)
            cur.expect(separator, f"'{separator}' after {what} '{key}'")
            entry(key, found.start())
            if not cur.accept(","):
                cur.expect(close, f"',' or '{close}' after {what} '{key}'")
                return

    def attr_dict(self) -> dict[str, Any]:
        """``{name = value, ...}`` (the opening brace comes next)."""
        self.cur.expect("{")
        attrs: dict[str, Any] = {}

        def entry(key: str, _: int) -> None:
            attrs[key] = self.attr_value()

        self.entries("}", _KEY, "=", entry, "attribute")
        return attrs

    def attr_value(self) -> Any:
        """One attribute value."""
        cur = self.cur
        cur.skip()
        char = cur.text[cur.pos:cur.pos + 1]
        if char == '"':
            return cur.string()
        if char == "[":
            cur.pos += 1
            if cur.accept("]"):
                return []
            items = cur.comma_separated(self.attr_value)
            cur.expect("]", "',' or ']' in the list")
            return items
        if char == "{":
            return self.attr_dict()
        if char == "!":
            return self.quant()
        word = _WORD.match(cur.text, cur.pos)
        if word is not None:
            name = word.group(0)
            if name in ("true", "false", "none"):
                cur.pos = word.end()
                return {"true": True, "false": False, "none": None}[name]
            if name in ("dense", "dense_resource"):
                literal = self.array_literal()
                cur.expect(":", "':' and the type of the dense literal")
                return self.array(literal, self.type())
            if name == "type":
                cur.pos = word.end()
                cur.expect("(")
                value = self.type()
                cur.expect(")")
                return value
        if _NUMBER.match(cur.text, cur.pos):
            return self.number()
        raise cur.expected("an attribute value")

    # -- dense literals -------------------------------------------------------------------------
    def array_literal(self) -> Any:
        """``dense<...>`` (a ``_Dense``) or ``dense_resource<key>`` (a key and its position)."""
        cur = self.cur
        cur.skip()
        pos = cur.pos
        if cur.accept("dense_resource<"):
            found = cur.match(_RESOURCE_KEY)
            if found is None:
                raise cur.expected("a resource key")
            key = self._name(found)
            cur.expect(">", "'>' closing dense_resource")
            if key == ELIDED_KEY:
                raise cur.error("this constant was elided when printed (elide_constants); "
                                "print without eliding to get text that parses", pos)
            return (key, pos)
        if not cur.accept("dense<"):
            raise cur.expected("dense<...> or dense_resource<...>")
        cur.skip()
        blob = _HEX_BLOB.match(cur.text, cur.pos)
        if blob is not None:
            cur.pos = blob.end()
            cur.expect(">", "'>' closing dense")
            return _Dense([], True, blob.group(1), pos)
        elements: list = []
        splat = not cur.peek("[")
        self._dense_elements(elements)
        cur.expect(">", "'>' closing dense")
        return _Dense(elements, splat, None, pos)

    def _dense_elements(self, out: list) -> None:
        cur = self.cur
        if cur.accept("["):
            if not cur.accept("]"):
                cur.comma_separated(lambda: self._dense_elements(out))
                cur.expect("]", "',' or ']' in the dense literal")
            return
        cur.skip()
        char = cur.text[cur.pos:cur.pos + 1]
        if char == '"':
            out.append(cur.string())
        elif cur.accept_word("true"):
            out.append(True)
        elif cur.accept_word("false"):
            out.append(False)
        else:
            out.append(self.number("a dense element (number, true, false or string)"))

    def array(self, literal: Any, type: TensorType) -> Any:
        """The numpy array (or a pending resource) that ``literal`` denotes at ``type``."""
        if isinstance(literal, tuple):
            key, pos = literal
            self.resource_count += 1
            return _Resource(key, type, pos)
        if not type.is_static:
            raise self.cur.error(f"a dense literal needs a static type, got {type_text(type)}", literal.pos)
        dtype = type.dtype
        count = type.num_elements
        if literal.hex is not None and type.element != "string":
            if len(literal.hex) % 2:
                raise self.cur.error("odd number of hex digits in dense literal", literal.pos)
            data = bytearray.fromhex(literal.hex)
            if len(data) != count * dtype.itemsize:
                raise self.cur.error(f"dense literal holds {len(data)} bytes but {type_text(type)} needs "
                                     f"{count * dtype.itemsize}", literal.pos)
            return array_from_bytes(data, dtype, type.shape)
        elements = literal.elements
        if literal.hex is not None:  # a string tensor whose one string starts with 0x
            elements = ["0x" + literal.hex]
        if len(elements) != count and not (literal.is_splat and len(elements) == 1):
            raise self.cur.error(f"dense literal has {len(elements)} elements but {type_text(type)} "
                                 f"has {count}", literal.pos)
        try:
            flat = _elements_array(elements, type)
        except (TypeError, ValueError, OverflowError) as error:
            raise self.cur.error(f"bad dense literal for {type_text(type)}: {error}", literal.pos) from None
        if len(elements) != count:
            return np.full(type.shape, flat[0], dtype=dtype)
        return flat.reshape(type.shape)

    # -- ops and the graph ----------------------------------------------------------------------
    def graph(self) -> Graph:
        """The whole text: one func, then an optional resource section."""
        cur = self.cur
        if not cur.accept_word("func"):
            raise cur.expected("'func'")
        found = cur.match(_SYMBOL)
        if found is None:
            raise cur.expected("a function name like @main")
        graph = Graph(self._name(found))
        cur.expect("(", "'(' opening the inputs")
        if not cur.accept(")"):
            while True:
                name, pos = self.value_name()
                self.define(name, pos)
                cur.expect(":", f"':' and the type of input %{name}")
                self.values[name] = graph.add_input(name, self.type())
                if cur.accept(")"):
                    break
                if not cur.accept(","):
                    raise cur.expected("',' or ')' after an input")
        cur.expect("->", "'->' and the output types")
        labels, output_types = self.results_signature()
        if cur.accept_word("attributes"):
            count = self.resource_count
            graph.attrs = self.attr_dict()
            if self.resource_count != count:
                self.pending.append(graph)
        cur.expect("{", "'{' opening the function body")
        while True:
            cur.skip()
            return_pos = cur.pos
            if cur.accept_word("return"):
                break
            if cur.at_end() or cur.peek("}"):
                raise cur.expected("an op or 'return'")
            graph.insert(self.op())
        self.return_(graph, labels, output_types, return_pos)
        cur.expect("}", "'}' closing the function")
        resources = self.resource_section() if cur.peek("{-#") else {}
        if not cur.at_end():
            raise cur.expected("end of file")
        self.resolve(resources)
        return graph

    def results_signature(self) -> tuple[list[Optional[str]], list[TensorType]]:
        """``(label: T, ...)`` or a single bare type."""
        cur = self.cur
        labels: list[Optional[str]] = []
        types: list[TensorType] = []
        if not cur.accept("("):
            return [None], [self.type()]
        if cur.accept(")"):
            return labels, types
        while True:
            found = cur.match(_LABEL)
            labels.append(self._name(found) if found is not None else None)
            types.append(self.type())
            if cur.accept(")"):
                return labels, types
            if not cur.accept(","):
                raise cur.expected("',' or ')' after an output")

    def return_(self, graph: Graph, labels: list[Optional[str]], types: list[TensorType], start: int) -> None:
        """The values after ``return`` (which starts at ``start``), checked against the signature."""
        cur = self.cur
        values = cur.comma_separated(self._returned) if cur.peek("%") else []
        if len(values) != len(types):
            raise cur.error(f"return gives {len(values)} value(s) but the signature declares {len(types)}", start)
        for index, (value, declared) in enumerate(zip(values, types)):
            if value.type != declared:
                raise cur.error(f"output {index} has type {type_text(value.type)} but the signature declares "
                                f"{type_text(declared)}", start)
        names = [label if label is not None else value.name for label, value in zip(labels, values)]
        graph.set_outputs(values, names)

    def _returned(self) -> Value:
        value = self.use()
        if value is None:
            raise self.cur.error("return cannot give none")
        return value

    def op(self) -> Op:
        """One op: ``%r, ... = kind(operands) {attrs} : types loc("...")`` (const: ``const dense<...> : T``)."""
        cur = self.cur
        names: list[tuple[str, int]] = []
        if cur.peek("%"):
            names = cur.comma_separated(self.value_name)
            cur.expect("=", "'=' after the result names")
            seen: set[str] = set()
            for name, pos in names:
                self.define(name, pos)
                if name in seen:
                    raise cur.error(f"value %{name} is defined twice", pos)
                seen.add(name)
        cur.skip()
        kind_pos = cur.pos
        found = cur.match(_KIND)
        if found is None:
            raise cur.expected("an op kind like onnx.Conv")
        kind = self._name(found)
        literal = None
        if kind == CONST and (cur.peek("dense<") or cur.peek("dense_resource<")):
            literal = self.array_literal()
        operands: list[Optional[Value]] = []
        if cur.accept("(") and not cur.accept(")"):
            operands = cur.comma_separated(self.use)
            cur.expect(")", "',' or ')' after an operand")
        count = self.resource_count
        attrs = self.attr_dict() if cur.peek("{") else {}
        has_resources = self.resource_count != count
        types = cur.comma_separated(self.type) if cur.accept(":") else []
        if len(types) != len(names):
            raise cur.error(f"{kind} has {len(names)} result name(s) but {len(types)} result type(s)", kind_pos)
        if literal is not None:
            if len(types) != 1:
                raise cur.error("const has exactly one result", kind_pos)
            if "value" in attrs:
                raise cur.error("const gives its value twice (literal and attribute)", kind_pos)
            count = self.resource_count
            attrs["value"] = self.array(literal, types[0])
            has_resources = has_resources or self.resource_count != count
        loc = None
        if cur.accept_word("loc"):
            cur.expect("(", "'(' after loc")
            loc = cur.string("a location string")
            cur.expect(")", "')' closing loc")
        op = Op(kind, operands, types, attrs, loc, [n for n, _ in names])
        for value in op.results:
            self.values[value.name] = value
        if has_resources:
            self.pending.append(op)
        return op

    # -- resources ------------------------------------------------------------------------------
    def resource_section(self) -> dict[str, tuple[int, int]]:
        """``{-# dialect_resources: {builtin: {key: "0x...", ...}} #-}``: key -> span of its hex digits."""
        cur = self.cur
        resources: dict[str, tuple[int, int]] = {}

        def blob(key: str, _: int) -> None:
            found = cur.match(_HEX_BLOB)
            if found is None:
                raise cur.expected('a hex blob like "0x04000000..."')
            if len(found.group(1)) < 8 or len(found.group(1)) % 2:
                raise cur.error("a resource blob needs 4 alignment bytes and whole bytes of data", found.start())
            resources[key] = (found.start(1) + 8, found.end(1))

        def dialect(name: str, pos: int) -> None:
            if name != "builtin":
                raise cur.error(f"only builtin resources are supported, not '{name}'", pos)
            cur.expect("{")
            self.entries("}", _RESOURCE_KEY, ":", blob, "resource")

        def section(name: str, pos: int) -> None:
            if name != "dialect_resources":
                raise cur.error(f"expected 'dialect_resources' in the resource section, found '{name}'", pos)
            cur.expect("{")
            self.entries("}", _RESOURCE_KEY, ":", dialect, "dialect")

        cur.expect("{-#")
        self.entries("#-}", _RESOURCE_KEY, ":", section, "section")
        return resources

    def resolve(self, resources: dict[str, tuple[int, int]]) -> None:
        """Replace every pending ``_Resource`` by its array (one array per key and type, viewing the bytes)."""
        blobs: dict[str, bytearray] = {}
        arrays: dict[tuple[str, TensorType], np.ndarray] = {}

        def array_of(resource: _Resource) -> np.ndarray:
            cached = arrays.get((resource.key, resource.type))
            if cached is not None:
                return cached
            if resource.key not in resources:
                raise self.cur.error(f"no resource named '{resource.key}' in the dialect_resources section",
                                     resource.pos)
            if not resource.type.is_static or resource.type.element == "string":
                raise self.cur.error(f"a resource needs a static numeric type, got {type_text(resource.type)}",
                                     resource.pos)
            data = blobs.get(resource.key)
            if data is None:
                start, end = resources[resource.key]
                data = blobs[resource.key] = bytearray.fromhex(self.cur.text[start:end])
            needed = resource.type.nbytes
            if len(data) != needed:
                raise self.cur.error(f"resource '{resource.key}' holds {len(data)} bytes but "
                                     f"{type_text(resource.type)} needs {needed}", resource.pos)
            array = arrays[(resource.key, resource.type)] = array_from_bytes(data, resource.type.dtype,
                                                                             resource.type.shape)
            return array

        def replace(value: Any) -> Any:
            if isinstance(value, _Resource):
                return array_of(value)
            if isinstance(value, list):
                return [replace(v) for v in value]
            if isinstance(value, dict):
                return {k: replace(v) for k, v in value.items()}
            return value

        for holder in self.pending:
            holder.attrs = {k: replace(v) for k, v in holder.attrs.items()}


def _elements_array(elements: list, type: TensorType) -> np.ndarray:
    """A flat array of ``type``'s dtype from parsed literal elements, checking their kinds."""
    element = type.element
    dtype = type.dtype
    if element == "string":
        if not all(isinstance(e, str) for e in elements):
            raise TypeError("string tensors take string elements")
        array = np.empty(len(elements), dtype=object)
        array[:] = elements
        return array
    if any(isinstance(e, str) for e in elements):
        raise TypeError(f"{element} tensors take no string elements")
    if element == "bool":
        if not all(isinstance(e, bool) for e in elements):
            raise TypeError("bool tensors take true or false")
        return np.array(elements, dtype=dtype)
    if any(isinstance(e, bool) for e in elements):
        raise TypeError(f"{element} tensors take numbers, not true or false")
    if dtype.kind in "iu":
        if not all(isinstance(e, int) for e in elements):
            raise TypeError(f"{element} tensors take integers")
        return np.array(elements, dtype=dtype)
    return np.array([float(e) for e in elements], dtype=np.float64).astype(dtype)
