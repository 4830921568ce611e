"""Reading the model a command works on (``.onnx`` or textual IR) and writing the IR it produces."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Optional, Sequence

from qcompiler.errors import QCompilerError, UsageError
from qcompiler.fileio import atomic_write_text, refuse_overwriting_input
from qcompiler.ir import Graph
from qcompiler.types import Dim

#: The name standing for standard input or output in place of a file.
STDIO = "-"

_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def add_model_arguments(parser: argparse.ArgumentParser, *, allow_stdin: bool = False) -> None:
    """Add the positional model path and ``--input-shape`` to a subcommand."""
    parser.add_argument("model", metavar="MODEL",
                        help="an ONNX model (.onnx) or textual IR (.qir)" + (", or - for stdin" if allow_stdin else ""))
    parser.add_argument("--input-shape", dest="input_shapes", action="append", default=[], metavar="NAME=SHAPE",
                        help="fix an ONNX input's shape, e.g. input=1x3x224x224 (dims are sizes or symbol "
                             "names); repeat for several inputs")


def parse_input_shapes(specs: Sequence[str]) -> Optional[dict[str, tuple[Dim, ...]]]:
    """Turn ``name=1x3x224x224`` strings into a dict of shapes (None when there are none)."""
    if not specs:
        return None
    shapes: dict[str, tuple[Dim, ...]] = {}
    for spec in specs:
        name, sep, text = spec.rpartition("=")
        if not sep or not name:
            raise UsageError(f"--input-shape expects NAME=SHAPE such as input=1x3x224x224, got '{spec}'")
        if name in shapes:
            raise UsageError(f"--input-shape gives input '{name}' twice")
        dims: list[Dim] = []
        for part in (text.split("x") if text else []):
            if part.isdigit():
                dims.append(int(part))
            elif _SYMBOL.fullmatch(part):
                dims.append(part)
            else:
                raise UsageError(f"--input-shape {spec}: '{part}' is not a dimension (a size or a symbol name)")
        shapes[name] = tuple(dims)
    return shapes


def load_model(path: str, input_shapes: Optional[dict[str, tuple[Dim, ...]]] = None) -> Graph:
    """Load a model: ``.onnx`` files through the ONNX importer, anything else as textual IR ('-' reads stdin)."""
    if path == STDIO:
        if input_shapes:
            raise UsageError("--input-shape applies to .onnx models only")
        from qcompiler.text import parse_graph

        return parse_graph(sys.stdin.read(), "<stdin>")
    file = Path(path)
    if not file.exists():
        raise QCompilerError(f"cannot read {path}: no such file")
    if not file.is_file():
        raise QCompilerError(f"cannot read {path}: not a file")
    if file.suffix.lower() == ".onnx":
        from qcompiler.onnx_import import import_onnx

        return import_onnx(file, input_shapes=input_shapes)
    if input_shapes:
        raise UsageError("--input-shape applies to .onnx models only")
    from qcompiler.text import load_graph

    return load_graph(file)


def load_model_from_args(args: argparse.Namespace) -> Graph:
    """Load the model named by the arguments that ``add_model_arguments`` added."""
    return load_model(args.model, parse_input_shapes(args.input_shapes))


def check_output(output: Optional[str], inputs: Sequence[str]) -> None:
    """Refuse, before any work is done, an output path that is one of the command's input files."""
    if output is not None and output != STDIO:
        refuse_overwriting_input(output, *(i for i in inputs if i != STDIO))


def write_graph(graph: Graph, output: Optional[str], *, elide_constants: bool = False,
                inputs: Sequence[str] = ()) -> None:
    """Print ``graph`` as text to ``output`` (atomically, never over one of ``inputs``) or to stdout when None."""
    from qcompiler.text import print_graph, save_graph

    if output is None or output == STDIO:
        text = print_graph(graph, elide_constants=elide_constants)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return
    check_output(output, inputs)
    if elide_constants:
        atomic_write_text(output, print_graph(graph, elide_constants=True))
    else:
        save_graph(graph, output)
