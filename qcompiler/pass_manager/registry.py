"""The pass base class and the registry of passes and named pipelines.

A pass is a dataclass whose fields are its options and whose ``name`` is what pipeline strings use; a plain
function with annotated keyword parameters registers just as well (it becomes such a class). Built-in passes
live in ``qcompiler.passes`` and register on first lookup; plugins register by importing.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional, Union, overload

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.pass_manager.options import (MISSING, PassOption, PipelineError, check_option_type, format_value,
                                            option_name)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class Pass:
    """A transformation of a graph. Subclasses are dataclasses: their fields are the pass's options.

    ``name`` is the registered name used in pipeline strings; the class docstring is the description that
    ``qcompiler passes`` shows. ``run`` returns whether it changed the graph.
    """

    name: ClassVar[str] = ""

    def run(self, graph: Graph) -> bool:
        """Transform ``graph`` in place; return whether anything changed."""
        raise NotImplementedError(f"pass '{self.name}' does not implement run()")

    @classmethod
    def options(cls) -> list[PassOption]:
        """The options this pass accepts, in declaration order."""
        return pass_options(cls)

    @classmethod
    def summary(cls) -> str:
        """The first line of the pass's description."""
        doc = inspect.getdoc(cls) or ""
        return doc.strip().splitlines()[0] if doc.strip() else "(no description)"

    @property
    def display_name(self) -> str:
        """The name instrumentation shows for this pass (headers, timing rows, dump file names)."""
        return self.name

    def pipeline_text(self) -> str:
        """This pass as a pipeline element, with the options that differ from their defaults."""
        parts = []
        for option in self.options():
            value = getattr(self, option.field)
            if option.required or value != option.default:
                parts.append(f"{option.name}={format_value(value)}")
        return f"{self.name}{{{' '.join(parts)}}}" if parts else self.name


class PassGroup(Pass):
    """A pass that runs nested passes (``name{options}(pass,pass,...)`` in a pipeline string).

    The pass manager runs the nested passes through ``run_nested`` so that each of them is instrumented
    (printed, timed, verified) like a top-level pass.
    """

    passes: list[Pass]

    def run_nested(self, graph: Graph, run_one: Callable[[Pass, Graph], bool]) -> bool:
        """Run the nested passes, each through ``run_one``; return whether any changed the graph."""
        raise NotImplementedError

    def run(self, graph: Graph) -> bool:
        """Run the nested passes without instrumentation."""
        return self.run_nested(graph, lambda p, g: p.run(g))

    def pipeline_text(self) -> str:
        """The group with its options and its nested pipeline."""
        inner = ",".join(p.pipeline_text() for p in self.passes)
        return f"{super().pipeline_text()}({inner})"


_PASSES: dict[str, type[Pass]] = {}


@dataclass(frozen=True)
class NamedPipeline:
    """A pipeline registered under a name; the name expands to ``text`` inside pipeline strings.

    With ``fixed_point`` the expansion is wrapped in a ``fixed-point`` group that repeats it until no pass
    changes the graph (at most ``max_iterations`` rounds).
    """

    name: str
    text: str
    doc: str = ""
    fixed_point: bool = False
    max_iterations: int = 10


_PIPELINES: dict[str, NamedPipeline] = {}


def pass_options(cls: type) -> list[PassOption]:
    """The options of a pass class: its dataclass fields that are options (``metadata={'option': False}`` opts out)."""
    if not dataclasses.is_dataclass(cls):
        return []
    hints = typing.get_type_hints(cls)
    options = []
    for field in dataclasses.fields(cls):
        if not field.init or not field.metadata.get("option", True):
            continue
        if field.default is not MISSING:
            default = field.default
        elif field.default_factory is not MISSING:  # type: ignore[misc]
            default = field.default_factory()  # type: ignore[misc]
        else:
            default = MISSING
        options.append(PassOption(option_name(field.name), field.name, hints.get(field.name, str), default,
                                  str(field.metadata.get("doc", ""))))
    return options


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise QCompilerError(f"{what} name {name!r} must be a non-empty word of letters, digits, '-', '_' or '.'")
    return name


def _add_pass(cls: type[Pass]) -> None:
    name = cls.name
    existing = _PASSES.get(name)
    if existing is not None and existing is not cls and not _same_function_pass(existing, cls):
        raise QCompilerError(f"pass '{name}' is already registered by {_origin(existing)}; "
                             f"cannot register it again from {_origin(cls)}")
    if name in _PIPELINES:
        raise QCompilerError(f"'{name}' is already the name of a registered pipeline")
    for option in pass_options(cls):
        if not check_option_type(option.type):
            raise QCompilerError(f"pass '{name}': option '{option.name}' has type {option.type_name}, which "
                                 f"pipeline strings cannot spell (use bool, int, float, str, list, Literal, Enum)")
    _PASSES[name] = cls


def _origin(obj: Any) -> str:
    target = getattr(obj, "function", obj)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"


def _same_function_pass(a: type, b: type) -> bool:
    return getattr(a, "function", None) is not None and getattr(a, "function", None) is getattr(b, "function", None)


def _register_class(cls: type, name: Optional[str]) -> type[Pass]:
    if not (isinstance(cls, type) and issubclass(cls, Pass)):
        raise QCompilerError(f"register_pass expects a Pass subclass or a function, got {cls!r}")
    if name is not None:
        cls.name = name
    _check_name(cls.name, f"pass {cls.__qualname__}:")
    if not dataclasses.is_dataclass(cls) or "__dataclass_fields__" not in cls.__dict__:
        cls = dataclass(cls)
    _add_pass(cls)
    return cls


