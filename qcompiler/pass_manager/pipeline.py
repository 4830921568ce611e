"""Pipeline strings, MLIR style: ``fold-constants,dce,insert-qdq{mode=int8 per-channel=true exclude=a,b}``.

Grammar::

    pipeline := [element (',' element)*]
    element  := NAME ['{' option* '}'] ['(' pipeline ')']
    option   := KEY '=' VALUE            (options are separated by spaces)
    VALUE    := '{' balanced text '}' | quoted string | text up to a space or '}'

Commas inside braces belong to the value (``exclude=a,b`` is a list). A parenthesised pipeline is given to a
group pass (``fixed-point{max-iterations=5}(fold-constants,dce)``). Names of registered pipelines expand in place.
"""

from __future__ import annotations

from typing import Any, Optional

from qcompiler.pass_manager.options import PipelineError
from qcompiler.pass_manager.registry import NamedPipeline, Pass, PassGroup, get_pass, lookup_pipeline

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class _Parser:
    """A recursive-descent parser over one pipeline string; errors name the column."""

    def __init__(self, text: str, expanding: tuple[str, ...]) -> None:
        self.text = text
        self.pos = 0
        self.expanding = expanding

    def error(self, message: str, pos: Optional[int] = None) -> PipelineError:
        """A ``PipelineError`` quoting the pipeline and the 1-based column."""
        column = (self.pos if pos is None else pos) + 1
        return PipelineError(f"pipeline '{self.text}', column {column}: {message}")

    def skip_space(self) -> None:
        """Move past whitespace."""
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        """The next non-space character, or '' at the end."""
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        """Consume ``char`` or fail."""
        if self.peek() != char:
            found = f"'{self.peek()}'" if self.peek() else "the end"
            raise self.error(f"expected '{char}', found {found}")
        self.pos += 1

    def word(self, what: str) -> str:
        """A pass or option name."""
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _NAME_CHARS:
            self.pos += 1
        if start == self.pos:
            found = f"'{self.text[self.pos]}'" if self.pos < len(self.text) else "the end"
            raise self.error(f"expected {what}, found {found}")
        return self.text[start:self.pos]

    # -- grammar ----------------------------------------------------------------------------
    def pipeline(self, closing: str) -> list[Pass]:
        """Comma-separated elements up to ``closing`` ('' for the end of the text), which is not consumed."""
        passes: list[Pass] = []
        if self.peek() in (closing, ""):
            return passes
        while True:
            passes.extend(self.element())
            char = self.peek()
            if char == ",":
                self.pos += 1
                continue
            if char == closing:
                return passes
            expected = f"'{closing}'" if closing else "the end"
            raise self.error(f"expected ',' or {expected}, found {repr(char) if char else 'the end'}")

    def element(self) -> list[Pass]:
        """One pass with its options and nested passes, or the expansion of a named pipeline."""
        start = self.pos
        name = self.word("a pass name")
        raw_options: dict[str, str] = {}
        if self.peek() == "{":
            self.pos += 1
            raw_options = self.options(name)
        nested: Optional[list[Pass]] = None
        if self.peek() == "(":
            self.pos += 1
            nested = self.pipeline(")")
            self.expect(")")
        named = lookup_pipeline(name)
        if named is not None:
            if raw_options or nested is not None:
                raise self.error(f"'{name}' is a named pipeline; it takes no options or nested passes", start)
            return self.expand(named, start)
        try:
            cls = get_pass(name)
        except PipelineError as error:
            raise self.error(error.message, start) from None
        return [build_pass(cls, raw_options, nested)]

    def options(self, pass_name: str) -> dict[str, str]:
        """``key=value`` pairs up to and including the closing brace, values still as text."""
        options: dict[str, str] = {}
        while self.peek() != "}":
            if not self.peek():
                raise self.error(f"missing '}}' after the options of '{pass_name}'")
            key_pos = self.pos
            key = self.word("an option name")
            if self.peek() != "=":
                raise self.error(f"option '{key}' of '{pass_name}' needs a value: write {key}=VALUE", key_pos)
            self.pos += 1
            if key in options:
                raise self.error(f"option '{key}' of '{pass_name}' is given twice", key_pos)
            options[key] = self.value()
        self.pos += 1
        return options

    def value(self) -> str:
        """One option value: a quoted string, a braced text, or a bare word."""
        self.skip_space()
        if self.pos >= len(self.text):
            raise self.error("expected an option value, found the end")
        char = self.text[self.pos]
        if char in "\"'":
            end = self.text.find(char, self.pos + 1)
            if end < 0:
                raise self.error(f"unterminated {char}-quoted value")
            value = self.text[self.pos + 1:end]
            self.pos = end + 1
            return value
        if char == "{":
            depth, start = 0, self.pos
            while self.pos < len(self.text):
                if self.text[self.pos] == "{":
                    depth += 1
                elif self.text[self.pos] == "}":
                    depth -= 1
                    if depth == 0:
                        self.pos += 1
                        return self.text[start + 1:self.pos - 1]
                self.pos += 1
            raise self.error("unbalanced '{' in an option value", start)
        start = self.pos
        while self.pos < len(self.text) and not self.text[self.pos].isspace() and self.text[self.pos] != "}":
            self.pos += 1
        return self.text[start:self.pos]

    def expand(self, named: NamedPipeline, pos: int) -> list[Pass]:
        """The passes of a named pipeline (wrapped in a fixed-point group when it asks for one)."""
        if named.name in self.expanding:
            chain = " -> ".join(self.expanding + (named.name,))
            raise self.error(f"named pipeline '{named.name}' refers to itself ({chain})", pos)
        passes = _Parser(named.text, self.expanding + (named.name,)).parse()
        if named.fixed_point:
            from qcompiler.pass_manager.groups import FixedPoint

            return [FixedPoint(passes=passes, max_iterations=named.max_iterations, label=named.name)]
        return passes

    def parse(self) -> list[Pass]:
        """The whole text as a pipeline."""
        passes = self.pipeline("")
        if self.peek():
            raise self.error(f"unexpected '{self.peek()}'")
        return passes


