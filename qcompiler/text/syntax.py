"""Lexical conventions of the textual IR shared by the printer and the parser: names, strings, floats and
resource blobs, so that what one side writes the other side reads back exactly."""

from __future__ import annotations

import re
from typing import Optional

import numpy as np

#: A name that prints without quotes (value names, symbol dims, resource keys).
BARE_NAME = re.compile(r"[A-Za-z0-9_.$-]+")
#: An attribute or dictionary key that prints without quotes (must not start like a number).
BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.$-]*")
#: A double-quoted string literal with backslash escapes.
STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')
#: Resource key printed for constants whose bytes were left out (``elide_constants=True``).
ELIDED_KEY = "__elided__"

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f]')
_ESCAPE_SEQUENCE = re.compile(r'\\(x[0-9A-Fa-f]{2}|.)', re.S)
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}


def _escape_char(match: re.Match) -> str:
    char = match.group(0)
    return _ESCAPES.get(char) or f"\\x{ord(char):02x}"


def quote(text: str) -> str:
    """``text`` as a double-quoted literal: ``\\\\``, ``\\"``, ``\\n``, ``\\t`` and ``\\xNN`` for other controls."""
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def unescape(body: str) -> Optional[str]:
    """The text of a string literal's body (between the quotes), or None when it has an unknown escape."""
    if "\\" not in body:
        return body
    bad = False

    def replace(match: re.Match) -> str:
        nonlocal bad
        code = match.group(1)
        if len(code) == 3:
            return chr(int(code[1:], 16))
        if code not in _UNESCAPES:
            bad = True
            return ""
        return _UNESCAPES[code]

    text = _ESCAPE_SEQUENCE.sub(replace, body)
    return None if bad else text


def name_text(name: str) -> str:
    """A name bare when it matches ``BARE_NAME``, else quoted."""
    return name if BARE_NAME.fullmatch(name) else quote(name)


def key_text(key: str) -> str:
    """An attribute key bare when it matches ``BARE_KEY``, else quoted."""
    return key if BARE_KEY.fullmatch(key) else quote(key)


def float_text(value: float) -> str:
    """A Python float so that ``float()`` of the text gives it back exactly (``inf``, ``-inf``, ``nan``)."""
    return repr(float(value))


# -- resource blobs ---------------------------------------------------------------------------------


def little_endian_bytes(array: np.ndarray) -> np.ndarray:
    """The raw little-endian bytes of an array (C order) as a flat uint8 view, copied only when needed."""
    dtype = array.dtype
    if dtype.byteorder == ">" or (dtype.byteorder == "=" and not _LITTLE_ENDIAN_HOST):
        array = array.astype(dtype.newbyteorder("<"))
    flat = np.ascontiguousarray(array).reshape(-1)
    return flat.view(np.uint8)


_LITTLE_ENDIAN_HOST = np.little_endian


def blob_hex(array: np.ndarray) -> str:
    """MLIR's resource blob text: ``0x``, the 4-byte little-endian alignment, then the raw bytes in hex."""
    alignment = max(1, array.dtype.alignment)
    return "0x" + alignment.to_bytes(4, "little").hex().upper() + little_endian_bytes(array).data.hex().upper()


def raw_hex(array: np.ndarray) -> str:
    """The raw little-endian bytes of an array as ``0x`` hex (the ``dense<"0x...">`` form, no alignment)."""
    return "0x" + little_endian_bytes(array).data.hex().upper()


def array_from_bytes(data: bytearray, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """An array viewing ``data`` (no copy) as little-endian ``dtype`` values of ``shape``."""
    stored = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
    array = np.frombuffer(data, dtype=stored).reshape(shape)
    if stored != np.dtype(dtype):
        array = array.astype(dtype)
    return array
