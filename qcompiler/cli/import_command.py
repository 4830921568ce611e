"""``qcompiler import``: turn an ONNX model into textual IR."""

from __future__ import annotations

import argparse
from typing import Sequence

from qcompiler.cli.model_io import add_model_arguments, check_output, load_model_from_args, write_graph


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``import`` subcommand."""
    parser = subparsers.add_parser(
        "import", parents=list(parents), help="import an ONNX model into textual IR",
        description="Import an ONNX model (checked, shapes inferred) and print it as textual IR.",
        epilog="example: qcompiler import model.onnx -o model.qir --input-shape input=1x3x224x224")
    add_model_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="write the IR here (default: stdout)")
    parser.add_argument("--elide-constants", action="store_true",
                        help="print large constants as placeholders, for reading (the result cannot be parsed back)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import ``args.model`` and write its IR."""
    check_output(args.output, [args.model])
    graph = load_model_from_args(args)
    write_graph(graph, args.output, elide_constants=args.elide_constants, inputs=[args.model])
    return 0
