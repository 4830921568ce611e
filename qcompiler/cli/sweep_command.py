"""``qcompiler sweep``: per-layer sensitivity of a model to pruning or clustering, and per-layer settings
chosen under an accuracy budget (``qcompiler.sweep``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from qcompiler.cli.model_io import add_model_arguments, check_output, load_model_from_args
from qcompiler.errors import UsageError


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``sweep`` subcommand."""
    parser = subparsers.add_parser(
        "sweep", parents=list(parents), help="per-layer accuracy vs sparsity or cluster count, and choices",
        description="Prepare the model (cleanup, legalize, NHWC), then for every conv/dense layer alone measure "
                    "top-1 accuracy on --eval at each sparsity (or cluster count), and choose per-layer settings "
                    "whose combination loses at most --max-accuracy-drop points. Trials run in parallel on local "
                    "processes, or on a Ray cluster with --ray.",
        epilog="The --eval file is an .npz holding the model inputs (one array per input, named after it, first "
               "axis = samples) and a 'labels' array of integer classes. Without labels, accuracy is agreement "
               "with the uncompressed model. example: qcompiler sweep model.onnx --eval data.npz "
               "--max-accuracy-drop 0.5 --chart sweep.png -o choices.json")
    add_model_arguments(parser)
    parser.add_argument("--eval", required=True, metavar="SAMPLES", help="evaluation samples with labels (.npz)")
    parser.add_argument("--labels", metavar="NAME|FILE",
                        help="the labels array's name in --eval, or a separate .npy file (default: 'labels')")
    parser.add_argument("--method", choices=("prune", "cluster"), default="prune",
                        help="sweep sparsity (prune) or cluster count (cluster); default prune")
    parser.add_argument("--values", metavar="LIST",
                        help="comma-separated settings to try (default: 0.25,0.5,0.625,0.75,0.875 or 64,32,16,8,4)")
    parser.add_argument("--granularity", choices=("unstructured", "n:m"), default="unstructured",
                        help="pruning granularity (default: unstructured)")
    parser.add_argument("--calibration", metavar="SAMPLES",
                        help="calibration samples: pruning re-fits the kept weights on them (prune{data=...})")
    parser.add_argument("--max-accuracy-drop", type=float, default=0.5, metavar="POINTS",
                        help="accuracy budget in percentage points (default: 0.5)")
    parser.add_argument("--layer", dest="layers", action="append", default=[], metavar="NAME",
                        help="sweep only this layer (location or name); repeat for more")
    parser.add_argument("--jobs", type=int, metavar="N", help="local worker processes (default: one per core)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="run trials on the Ray cluster at ADDRESS ('local' starts one here; needs ray)")
    parser.add_argument("--chart", metavar="PNG", help="write the accuracy curves as a PNG chart")
    parser.add_argument("-o", "--output", metavar="JSON", help="write the measurements and choices as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the sweep, print a table and the chosen pipeline, write the JSON and chart when asked."""
    from qcompiler.fileio import atomic_write_bytes, atomic_write_text
    from qcompiler.quantize import prepare
    from qcompiler.sweep import load_eval_data, sweep
    from qcompiler.sweep_chart import sweep_chart_png

    inputs = [args.model, args.eval] + ([args.calibration] if args.calibration else [])
    for output in (args.output, args.chart):
        check_output(output, inputs)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    try:
        values = [float(v) for v in args.values.split(",")] if args.values else None
    except ValueError:
        raise UsageError(f"--values must be comma-separated numbers, got '{args.values}'") from None
    graph = prepare(load_model_from_args(args))
    data = load_eval_data(args.eval, graph, args.labels)
    result = sweep(graph, data, method=args.method, values=values, max_accuracy_drop=args.max_accuracy_drop,
                   granularity=args.granularity, calibration=args.calibration, jobs=args.jobs,
                   ray_address=args.ray, layers=args.layers)
    out = sys.stdout
    out.write(f"baseline {result.metric}: {result.baseline * 100:.2f}%\n")
    out.write(f"{'#':>3}  {'layer':<28} {'weights':>8}  " + "  ".join(f"{v:>6g}" for v in result.values)
              + "   chosen\n")
    for number, choice in enumerate(result.choices):
        row = "  ".join(f"{result.curves[choice.layer][v] * 100:6.2f}" for v in result.values)
        chosen = "-" if choice.value is None else f"{choice.value:g}"
        out.write(f"{number:>3}  {choice.layer:<28} {choice.weights:>8}  {row}   {chosen}\n")
    out.write(f"combined: {result.final_accuracy * 100:.2f}% ({(result.baseline - result.final_accuracy) * 100:+.2f} "
              f"points lost, budget {result.max_accuracy_drop:g}); compressed {result.compressed_fraction * 100:.1f}%"
              f" of the swept weights\n")
    out.write(f"pipeline: {result.pipeline or '(none: no layer fits the budget)'}\n")
    if args.output:
        atomic_write_text(args.output, json.dumps(result.to_json(), indent=2) + "\n")
    if args.chart:
        atomic_write_bytes(args.chart, sweep_chart_png(result.curves, result.values, result.baseline,
                                                       result.max_accuracy_drop))
    return 0
