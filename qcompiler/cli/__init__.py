"""The ``qcompiler`` command line: one subcommand per module, and the error policy they share.

A user's mistake (a ``QCompilerError``) prints one line, ``qcompiler: error: <location>: <message>``, and
exits 1 (2 for bad usage); anything else is a bug and says so in one line. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from qcompiler.cli import (compile_command, demo_command, emulate_command, import_command, inspect_command,
                           opt_command, passes_command, quantize_command, run_command, sweep_command)
from qcompiler.errors import QCompilerError, UsageError

#: Subcommand modules, in the order ``qcompiler --help`` lists them. Each has ``register(subparsers, parents)``.
COMMANDS = (import_command, opt_command, quantize_command, compile_command, inspect_command, run_command,
            emulate_command, sweep_command, passes_command, demo_command)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand; each subcommand sets ``func`` to the function that runs it."""
    from qcompiler import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of errors (for bug reports)")
    parser = argparse.ArgumentParser(
        prog="qcompiler",
        description="A model-optimization compiler: ONNX in, typed graph IR, composable passes, TFLite and C out.",
        epilog="Run 'qcompiler <command> --help' for a command's options; 'qcompiler demo' shows the main job "
               "on a bundled example.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of errors (for bug reports)")
    subparsers = parser.add_subparsers(title="commands", metavar="<command>")
    for module in COMMANDS:
        module.register(subparsers, [common])
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on bad usage and 0 after --help/--version
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else EXIT_USAGE
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = getattr(args, "debug", False)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (``qcompiler opt x.qir | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except QCompilerError as err:
        if debug:
            raise
        report_error(str(err))
        return EXIT_USAGE if isinstance(err, UsageError) else EXIT_ERROR
    except OSError as err:
        if debug:
            raise
        report_error(describe_os_error(err))
        return EXIT_ERROR
    except Exception as err:  # noqa: BLE001 - the last line of defence: a bug, reported in one line
        if debug:
            raise
        report_error(f"internal error ({type(err).__name__}: {one_line(str(err))}); this is a bug in qcompiler, "
                     f"rerun with --debug for the traceback")
        return EXIT_ERROR


def one_line(text: str) -> str:
    """``text`` with its lines joined by '; ', so that every error stays on one line."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def report_error(message: str) -> None:
    """Print ``qcompiler: error: <message>`` as one line on stderr."""
    sys.stderr.write(f"qcompiler: error: {one_line(message)}\n")
    sys.stderr.flush()


def describe_os_error(err: OSError) -> str:
    """A one-line description of a failed file operation, naming the file."""
    reason = err.strerror or str(err) or type(err).__name__
    if err.filename is not None:
        return f"cannot access {err.filename}: {reason}"
    return reason


__all__ = ["main", "build_parser"]
