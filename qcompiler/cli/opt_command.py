"""``qcompiler opt``: run a pass pipeline on a model, with MLIR-style instrumentation."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from qcompiler.cli.model_io import add_model_arguments, check_output, load_model_from_args, write_graph
from qcompiler.cli.plugins import add_plugin_argument, load_passes


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``opt`` subcommand."""
    parser = subparsers.add_parser(
        "opt", parents=list(parents), help="run a pass pipeline on a model",
        description="Run a pass pipeline on a model (.qir, or .onnx imported on the fly) and print the result. "
                    "Without a pipeline the model is parsed, verified and printed (a round trip).",
        epilog="example: qcompiler opt model.qir -p 'fold-constants,dce' -o clean.qir --print-ir-after dce. "
               "'qcompiler passes' lists the passes and their options.")
    add_model_arguments(parser, allow_stdin=True)
    parser.add_argument("-p", "--pass-pipeline", dest="pipeline", metavar="PIPELINE",
                        help="passes to run, comma separated, with options in braces: "
                             "'fold-constants,insert-qdq{mode=int8 per-channel=true}'")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the IR here (default: stdout)")
    parser.add_argument("--elide-constants", action="store_true",
                        help="print large constants as placeholders, for reading (the result cannot be parsed back)")
    parser.add_argument("--verify-each", action=argparse.BooleanOptionalAction, default=True,
                        help="verify the IR before the pipeline and after every pass (default: on)")
    instrument = parser.add_argument_group("instrumentation (IR dumps go to stderr)")
    instrument.add_argument("--print-ir-before-all", action="store_true", help="print the IR before every pass")
    instrument.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass")
    instrument.add_argument("--print-ir-before", action="append", default=[], metavar="NAME",
                            help="print the IR before the named pass (repeat, or separate names by commas)")
    instrument.add_argument("--print-ir-after", action="append", default=[], metavar="NAME",
                            help="print the IR after the named pass (repeat, or separate names by commas)")
    instrument.add_argument("--dump-dir", metavar="DIR", help="write the IR after every pass into numbered files in DIR")
    instrument.add_argument("--timing", action="store_true", help="report the time each pass takes")
    add_plugin_argument(parser)
    parser.set_defaults(func=run)


def pass_names(values: Sequence[str]) -> tuple[str, ...]:
    """Pass names from repeated, possibly comma-separated option values."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def run(args: argparse.Namespace) -> int:
    """Load the model and the passes, run the pipeline, write the result."""
    check_output(args.output, [args.model])
    load_passes(args.plugins)
    from qcompiler.pass_manager import PassManager, parse_pipeline

    passes = parse_pipeline(args.pipeline) if args.pipeline else []
    graph = load_model_from_args(args)
    if args.verify_each:
        from qcompiler.verifier import verify

        verify(graph)
    if passes:
        manager = PassManager(
            passes, verify_each=args.verify_each,
            print_ir_before=pass_names(args.print_ir_before), print_ir_after=pass_names(args.print_ir_after),
            print_before_all=args.print_ir_before_all, print_after_all=args.print_ir_after_all,
            dump_dir=args.dump_dir, timing=args.timing, out=sys.stderr)
        manager.run(graph)
    write_graph(graph, args.output, elide_constants=args.elide_constants, inputs=[args.model])
    return 0
