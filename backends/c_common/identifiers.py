"""Turning model names (ONNX node and tensor names: any Unicode) into C identifiers and comment text, so that no
name reaches generated source unescaped: identifiers keep only [A-Za-z0-9_], comments only safe printable ASCII."""

from __future__ import annotations

import re
from typing import Iterable

#: C99 keywords plus names a library must not shadow.
RESERVED = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int long register
restrict return short signed sizeof static struct switch typedef union unsigned void volatile while _Bool _Complex
_Imaginary main memcpy memmove memset NULL
""".split())

_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")
#: Characters a comment may show as they are: no '?' (trigraphs), no backslash (line splices), no quotes, nothing
#: outside printable ASCII; '*' and '/' only where they cannot pair into a comment delimiter.
_COMMENT_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 _.,:;()[]{}<>=+-#@!&|^~$*/")
_DELIMITER_CHARS = "*/"


def c_identifier(name: str, fallback: str = "t") -> str:
    """``name`` as a C identifier: runs of other characters become one ``_``; a leading digit, an empty result,
    a reserved word or a name reserved to the implementation (leading ``_``) get the ``fallback`` prefix."""
    text = _NOT_IDENTIFIER.sub("_", name).strip("_")
    if not text or text[0].isdigit() or text in RESERVED:
        text = f"{fallback}_{text}" if text else fallback
    return text


def comment_text(text: str, limit: int = 96) -> str:
    """``text`` made safe inside a C block comment: every character outside a small printable ASCII set (and
    ``%``) is written as ``%XX`` bytes of its UTF-8 form, and so is a ``*`` or ``/`` right after another, so
    the comment cannot end, nest, splice or hide code (``/c1/Conv`` stays readable); long text is cut at
    ``limit`` characters with ``...``."""
    out: list[str] = []
    for index, char in enumerate(text):
        # a '*' or '/' may pair with the one before it, or with the comment's own delimiters at either end
        pairs = char in _DELIMITER_CHARS and (not out or out[-1][-1] in _DELIMITER_CHARS or index == len(text) - 1)
        if char in _COMMENT_SAFE and not pairs:
            out.append(char)
        else:
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
    safe = "".join(out)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def claim_unique(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2`` ... the first not in ``taken``; adds it to ``taken`` (one rule for
    every generated name, C identifiers and TFLite tensor names alike, so clashes resolve the same way)."""
    candidate, counter = base, 1
    while candidate in taken:
        candidate = f"{base}_{counter}"
        counter += 1
    taken.add(candidate)
    return candidate


class IdentifierTable:
    """Hands out distinct C identifiers for names, deterministically (same names in the same order give the same
    identifiers); a clash gets a numeric suffix."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = set(taken)

    def unique(self, name: str, fallback: str = "t") -> str:
        """A fresh identifier derived from ``name``."""
        return claim_unique(c_identifier(name, fallback), self._taken)