def build_pass(cls: type[Pass], raw_options: dict[str, str], nested: Optional[list[Pass]] = None) -> Pass:
    """An instance of ``cls`` from option texts (parsed by each option's type) and nested passes for a group."""
    by_name = {}
    for option in cls.options():
        by_name[option.name] = option
        by_name.setdefault(option.field, option)
    values: dict[str, Any] = {}
    for key, text in raw_options.items():
        option = by_name.get(key)
        if option is None:
            known = ", ".join(f"{o.name}: {o.type_name}" for o in cls.options()) or "none"
            raise PipelineError(f"pass '{cls.name}' has no option '{key}' (its options: {known})")
        values[option.field] = option.parse(text, cls.name)
    missing = [o.name for o in cls.options() if o.required and o.field not in values]
    if missing:
        raise PipelineError(f"pass '{cls.name}' needs the option(s) {', '.join(missing)}")
    is_group = issubclass(cls, PassGroup)
    if nested is not None and not is_group:
        raise PipelineError(f"pass '{cls.name}' does not take nested passes in parentheses")
    if is_group:
        if not nested:
            raise PipelineError(f"pass '{cls.name}' needs nested passes: {cls.name}(pass,pass,...)")
        values["passes"] = nested
    return cls(**values)


def parse_pipeline(text: str) -> list[Pass]:
    """The passes of a pipeline string, with options parsed and named pipelines expanded.

    Raises ``PipelineError`` with a one-line message for an unknown pass (listing close matches), an unknown
    option (listing the pass's options), a value that does not fit its type, or broken syntax.
    """
    if not isinstance(text, str):
        raise PipelineError(f"a pipeline is a string, got {type(text).__name__}")
    return _Parser(text, ()).parse()


def pipeline_text(passes: list[Pass]) -> str:
    """The pipeline string of ``passes`` (``parse_pipeline`` of it rebuilds equal passes)."""
    return ",".join(p.pipeline_text() for p in passes)
