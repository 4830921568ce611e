"""``qcompiler demo``: the main job on the bundled example (``qcompiler.demo``): an int8 .tflite and an MCU C
library from one compile, every runtime run on the bundled test images, and a table of accuracy, sizes, RAM and
bit-for-bit agreement. Exit code 0 when the int8 runtimes agree, 1 with a one-line reason otherwise."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from qcompiler.demo import MODEL_FILE, DemoDisagreement, demo


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo", parents=list(parents), help="run the main job on the bundled example",
        description=f"Compile the bundled digits CNN ({MODEL_FILE}) to an int8 .tflite and an MCU C library "
                    "(calibrated on 100 bundled images), run the float model, LiteRT's reference kernels, the "
                    "integer interpreter, the host build of the C library and its Cortex-M4 build under "
                    "qemu-system-arm (when installed) on 50 bundled test images, and print accuracy, .tflite "
                    "size, flash, RAM and whether the int8 outputs agree bit for bit. Exit code 1 when they do not.")
    parser.add_argument("-o", "--output-dir", metavar="DIR",
                        help="keep the library, the .tflite, the int8 IR and every runtime's outputs in DIR "
                             "(default: a temporary folder, removed at the end)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo, print its table, and fail with the reason when the int8 outputs disagree."""
    def progress(text: str) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r\033[K{text} ...")
            sys.stderr.flush()

    report = demo(args.output_dir, progress=progress)
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
    sys.stdout.write(report.table())
    sys.stdout.flush()
    reason = report.disagreement()
    if reason is not None:
        raise DemoDisagreement(reason)
    return 0
