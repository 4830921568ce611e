"""Making user passes available to a command: entry-point plugins always, ``--load-pass-plugin`` files on request."""

from __future__ import annotations

import argparse
from typing import Sequence


def add_plugin_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--load-pass-plugin FILE`` (repeatable) to a subcommand."""
    parser.add_argument("--load-pass-plugin", dest="plugins", action="append", default=[], metavar="FILE",
                        help="a Python file that registers passes (loaded before the pipeline is parsed); "
                             "repeat for several")


def load_passes(plugin_files: Sequence[str]) -> None:
    """Load the passes of the ``qcompiler.passes`` entry-point group and of each plugin file."""
    from qcompiler.pass_manager import load_entry_point_passes, load_pass_plugin

    load_entry_point_passes()
    for file in plugin_files:
        load_pass_plugin(file)
