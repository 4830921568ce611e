"""The accuracy flags ``qcompiler quantize`` and ``qcompiler compile`` share (bias correction, weight rounding,
float and int16 layers, automatic mixed precision), turned into ``qcompiler.quantize.quantize`` keyword
arguments, and the checks of their ``--calibration`` samples."""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Optional, TextIO

from qcompiler.errors import UsageError
from qcompiler.ir import Graph

#: Flags that only mean something with ``--auto-precision``.
AUTO_FLAGS = ("target_sqnr", "target_accuracy", "eval", "labels", "lift", "max_lifts")


def add_accuracy_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the accuracy flags to ``parser`` (one group, so that ``--help`` shows them together)."""
    group = parser.add_argument_group("accuracy tools (int8 and int16x8 with --calibration)")
    group.add_argument("--bias-correction", action="store_true",
                       help="fold the mean output shift int8 weights cause (on the calibration samples) into "
                            "each conv / fully-connected bias")
    group.add_argument("--round-weights", action="store_true",
                       help="round each conv / fully-connected weight to int8 one at a time, moving the layer's "
                            "other weights and bias to compensate on the calibration samples (instead of "
                            "rounding each to nearest)")
    group.add_argument("--keep-float", dest="keep_float", action="append", default=[], metavar="NAME",
                       help="keep this layer float (ONNX node name or tensor name); repeat for more")
    group.add_argument("--int16", dest="int16_layers", action="append", default=[], metavar="NAME",
                       help="int8 mode: run this layer int16x8 (int16 activations, int8 weights); repeat for more")
    group.add_argument("--auto-precision", action="store_true",
                       help="int8 mode: lift the layers that add the most error, one at a time, until "
                            "--target-sqnr and/or --target-accuracy is met")
    group.add_argument("--target-sqnr", type=float, metavar="DB", help="output SQNR target against float, in dB")
    group.add_argument("--target-accuracy", type=float, metavar="ACC",
                       help="top-1 accuracy target on --eval, a fraction in [0, 1]")
    group.add_argument("--eval", metavar="SAMPLES",
                       help="evaluation samples (.npz with the inputs and a 'labels' array, as for qcompiler "
                            "sweep; default: the calibration samples, without labels)")
    group.add_argument("--labels", metavar="NAME|FILE",
                       help="the labels array's name in --eval, or a separate .npy file (default: 'labels')")
    group.add_argument("--lift", choices=("int16", "float"), default=None,
                       help="what --auto-precision lifts layers to (default: int16)")
    group.add_argument("--max-lifts", type=int, metavar="N", help="lift at most N layers (default: 8)")


def check_accuracy_arguments(args: argparse.Namespace) -> None:
    """Raise ``UsageError`` for flag combinations that cannot work, before any model is read."""
    given = [name for name in AUTO_FLAGS if getattr(args, name) is not None]
    if given and not args.auto_precision:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(f"{flags} only apply with --auto-precision")
    if args.auto_precision and args.target_sqnr is None and args.target_accuracy is None:
        raise UsageError("--auto-precision needs a target: --target-sqnr DB and/or --target-accuracy ACC")
    if args.target_accuracy is not None and not 0.0 <= args.target_accuracy <= 1.0:
        raise UsageError(f"--target-accuracy is a fraction in [0, 1], got {args.target_accuracy:g}")
    if args.target_accuracy is not None and args.eval is None:
        raise UsageError("--target-accuracy needs --eval SAMPLES with labels")
    if args.max_lifts is not None and args.max_lifts < 1:
        raise UsageError("--max-lifts must be at least 1")


def accuracy_inputs(args: argparse.Namespace) -> list[str]:
    """The files the accuracy flags read (an output must not overwrite them)."""
    return [args.eval] if args.eval else []


def quantize_inputs(args: argparse.Namespace) -> list[str]:
    """The files a quantizing command reads (the model, ``--calibration`` and the accuracy flags' samples): its
    output must not overwrite them."""
    return [args.model] + ([args.calibration] if args.calibration else []) + accuracy_inputs(args)


def require_calibration(flag: str, mode: str, calibration: Optional[str]) -> None:
    """A usage error when the quantization ``mode`` (chosen with ``flag``) calibrates, as the full-integer modes
    do, but no ``--calibration`` samples were given."""
    from qcompiler.quantize import FULL_INTEGER_MODES

    if mode in FULL_INTEGER_MODES and not calibration:
        raise UsageError(f"{flag} {mode} needs --calibration SAMPLES (an .npz or a folder of .npy)")


def accuracy_options(args: argparse.Namespace, graph: Graph) -> dict[str, Any]:
    """``quantize()`` keyword arguments for the accuracy flags; ``graph`` (the prepared model) validates the
    ``--eval`` samples."""
    options: dict[str, Any] = {"bias_correction": args.bias_correction, "round_weights": args.round_weights,
                               "keep_float": args.keep_float, "int16_layers": args.int16_layers}
    if args.auto_precision:
        from qcompiler.quantize import AutoPrecision

        evaluation = labels = None
        if args.eval is not None:
            from qcompiler.sweep import load_eval_data

            data = load_eval_data(args.eval, graph, args.labels)
            evaluation, labels = data.samples, data.labels
            if args.target_accuracy is not None and labels is None:
                raise UsageError(f"--target-accuracy needs labels: {args.eval} has no 'labels' array "
                                 f"(or name one with --labels)")
        options["auto_precision"] = AutoPrecision(
            target_sqnr_db=args.target_sqnr, target_accuracy=args.target_accuracy, evaluation=evaluation,
            labels=labels, lift=args.lift or "int16", max_lifts=args.max_lifts or 8)
    return options


def uses_precision_flags(args: argparse.Namespace) -> bool:
    """Whether any flag chose float or int16 layers (then the command says which layers left int8)."""
    return bool(args.keep_float or args.int16_layers or args.auto_precision or getattr(args, "exclude", None))


def accuracy_requested(args: argparse.Namespace) -> bool:
    """Whether any accuracy flag was given."""
    return bool(args.bias_correction or args.round_weights or args.keep_float or args.int16_layers
                or args.auto_precision)


@contextmanager
def warnings_as_lines(out: Optional[TextIO] = None) -> Iterator[None]:
    """Print the warnings raised inside the block as ``warning: <message>`` lines (no source lines) on
    ``out`` (stderr by default)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    stream = sys.stderr if out is None else out
    for message in dict.fromkeys(str(w.message) for w in caught):
        stream.write(f"warning: {message}\n")
