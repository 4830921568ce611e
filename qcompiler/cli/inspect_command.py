"""``qcompiler inspect``: describe any .tflite model (ours or anyone's): operators, tensors with their
quantization parameters, buffer sizes, metadata and signatures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from qcompiler.errors import QCompilerError


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``inspect`` subcommand."""
    parser = subparsers.add_parser(
        "inspect", parents=list(parents), help="describe a .tflite model",
        description="Print a .tflite model's operators (with options and versions), tensors (shape, type, "
                    "quantization parameters, buffer sizes), metadata and signatures.",
        epilog="example: qcompiler inspect model.tflite")
    parser.add_argument("model", metavar="MODEL", help="a .tflite file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the file and print its description."""
    from qcompiler.backends.tflite import describe_tflite

    path = Path(args.model)
    if not path.is_file():
        raise QCompilerError(f"cannot read {args.model}: {'not a file' if path.exists() else 'no such file'}")
    try:
        text = describe_tflite(path.read_bytes())
    except QCompilerError as error:
        raise QCompilerError(f"{args.model}: {error}") from None
    sys.stdout.write(text)
    return 0