def _register_function(func: Callable[..., Any], name: Optional[str]) -> Callable[..., Any]:
    """Wrap ``func(graph, **options) -> bool`` in a dataclass pass whose fields are its keyword parameters."""
    pass_name = _check_name(name if name is not None else option_name(func.__name__), f"pass {func.__qualname__}:")
    signature = inspect.signature(func)
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].kind not in (inspect.Parameter.POSITIONAL_ONLY,
                                                    inspect.Parameter.POSITIONAL_OR_KEYWORD):
        raise QCompilerError(f"function pass '{pass_name}' must take the graph as its first parameter")
    hints = typing.get_type_hints(func)
    fields = []
    for parameter in parameters[1:]:
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise QCompilerError(f"function pass '{pass_name}': *args/**kwargs cannot be options")
        if parameter.name not in hints:
            raise QCompilerError(f"function pass '{pass_name}': option '{parameter.name}' needs a type annotation")
        if parameter.default is inspect.Parameter.empty:
            fields.append((parameter.name, hints[parameter.name]))
        else:
            fields.append((parameter.name, hints[parameter.name], _field_with_default(parameter.default)))
    # required options first: a dataclass cannot put a field without default after one with a default
    fields.sort(key=lambda f: len(f) == 3)

    def run(self: Pass, graph: Graph) -> bool:
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return bool(func(graph, **options))

    cls = dataclasses.make_dataclass(
        _class_name(pass_name), fields, bases=(Pass,),
        namespace={"name": pass_name, "run": run, "function": staticmethod(func),
                   "__doc__": inspect.getdoc(func) or "", "__module__": func.__module__})
    cls.__qualname__ = f"{func.__qualname__}<pass>"
    _add_pass(cls)
    func.pass_class = cls  # type: ignore[attr-defined]
    return func


def _field_with_default(default: Any) -> Any:
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda value=default: type(value)(value))
    return dataclasses.field(default=default)


def _class_name(pass_name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_.]", pass_name) if part) + "Pass"


@overload
def register_pass(target: type) -> type: ...
@overload
def register_pass(target: Callable[..., Any]) -> Callable[..., Any]: ...
@overload
def register_pass(target: str) -> Callable[[Any], Any]: ...


def register_pass(target: Union[type, Callable[..., Any], str, None] = None, *, name: Optional[str] = None):
    """Register a pass so that pipeline strings can name it.

    Forms: ``@register_pass`` on a ``Pass`` subclass (its ``name`` class variable is the name; it is made a
    dataclass if it is not one); ``@register_pass("my-pass")`` on a class or on a function
    ``def my_pass(graph, threshold: float = 0.1) -> bool``, whose annotated keyword parameters become options
    (a bare ``@register_pass`` on a function names it after the function, underscores as hyphens).
    Registering another object under a taken name raises ``QCompilerError``; re-registering the same is a no-op.
    """
    if isinstance(target, str) or target is None:
        chosen = target if isinstance(target, str) else name

        def decorate(obj: Any) -> Any:
            return register_pass(obj, name=chosen)

        return decorate
    if isinstance(target, type):
        return _register_class(target, name)
    if callable(target):
        return _register_function(target, name)
    raise QCompilerError(f"register_pass expects a Pass subclass, a function or a name, got {target!r}")


def _load_builtin_passes() -> None:
    from qcompiler.passes import load_builtin_passes

    load_builtin_passes()


def registered_passes() -> dict[str, type[Pass]]:
    """Every registered pass (built-in and plugin), by name, sorted by name."""
    _load_builtin_passes()
    return dict(sorted(_PASSES.items()))


def _close_matches(name: str, choices: list[str]) -> str:
    matches = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


def get_pass(name: str) -> type[Pass]:
    """The pass class registered as ``name``; ``PipelineError`` listing close matches when there is none."""
    cls = _PASSES.get(name)
    if cls is None:
        _load_builtin_passes()
        cls = _PASSES.get(name)
    if cls is None:
        choices = sorted(_PASSES) + sorted(_PIPELINES)
        raise PipelineError(f"unknown pass '{name}'{_close_matches(name, choices)}")
    return cls


def register_pipeline(name: str, text: str, doc: str = "", *, fixed_point: bool = False,
                      max_iterations: int = 10) -> NamedPipeline:
    """Register ``name`` as shorthand for the pipeline ``text`` in pipeline strings.

    With ``fixed_point=True`` the pipeline repeats until no pass in it changes the graph. The text is checked
    when the name is used (passes it names may register later). Re-registering identical content is a no-op.
    """
    _check_name(name, "pipeline")
    pipeline = NamedPipeline(name, text, doc, fixed_point, max_iterations)
    existing = _PIPELINES.get(name)
    if existing is not None and existing != pipeline:
        raise QCompilerError(f"pipeline '{name}' is already registered as '{existing.text}'")
    if name in _PASSES:
        raise QCompilerError(f"'{name}' is already the name of a registered pass")
    _PIPELINES[name] = pipeline
    return pipeline


def registered_pipelines() -> dict[str, NamedPipeline]:
    """Every named pipeline, by name, sorted by name."""
    _load_builtin_passes()
    return dict(sorted(_PIPELINES.items()))


def lookup_pipeline(name: str) -> Optional[NamedPipeline]:
    """The named pipeline ``name``, or None."""
    if name not in _PIPELINES and name not in _PASSES:
        _load_builtin_passes()
    return _PIPELINES.get(name)


def unregister(name: str) -> None:
    """Forget a pass or pipeline (for tests and for plugin reloading)."""
    _PASSES.pop(name, None)
    _PIPELINES.pop(name, None)
