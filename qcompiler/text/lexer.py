"""A cursor over textual IR: skips blanks and ``//`` comments, matches tokens with anchored regexes (linear
in the text), and builds ``ParseError``s located at ``file:line:column``."""

from __future__ import annotations

import re
from typing import Callable, Optional, TypeVar

from qcompiler.errors import ParseError
from qcompiler.text.syntax import STRING_LITERAL, unescape

_SKIP = re.compile(r"(?:\s+|//[^\n]*)*")
_BLANK_START = frozenset(" \t\n\r\f\v/")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
T = TypeVar("T")

_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"?|[%@]?[A-Za-z0-9_.$-]+|\S')


class Cursor:
    """A position in a text being parsed, with the token-level operations the parser needs."""

    __slots__ = ("text", "filename", "pos", "length")

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.length = len(text)
        self.filename = filename
        self.pos = 0

    # -- errors ---------------------------------------------------------------------------------
    def location(self, pos: Optional[int] = None) -> str:
        """``file:line:column`` (1-based) of ``pos`` (default: the current position)."""
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return f"{self.filename}:{line}:{column}"

    def error(self, message: str, pos: Optional[int] = None) -> ParseError:
        """A ParseError at ``pos`` (default: the current position)."""
        return ParseError(message, self.location(pos))

    def found(self) -> str:
        """A short description of the next token (after blanks), for error messages; nothing is consumed."""
        pos = _SKIP.match(self.text, self.pos).end()
        if pos >= len(self.text):
            return "end of file"
        match = _TOKEN.match(self.text, pos)
        token = match.group(0) if match else self.text[pos]
        if len(token) > 40:
            token = token[:37] + "..."
        return repr(token)

    def expected(self, what: str) -> ParseError:
        """A ParseError saying that ``what`` was expected and what was found instead."""
        return self.error(f"expected {what}, found {self.found()}")

    # -- scanning -------------------------------------------------------------------------------
    def skip(self) -> None:
        """Move past blanks and ``//`` comments."""
        pos = self.pos
        if pos < self.length and self.text[pos] in _BLANK_START:
            self.pos = _SKIP.match(self.text, pos).end()

    def at_end(self) -> bool:
        """Whether only blanks and comments remain."""
        self.skip()
        return self.pos >= len(self.text)

    def peek(self, literal: str) -> bool:
        """Whether the next token starts with ``literal`` (nothing is consumed)."""
        self.skip()
        return self.text.startswith(literal, self.pos)

    def accept(self, literal: str) -> bool:
        """Consume ``literal`` if it comes next."""
        self.skip()
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str, what: Optional[str] = None) -> None:
        """Consume ``literal`` or raise an error naming what was expected."""
        if not self.accept(literal):
            raise self.expected(what or repr(literal))

    def accept_word(self, word: str) -> bool:
        """Consume the keyword ``word`` if it comes next as a whole word."""
        self.skip()
        match = _WORD.match(self.text, self.pos)
        if match is not None and match.group(0) == word:
            self.pos = match.end()
            return True
        return False

    def match(self, pattern: re.Pattern) -> Optional[re.Match]:
        """Consume a match of ``pattern`` at the next token, or return None (nothing consumed)."""
        self.skip()
        found = pattern.match(self.text, self.pos)
        if found is not None:
            self.pos = found.end()
        return found

    def match_here(self, pattern: re.Pattern) -> Optional[re.Match]:
        """Like ``match`` but without skipping blanks first (inside tokens such as types)."""
        found = pattern.match(self.text, self.pos)
        if found is not None:
            self.pos = found.end()
        return found

    def string(self, what: str = "a string") -> str:
        """Consume a double-quoted string literal and return its text."""
        found = self.match(STRING_LITERAL)
        if found is None:
            raise self.expected(what)
        text = unescape(found.group(0)[1:-1])
        if text is None:
            raise self.error("unknown escape in string (use \\\\, \\\", \\n, \\t or \\xNN)", found.start())
        return text

    def comma_separated(self, item: Callable[[], T]) -> list[T]:
        """One or more ``item``s separated by commas."""
        items = [item()]
        while self.accept(","):
            items.append(item())
        return items
