"""The textual IR: an MLIR-like printer and parser that round-trip a ``Graph`` exactly, and ``.qir`` files."""

from qcompiler.text.files import load_graph, save_graph
from qcompiler.text.parser import parse_graph
from qcompiler.text.printer import print_graph

__all__ = ["print_graph", "parse_graph", "load_graph", "save_graph"]
