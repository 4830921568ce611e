"""``qcompiler passes``: list the registered passes and named pipelines with their descriptions and options."""

from __future__ import annotations

import argparse
import inspect
import sys
import textwrap
from typing import Any, Optional, Sequence

from qcompiler.cli.plugins import add_plugin_argument, load_passes
from qcompiler.errors import QCompilerError

_INDENT = "    "


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``passes`` subcommand."""
    parser = subparsers.add_parser(
        "passes", parents=list(parents), help="list the passes and named pipelines, with their options",
        description="List every registered pass (built-in, from the qcompiler.passes entry-point group, and "
                    "from --load-pass-plugin files) and every named pipeline, with its description and its "
                    "options (name, type, default).")
    parser.add_argument("name", nargs="?", metavar="NAME", help="show only this pass or pipeline")
    add_plugin_argument(parser)
    parser.set_defaults(func=run)


def describe_pass(name: str, cls: type) -> str:
    """A pass's name, its whole docstring, and one line per option: ``name: type = default  doc``."""
    from qcompiler.pass_manager.options import format_value

    lines = [name]
    doc = inspect.getdoc(cls) or "(no description)"
    lines.extend(textwrap.indent(doc, _INDENT).splitlines())
    options = cls.options() if hasattr(cls, "options") else []
    if options:
        lines.append(f"{_INDENT}options:")
        for option in options:
            default = "(required)" if option.required else f"= {format_value(option.default) or '(empty)'}"
            text = f"{_INDENT * 2}{option.name}: {option.type_name} {default}"
            lines.append(f"{text}  -- {option.doc}" if option.doc else text)
    return "\n".join(lines)


def describe_pipeline(name: str, pipeline: Any) -> str:
    """A named pipeline's name, its description and the pipeline it expands to."""
    lines = [f"{name}  (pipeline)"]
    doc = getattr(pipeline, "doc", "") or ""
    if doc:
        lines.extend(textwrap.indent(inspect.cleandoc(doc), _INDENT).splitlines())
    expansion = getattr(pipeline, "text", str(pipeline))
    if getattr(pipeline, "fixed_point", False):
        expansion = f"{expansion}  (repeated until nothing changes, at most {pipeline.max_iterations} rounds)"
    lines.append(f"{_INDENT}runs: {expansion}")
    return "\n".join(lines)


def listing(only: Optional[str] = None) -> str:
    """The text ``qcompiler passes [NAME]`` prints: passes first, then named pipelines, each sorted by name."""
    from qcompiler import pass_manager

    passes = pass_manager.registered_passes()
    pipelines = pass_manager.registered_pipelines() if hasattr(pass_manager, "registered_pipelines") else {}
    if only is not None:
        if only in passes:
            return describe_pass(only, passes[only]) + "\n"
        if only in pipelines:
            return describe_pipeline(only, pipelines[only]) + "\n"
        pass_manager.get_pass(only)  # raises, suggesting close names
        raise QCompilerError(f"unknown pass or pipeline '{only}'")
    blocks = ["Passes:"] + [describe_pass(name, cls) for name, cls in passes.items()]
    if pipelines:
        blocks += ["Pipelines:"] + [describe_pipeline(name, p) for name, p in pipelines.items()]
    return "\n\n".join(blocks) + "\n"


def run(args: argparse.Namespace) -> int:
    """Load plugin passes and print the listing."""
    load_passes(args.plugins)
    sys.stdout.write(listing(args.name))
    sys.stdout.flush()
    return 0
