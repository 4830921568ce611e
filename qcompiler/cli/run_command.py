"""``qcompiler run``: run a model in the reference interpreter on one sample or on a samples file."""

from __future__ import annotations

import argparse
import sys
from typing import Mapping, Sequence

import numpy as np

from qcompiler.cli.model_io import add_model_arguments, check_output, load_model_from_args
from qcompiler.errors import UsageError
from qcompiler.ir import Graph


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run", parents=list(parents), help="run a model in the reference interpreter",
        description="Run a model (.qir or .onnx) in the reference interpreter, on one sample (--input) or on "
                    "many (--inputs: an .npz with one array per model input, or a folder of <input>.npy; the "
                    "first axis indexes the samples). Outputs go to -o (.npz), to --output-dir (one "
                    "<output>.npy each) or, summarised, to stdout.",
        epilog="examples: qcompiler run model.qir --input input=x.npy --output-dir outs/;  "
               "qcompiler run model.onnx --inputs samples.npz -o outputs.npz")
    add_model_arguments(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", dest="input_files", action="append", metavar="NAME=FILE.npy",
                        help="one sample of an input (the NAME= may be left out when the model has one input); "
                             "repeat for each input")
    source.add_argument("--inputs", dest="samples", metavar="SAMPLES",
                        help="many samples: an .npz or a folder of .npy files, one array per input")
    parser.add_argument("-o", "--output", metavar="FILE.npz",
                        help="write the outputs, by output name, into an .npz (with a first sample axis for --inputs)")
    parser.add_argument("--output-dir", metavar="DIR", help="write one <output>.npy per output into DIR")
    parser.set_defaults(func=run)


def input_files(specs: Sequence[str], graph: Graph) -> dict[str, str]:
    """Map input names to .npy files from ``NAME=FILE`` strings (a bare ``FILE`` when there is one input)."""
    files: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            if len(graph.inputs) != 1:
                names = ", ".join(v.name for v in graph.inputs)
                raise UsageError(f"--input {spec}: say which input it is (NAME=FILE); the inputs are {names}")
            name, path = graph.inputs[0].name, spec
        if name in files:
            raise UsageError(f"--input gives input '{name}' twice")
        files[name] = path
    return files


def run(args: argparse.Namespace) -> int:
    """Load the model and the samples, run them, write or print the outputs."""
    from qcompiler.samples import (load_samples, read_npy, run_samples, save_output_dir, save_outputs,
                                   single_sample)

    if args.output is not None and args.output_dir is not None:
        raise UsageError("give either -o or --output-dir, not both")
    graph = load_model_from_args(args)
    if args.samples is not None:
        inputs = [args.model, args.samples]
        samples = load_samples(args.samples, graph)
    else:
        files = input_files(args.input_files, graph)
        inputs = [args.model, *files.values()]
        samples = single_sample({name: read_npy(path) for name, path in files.items()}, graph)
    check_output(args.output, inputs)
    outputs = run_samples(graph, samples, progress=args.samples is not None)
    if args.samples is None:
        outputs = {name: array[0] for name, array in outputs.items()}
    if args.output is not None:
        save_outputs(args.output, outputs)
    elif args.output_dir is not None:
        save_output_dir(args.output_dir, outputs, inputs)
    else:
        print_outputs(outputs)
    return 0


def print_outputs(outputs: Mapping[str, np.ndarray]) -> None:
    """Print each output's name, shape and element type, then its values (numpy summarises large arrays)."""
    from qcompiler.samples import shape_text

    for name, array in outputs.items():
        sys.stdout.write(f"{name}: {shape_text(array.shape)} {array.dtype}\n{np.array2string(array, threshold=200)}\n")
    sys.stdout.flush()
