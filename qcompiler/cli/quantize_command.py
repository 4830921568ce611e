"""``qcompiler quantize``: the whole quantization pipeline in one command (``qcompiler.quantize.quantize``)."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from qcompiler.cli.accuracy_options import (accuracy_options, add_accuracy_arguments, check_accuracy_arguments,
                                            quantize_inputs, require_calibration, uses_precision_flags,
                                            warnings_as_lines)
from qcompiler.cli.model_io import add_model_arguments, check_output, load_model_from_args, write_graph
from qcompiler.errors import UsageError

#: Calibration methods ``calibrate`` offers.
METHODS = ("minmax", "moving-average", "percentile", "mse", "entropy")


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``quantize`` subcommand."""
    from qcompiler.quantize import MODES

    parser = subparsers.add_parser(
        "quantize", parents=list(parents), help="quantize a model (int8, int16x8, dynamic, weight-only, float16)",
        description="Prepare a model (cleanup, legalize, NHWC, fused activations), calibrate it on samples, "
                    "choose TFLite quantization parameters and lower it to exact integer ops. Pre-quantized "
                    "ONNX models (QuantizeLinear/DequantizeLinear) keep their own parameters.",
        epilog="examples: qcompiler quantize model.onnx --mode int8 --calibration calib.npz -o q.qir; "
               "... --bias-correction --keep-float /head/Gemm --int16 /c2/Conv; "
               "... --auto-precision --target-sqnr 35 --lift int16")
    add_model_arguments(parser)
    parser.add_argument("--mode", choices=MODES, default="int8", help="quantization mode (default: int8)")
    parser.add_argument("--calibration", metavar="SAMPLES",
                        help="calibration samples: an .npz or a folder of <input>.npy (int8 and int16x8 need it)")
    parser.add_argument("--method", choices=METHODS, default="minmax", help="calibration method (default: minmax)")
    parser.add_argument("--percentile", type=float, default=99.99, help="percentile of --method percentile")
    parser.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=True,
                        help="quantize conv and fully-connected weights per output channel (default: on)")
    parser.add_argument("--exclude", action="append", default=[], metavar="NAME",
                        help="keep this layer float (an ONNX node name or tensor name); repeat for more")
    parser.add_argument("--exclude-type", dest="exclude_types", action="append", default=[], metavar="KIND",
                        help="keep every op of this kind float (e.g. core.softmax); repeat for more")
    parser.add_argument("--decompose-layer-norm", action=argparse.BooleanOptionalAction, default=True,
                        help="int8: split layer norms into ops with integer kernels, as TFLite does (default: on)")
    parser.add_argument("--no-lower", dest="lower", action="store_false",
                        help="stop in QDQ form (quantize/dequantize around float ops)")
    add_accuracy_arguments(parser)
    parser.add_argument("--report", metavar="DIR", help="write a quantization report (accuracy, per-layer error) into DIR")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the IR here (default: stdout)")
    parser.add_argument("--elide-constants", action="store_true",
                        help="print large constants as placeholders, for reading (the result cannot be parsed back)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Quantize the model and write the IR (and the report when asked)."""
    from qcompiler.quantize import prepare, quantize

    inputs = quantize_inputs(args)
    check_output(args.output, inputs)
    require_calibration("--mode", args.mode, args.calibration)
    if args.report and not args.calibration:
        raise UsageError("--report measures the quantized model on samples: give --calibration SAMPLES too")
    check_accuracy_arguments(args)
    float_graph = prepare(load_model_from_args(args))
    with warnings_as_lines():
        graph = quantize(float_graph, args.mode, args.calibration, per_channel=args.per_channel,
                         exclude=args.exclude, exclude_types=args.exclude_types, method=args.method,
                         lower=args.lower, decompose_layer_norm=args.decompose_layer_norm,
                         percentile=args.percentile, **accuracy_options(args, float_graph))
    write_graph(graph, args.output, elide_constants=args.elide_constants, inputs=inputs)
    if uses_precision_flags(args) and args.lower:
        from qcompiler.mixed_precision import precision_summary

        sys.stderr.write(precision_summary(graph) + "\n")
    if args.report:
        from qcompiler.quant_report import build_report, write_report

        write_report(build_report(float_graph, graph, args.calibration), args.report)
    return 0
