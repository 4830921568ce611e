"""``qcompiler emulate``: build a generated MCU library for a board (the host, or a Cortex-M4 under qemu), run
it on every sample and write its outputs in the samples format, to check the C before flashing it."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from qcompiler.cli.model_io import check_output


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``emulate`` subcommand."""
    from qcompiler.emulate import BOARDS

    parser = subparsers.add_parser(
        "emulate", parents=list(parents), help="run a generated MCU library on the host or under qemu",
        description="Build the library in FOLDER (written by 'qcompiler compile --target mcu') for a board, run its "
                    "test harness on every sample (--inputs: an .npz with one array per model input, or a folder "
                    "of <input>.npy; the first axis indexes the samples) and write the outputs, by output name, "
                    "into an .npz as 'qcompiler run' does. mps2-an386 runs a Cortex-M4 image under "
                    "qemu-system-arm.",
        epilog="example: qcompiler emulate out/ --board mps2-an386 --inputs samples.npz -o outputs.npz")
    parser.add_argument("folder", metavar="FOLDER", help="the generated library")
    parser.add_argument("--board", choices=BOARDS, default="host", help="where to run (default: host)")
    parser.add_argument("--inputs", dest="samples", metavar="SAMPLES", required=True,
                        help="the samples: an .npz or a folder of .npy files, one array per input")
    parser.add_argument("--sanitize", action="store_true",
                        help="host board: build with -fsanitize=address,undefined")
    parser.add_argument("-o", "--output", metavar="FILE.npz", required=True, help="where to write the outputs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build, run, write the outputs and print a one-line summary."""
    from qcompiler.emulate import emulate
    from qcompiler.samples import save_outputs

    check_output(args.output, [args.samples])
    outputs = emulate(args.folder, args.samples, args.board, sanitize=args.sanitize)
    save_outputs(args.output, outputs)
    count = next(iter(outputs.values())).shape[0] if outputs else 0
    sys.stdout.write(f"{args.output}: {count} sample(s) run on {args.board}, outputs "
                     f"{', '.join(outputs)}\n")
    return 0
