"""``qcompiler inspect``: describe any .tflite model (ours or anyone's): operators, tensors with their
quantization parameters, buffer sizes, metadata, signatures, and its gzip size and weight sparsity."""

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
                    "quantization parameters, buffer sizes), metadata and signatures, then its compression "
                    "figures: the gzip size (level 9) and the fraction of zeros in the conv / fully-connected "
                    "weights.",
        epilog="example: qcompiler inspect model.tflite")
    parser.add_argument("model", metavar="MODEL", help="a .tflite file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the file and print its description and compression figures."""
    from qcompiler.backends.tflite import describe_tflite

    path = Path(args.model)
    if not path.is_file():
        raise QCompilerError(f"cannot read {args.model}: {'not a file' if path.exists() else 'no such file'}")
    try:
        data = path.read_bytes()
        text = describe_tflite(data) + compression_line(data) + "\n"
    except QCompilerError as error:
        raise QCompilerError(f"{args.model}: {error}") from None
    sys.stdout.write(text)
    return 0


def compression_line(data: bytes) -> str:
    """``compression: <bytes> bytes (gzip <n>), weights <p>% zeros (<zeros> of <elements>)``, the figures
    ``qcompiler compile`` prints, with the counts behind the percentage."""
    from qcompiler.backends.tflite.inspect import compression_figures, describe_size, describe_sparsity

    figures = compression_figures(data)
    sparsity = describe_sparsity(figures)
    counts = f" ({figures['weight_zeros']} of {figures['weight_elements']})" if sparsity else ""
    return f"compression: {describe_size(figures)}" + (f", {sparsity}{counts}" if sparsity else "")
