"""``qcompiler demo``: the main job on the bundled example, step by step, with accuracy and timing.

The demo is a list of steps (``DEMO_STEPS``); each takes the shared ``DemoState``, does one stage of the
flow and returns a one-line summary. Later stages (an int8 ``.tflite``, an MCU C library) are new steps
appended to the list.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Optional, Sequence, TextIO

import numpy as np

from qcompiler.cli.plugins import load_passes
from qcompiler.ir import Graph

#: The bundled files, in the ``qcompiler/data`` package folder.
MODEL_FILE = "digits_cnn.onnx"
SAMPLES_FILE = "digits_test50.npz"
LABELS_FILE = "digits_test50_labels.npy"


@dataclass
class DemoState:
    """What the demo steps share: the bundled files, the graph as it evolves, and results worth comparing."""

    model_path: Path
    samples_path: Path
    labels: np.ndarray
    output_dir: Optional[Path] = None
    graph: Optional[Graph] = None
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # by stage name

    def save_ir(self, file_name: str) -> str:
        """Save the current graph as ``file_name`` in the output folder, if there is one; return a note."""
        if self.output_dir is None:
            return ""
        from qcompiler.text import save_graph

        path = self.output_dir / file_name
        save_graph(self.graph, path)
        return f", saved {path}"


DemoStep = Callable[[DemoState], str]


def import_step(state: DemoState) -> str:
    """Import the bundled ONNX model and load the test samples for it."""
    from qcompiler.onnx_import import import_onnx
    from qcompiler.samples import load_samples

    state.graph = import_onnx(state.model_path)
    state.samples = load_samples(state.samples_path, state.graph)
    return f"{len(state.graph)} ops{state.save_ir('imported.qir')}"


def evaluate_step(stage: str) -> DemoStep:
    """A step that runs the interpreter on the samples, reports top-1 accuracy, and (after the first
    evaluation) the largest difference from the first evaluated stage's outputs."""

    def evaluate(state: DemoState) -> str:
        from qcompiler.samples import run_samples

        outputs = run_samples(state.graph, state.samples, progress=True)
        state.outputs[stage] = outputs
        logits = next(iter(outputs.values()))
        predictions = logits.reshape(len(state.labels), -1).argmax(axis=-1)
        correct = int((predictions == state.labels).sum())
        summary = f"top-1 {correct / len(state.labels):.4f} ({correct}/{len(state.labels)})"
        reference_stage = next(iter(state.outputs))
        if reference_stage != stage:
            reference = next(iter(state.outputs[reference_stage].values()))
            summary += f", max |diff| vs {reference_stage} {float(np.max(np.abs(logits - reference))):.2e}"
        return summary

    evaluate.__doc__ = f"Evaluate the {stage} model on the samples."
    return evaluate


def cleanup_step(state: DemoState) -> str:
    """Run the ``cleanup`` pipeline (``dce`` while no such pipeline is registered), verifying after each pass."""
    from qcompiler.pass_manager import PassManager, parse_pipeline, registered_pipelines

    load_passes(())
    name = "cleanup" if "cleanup" in registered_pipelines() else "dce"
    before = len(state.graph)
    PassManager(parse_pipeline(name), verify_each=True).run(state.graph)
    return f"'{name}': {before} -> {len(state.graph)} ops{state.save_ir('cleaned.qir')}"


#: The demo, in order: (title, step).
DEMO_STEPS: list[tuple[str, DemoStep]] = [
    ("import ONNX", import_step),
    ("run imported (float)", evaluate_step("imported")),
    ("cleanup passes", cleanup_step),
    ("run cleaned (float)", evaluate_step("cleaned")),
]


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo", parents=list(parents), help="run the main job on the bundled example",
        description=f"Import the bundled digits CNN ({MODEL_FILE}), clean it up with the pass pipeline, and "
                    f"run it in the reference interpreter on 50 bundled test images, printing accuracy and "
                    f"the time each step takes.")
    parser.add_argument("-o", "--output-dir", metavar="DIR", help="also save each stage's artifacts (IR) into DIR")
    parser.set_defaults(func=run)


def run_demo(state: DemoState, steps: Sequence[tuple[str, DemoStep]] = DEMO_STEPS,
             out: Optional[TextIO] = None) -> None:
    """Run ``steps`` in order, printing each one's title, summary and wall time to ``out`` (default stdout)."""
    out = out if out is not None else sys.stdout
    out.write(f"qcompiler demo: {state.model_path.name} on {len(state.labels)} test images of handwritten digits\n")
    total = 0.0
    for title, step in steps:
        start = time.perf_counter()
        summary = step(state)
        seconds = time.perf_counter() - start
        total += seconds
        out.write(f"  {title:<22} {seconds:7.3f} s  {summary}\n")
        out.flush()
    out.write(f"  {'total':<22} {total:7.3f} s\n")


def run(args: argparse.Namespace) -> int:
    """Locate the bundled files and run the demo steps."""
    output_dir = Path(args.output_dir) if args.output_dir else None
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    data = resources.files("qcompiler") / "data"
    with ExitStack() as stack:
        model, samples, labels = (stack.enter_context(resources.as_file(data / name))
                                  for name in (MODEL_FILE, SAMPLES_FILE, LABELS_FILE))
        state = DemoState(model_path=model, samples_path=samples, labels=np.load(labels), output_dir=output_dir)
        run_demo(state)
    return 0
