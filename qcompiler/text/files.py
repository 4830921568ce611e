"""Reading and writing ``.qir`` files (textual IR); writes are atomic so a crash never leaves half a file."""

from __future__ import annotations

import os
from typing import Union

from qcompiler.errors import QCompilerError
from qcompiler.fileio import atomic_write_text
from qcompiler.ir import Graph
from qcompiler.text.parser import parse_graph
from qcompiler.text.printer import print_graph

PathLike = Union[str, os.PathLike]


def load_graph(path: PathLike) -> Graph:
    """The graph in the ``.qir`` file at ``path``; parse errors point at ``path:line:column``."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise QCompilerError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise QCompilerError(f"cannot read {path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return parse_graph(text, os.fspath(path))


def save_graph(graph: Graph, path: PathLike, **print_options) -> None:
    """Write ``graph`` as text to ``path`` atomically (temp file in the same folder, then ``os.replace``).

    ``print_options`` are those of ``print_graph`` (``elide_constants``, ``large_constant_elements``).
    """
    atomic_write_text(path, print_graph(graph, **print_options))
