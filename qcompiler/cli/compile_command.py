"""``qcompiler compile``: a model to a deployable artifact in one command (today: a .tflite flatbuffer),
through the float pipeline and, when asked, the quantization pipeline."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TYPE_CHECKING, Optional, Sequence

from qcompiler.cli.accuracy_options import (accuracy_options, accuracy_requested, add_accuracy_arguments,
                                            check_accuracy_arguments, quantize_inputs, require_calibration,
                                            warnings_as_lines)
from qcompiler.cli.model_io import add_model_arguments, check_output, load_model_from_args
from qcompiler.errors import QCompilerError, UsageError

if TYPE_CHECKING:
    from qcompiler.pass_manager import PassManager

#: What ``--quantize`` accepts: no quantization, or a mode of ``qcompiler.quantize``.
QUANTIZE_CHOICES = ("none", "float16", "dynamic", "weight-only", "int8", "int16x8")
#: Targets ``--target`` accepts.
TARGETS = ("tflite", "mcu", "hexagon")
#: Targets written by another backend's hook, ``"module:function"``; the function takes ``(args, graph)`` (the
#: compiled, quantized graph), writes ``args.output`` and returns the one-line summary.
TARGET_HOOKS = {"mcu": "qcompiler.backends.mcu.target:compile_target",
                "hexagon": "qcompiler.backends.hexagon.target:compile_target"}
#: Passes the quantized modes run; a mode is unavailable until every one of them is registered.
QUANTIZATION_PASSES = ("calibrate", "propagate-ranges", "insert-qdq", "lower-quantized")


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``compile`` subcommand."""
    parser = subparsers.add_parser(
        "compile", parents=list(parents), help="compile a model to a .tflite file (float or quantized)",
        description="Compile a model (.onnx, or .qir textual IR) for a target: cleanup, legalize, NHWC, fused "
                    "activations; for a quantized mode also calibrate, propagate ranges, insert QDQ and lower to "
                    "integer ops; then export. The output is written atomically.",
        epilog="example: qcompiler compile model.onnx --target tflite --quantize int8 --calibration calib.npz "
               "--io-type int8 -o model.tflite")
    add_model_arguments(parser)
    parser.add_argument("--target", choices=TARGETS, default="tflite", help="what to produce (default: tflite)")
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES, default="none",
                        help="quantization mode (default: none, a float32 model)")
    parser.add_argument("--calibration", metavar="SAMPLES",
                        help="calibration samples for int8 and int16x8: an .npz or a folder of <input>.npy")
    parser.add_argument("--io-type", choices=("float", "int8"), default="float",
                        help="the model's input/output type: float keeps QUANTIZE/DEQUANTIZE at the edges of a "
                             "quantized model, int8 makes its inputs and outputs int8 (default: float)")
    parser.add_argument("--input-layout", choices=("nchw", "nhwc"), default="nchw",
                        help="layout of the model's 4-D inputs and outputs: nchw keeps the ONNX interface (a "
                             "TRANSPOSE may remain at an edge), nhwc makes them NHWC so that a CNN has no TRANSPOSE "
                             "at all; calibration samples then come in NHWC too (default: nchw)")
    parser.add_argument("-o", "--output", metavar="FILE", required=True,
                        help="the file to write (.tflite), or the folder of the C library for --target mcu|hexagon")
    parser.add_argument("--post-quantize-pipeline", metavar="PIPELINE", default="",
                        help="a pass pipeline run on the quantized graph (after lower-quantized, before the "
                             "backend), e.g. \"cluster-int8{clusters=16 exclude=/conv1/Conv}\"; needs --quantize "
                             "int8 or int16x8")
    add_accuracy_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load, compile and export the model, write it atomically and print a one-line summary."""
    from qcompiler.backends.tflite import export_tflite
    from qcompiler.fileio import atomic_write_bytes
    from qcompiler.quantize import FULL_INTEGER_MODES, prepare, quantize

    check_output(args.output, quantize_inputs(args))
    check_accuracy_arguments(args)
    if accuracy_requested(args) and args.quantize == "none":
        raise UsageError("the accuracy flags (--bias-correction, --keep-float, --int16, --auto-precision) need "
                         "--quantize int8 or int16x8")
    require_calibration("--quantize", args.quantize, args.calibration)
    if args.calibration and args.quantize not in FULL_INTEGER_MODES:
        raise UsageError(f"--calibration applies to --quantize int8 or int16x8, not {args.quantize}")
    if args.io_type == "int8" and args.quantize not in ("none", "int8"):
        raise UsageError(f"--io-type int8 needs an int8 model, not --quantize {args.quantize}")
    post_quantize = post_quantize_pipeline(args.post_quantize_pipeline, args.quantize)
    graph = prepare(load_model_from_args(args), io_layout=args.input_layout)
    if args.quantize != "none":
        require_quantization_passes(args.quantize)
        with warnings_as_lines():
            graph = quantize(graph, args.quantize, args.calibration, **accuracy_options(args, graph))
    if post_quantize is not None:
        with warnings_as_lines():
            post_quantize.run(graph)
    if args.target in TARGET_HOOKS:
        sys.stdout.write(run_target_hook(args, graph) + "\n")
        return 0
    data = export_tflite(graph, io_type=args.io_type, hybrid=args.quantize != "weight-only")
    atomic_write_bytes(args.output, data)
    sys.stdout.write(summary_line(args.output, data) + "\n")
    return 0


def run_target_hook(args: argparse.Namespace, graph) -> str:
    """Hand the compiled graph to the backend that writes ``args.target``; return its summary line."""
    import importlib

    module, _, function = TARGET_HOOKS[args.target].partition(":")
    return getattr(importlib.import_module(module), function)(args, graph)


def post_quantize_pipeline(text: str, mode: str) -> "Optional[PassManager]":
    """The ``--post-quantize-pipeline`` pass manager (None when not given), parsed before any work so that a bad
    pipeline fails at once; it runs on an integer graph, so it needs a full-integer ``mode``."""
    from qcompiler.pass_manager import PassManager, parse_pipeline
    from qcompiler.quantize import FULL_INTEGER_MODES

    if not text.strip():
        return None
    if mode not in FULL_INTEGER_MODES:
        raise UsageError(f"--post-quantize-pipeline runs on the quantized graph: it needs --quantize int8 or "
                         f"int16x8, not {mode}")
    return PassManager(parse_pipeline(text))


def require_quantization_passes(mode: str) -> None:
    """Raise a clear error when a pass the quantized modes need is not registered (yet)."""
    from qcompiler.pass_manager import registered_passes

    missing = [name for name in QUANTIZATION_PASSES if name not in registered_passes()]
    if missing:
        raise QCompilerError(f"--quantize {mode} is not available: this installation lacks the pass(es) "
                             f"{', '.join(missing)}")


def summary_line(path: str, data: bytes) -> str:
    """``<path>: <bytes> bytes (gzip <n>), <n> operator(s) (KIND xN, ...), weights <p>% zeros`` for a written
    .tflite: the gzip size and weight sparsity are how pruning and clustering show (``compression_figures``)."""
    from qcompiler.backends.tflite.inspect import (compression_figures, describe_size, describe_sparsity,
                                                   load_model, operator_name)

    model = load_model(data)
    codes = model.operatorCodes or []
    kinds = Counter(operator_name(codes[op.opcodeIndex]) for sub in model.subgraphs for op in sub.operators or [])
    listed = ", ".join(f"{name} x{count}" if count > 1 else name for name, count in sorted(kinds.items()))
    total = sum(kinds.values())
    figures = compression_figures(data, model)
    sparsity = describe_sparsity(figures)
    return f"{path}: {describe_size(figures)}, {total} operator(s) ({listed})" + (f", {sparsity}" if sparsity else "")
