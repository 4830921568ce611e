"""Pass options: what a pass accepts (name, type, default, doc) and how a pipeline string's text becomes a value.

Options are the dataclass fields of a pass class (or the keyword parameters of a function pass). In a
pipeline string a field ``per_channel`` is spelled ``per-channel``, like MLIR's options.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

from qcompiler.errors import QCompilerError


class PipelineError(QCompilerError):
    """A pipeline string or pass option that cannot be understood: unknown pass, unknown option, bad value."""


MISSING = dataclasses.MISSING
"""The default of an option that must be given."""

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null", ""}
_SEQUENCES = (list, tuple, collections.abc.Sequence)


def _sequence_element(tp: Any) -> Optional[Any]:
    """The element type of a list-like option type (``str`` when unparametrized), or None if not list-like."""
    if tp in _SEQUENCES:
        return str
    if typing.get_origin(tp) in _SEQUENCES:
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return args[0] if args else str
    return None


@dataclass(frozen=True)
class PassOption:
    """One option of a pass: its pipeline spelling, the Python field it sets, its type and default."""

    name: str
    field: str
    type: Any
    default: Any = MISSING
    doc: str = ""

    @property
    def required(self) -> bool:
        """Whether the option has no default and must appear in the pipeline."""
        return self.default is MISSING

    @property
    def type_name(self) -> str:
        """The type as users read it (``int``, ``list[str]``, ``one of int8|int16x8``)."""
        return type_name(self.type)

    def parse(self, text: str, pass_name: str) -> Any:
        """The value of ``text`` for this option; a one-line ``PipelineError`` when it does not fit the type."""
        try:
            return parse_value(text, self.type)
        except ValueError as error:
            detail = f" ({error})" if str(error) else ""
            raise PipelineError(f"pass '{pass_name}': option '{self.name}' expects {self.type_name}, "
                                f"got '{text}'{detail}") from None


def option_name(field_name: str) -> str:
    """The pipeline spelling of a Python identifier: underscores become hyphens."""
    return field_name.strip("_").replace("_", "-")


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``(inner, True)`` for ``Optional[inner]``, else ``(tp, False)``."""
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != len(typing.get_args(tp)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True
    return tp, False


def type_name(tp: Any) -> str:
    """A readable name for an option type."""
    inner, optional = _unwrap_optional(tp)
    if optional:
        return f"{type_name(inner)} or none"
    if typing.get_origin(inner) is Literal:
        return "one of " + "|".join(str(a) for a in typing.get_args(inner))
    element = _sequence_element(inner)
    if element is not None:
        return f"list[{type_name(element)}]"
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return "one of " + "|".join(m.name.lower() for m in inner)
    if isinstance(inner, type):
        return inner.__name__
    return str(inner)


def check_option_type(tp: Any) -> bool:
    """Whether ``parse_value`` knows how to parse values of ``tp``."""
    inner, _ = _unwrap_optional(tp)
    if typing.get_origin(inner) is Literal:
        return True
    element = _sequence_element(inner)
    if element is not None:
        return _sequence_element(element) is None and check_option_type(element)
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return True
    return inner in (bool, int, float, str) or inner is Any


def parse_value(text: str, tp: Any) -> Any:
    """Parse option text by its declared type; raises ``ValueError`` when the text does not fit.

    bool: true/false/1/0/yes/no/on/off; int (decimal or 0x hex); float; str; list[...] comma-separated;
    Optional[...]: ``none`` (or nothing) for None; Literal[...] and Enum: one of the allowed values.
    """
    inner, optional = _unwrap_optional(tp)
    stripped = text.strip()
    if optional and stripped.lower() in _NONE:
        return None
    origin = typing.get_origin(inner)
    element = _sequence_element(inner)
    if element is not None:
        items = [] if not stripped else [part.strip() for part in stripped.split(",")]
        values = [parse_value(item, element) for item in items]
        return tuple(values) if tuple in (inner, origin) else values
    if origin is Literal:
        for allowed in typing.get_args(inner):
            if stripped == str(allowed) or (not isinstance(allowed, str) and _same_scalar(stripped, allowed)):
                return allowed
        raise ValueError("")
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        for member in inner:
            if stripped.lower() in (member.name.lower(), str(member.value).lower()):
                return member
        raise ValueError("")
    if inner is bool:
        lowered = stripped.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("")
    if inner is int:
        try:
            return int(stripped, 0)
        except ValueError:
            raise ValueError("") from None
    if inner is float:
        try:
            return float(stripped)
        except ValueError:
            raise ValueError("") from None
    if inner is str or inner is Any:
        return stripped
    raise ValueError(f"options of type {type_name(inner)} are not supported")


def _same_scalar(text: str, allowed: Any) -> bool:
    try:
        return type(allowed)(text) == allowed
    except (TypeError, ValueError):
        return False


def format_value(value: Any) -> str:
    """The pipeline spelling of an option value (inverse of ``parse_value``)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)
