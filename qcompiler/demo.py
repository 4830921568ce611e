"""The main job on the bundled example, as a library: compile the digits CNN to an int8 .tflite and an MCU C
library, run the float model and every int8 runtime on the bundled test images, and report accuracy, sizes,
RAM and whether the int8 outputs agree bit for bit (``qcompiler demo`` prints this report)."""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.library_size import SectionSizes

#: The bundled files, in the ``qcompiler/data`` package folder.
MODEL_FILE = "digits_cnn.onnx"
CALIBRATION_FILE = "digits_calib100.npz"
TEST_FILE = "digits_test50.npz"
LABELS_FILE = "digits_test50_labels.npy"

#: Runtime rows, in the order the table shows them: key and title. ``litert`` is the oracle the other int8
#: runtimes are compared with; ``float`` has no int8 outputs.
RUNTIMES = (("float", "float32 model, qcompiler interpreter"),
            ("litert", "int8 .tflite, LiteRT reference kernels"),
            ("interpreter", "int8, qcompiler integer interpreter"),
            ("host", "int8 C library, host build (cc)"),
            ("cortex-m4", "int8 C library, Cortex-M4 (qemu mps2-an386)"))
#: The int8 runtimes whose outputs must equal LiteRT's, with the short names of the agreement line.
COMPARED = (("interpreter", "interpreter"), ("host", "host C"), ("cortex-m4", "Cortex-M4"))
REFERENCE = "litert"


class DemoDisagreement(QCompilerError):
    """The int8 runtimes did not produce identical outputs on the bundled images."""


@dataclass(frozen=True)
class BundledExample:
    """The example shipped in ``qcompiler/data``: the float model, calibration samples (arrays by input name),
    test images (samples format, first axis the image) and their labels."""

    model: Path
    calibration: dict[str, np.ndarray]
    images: np.ndarray
    labels: np.ndarray


@contextmanager
def bundled_example() -> Iterator[BundledExample]:
    """The bundled example, with real file paths for as long as the context lasts (the package may be zipped)."""
    from qcompiler.samples import read_arrays

    data = resources.files("qcompiler") / "data"
    with ExitStack() as stack:
        model, calibration, test, labels = (stack.enter_context(resources.as_file(data / name))
                                            for name in (MODEL_FILE, CALIBRATION_FILE, TEST_FILE, LABELS_FILE))
        yield BundledExample(model=model, calibration=read_arrays(calibration),
                             images=next(iter(read_arrays(test).values())), labels=np.load(labels))


@dataclass
class RuntimeResult:
    """One row of the table: a runtime's outputs on the test images (first output, first axis the image),
    the seconds it took (builds included), or why it was skipped."""

    key: str
    title: str
    outputs: Optional[np.ndarray] = None
    seconds: float = 0.0
    skipped: str = ""

    def top1(self, labels: np.ndarray) -> Optional[float]:
        """Top-1 accuracy against ``labels`` (None when skipped)."""
        if self.outputs is None:
            return None
        return float(np.mean(self.outputs.reshape(len(labels), -1).argmax(axis=1) == labels))


@dataclass
class DemoReport:
    """Everything the demo measured: the runtime rows, the compile's sizes and the library's memory plan."""

    model_name: str
    labels: np.ndarray
    calibration_images: int
    rows: dict[str, RuntimeResult]
    compile_seconds: dict[str, float]
    tflite_bytes: int
    arena_bytes: int
    lower_bound_bytes: int
    io_bytes: int
    weight_bytes: int
    flash: Optional[SectionSizes] = None
    flash_skipped: str = ""
    kept: list[str] = field(default_factory=list)  # the files the user keeps (-o), described

    @property
    def images(self) -> int:
        """How many test images every runtime ran."""
        return len(self.labels)

    def equal_images(self, key: str) -> Optional[int]:
        """On how many images runtime ``key``'s int8 outputs equal LiteRT's bit for bit (None when skipped)."""
        outputs, reference = self.rows[key].outputs, self.rows[REFERENCE].outputs
        if outputs is None or reference is None:
            return None
        if outputs.dtype != reference.dtype or outputs.size != reference.size:
            return 0
        same = outputs.reshape(self.images, -1) == reference.reshape(self.images, -1)
        return int(np.sum(np.all(same, axis=1)))

    def disagreement(self) -> Optional[str]:
        """A one-line reason when some int8 runtime that ran differs from LiteRT; None when all agree."""
        reasons = []
        for key, short in COMPARED:
            equal = self.equal_images(key)
            if equal is not None and equal != self.images:
                reasons.append(f"{short} differs from LiteRT on {self.images - equal} of {self.images} images")
        if not reasons:
            return None
        return "int8 outputs disagree: " + "; ".join(reasons)

    def agreement_line(self) -> str:
        """The verdict: which int8 runtimes agree bit for bit, and which were skipped."""
        reason = self.disagreement()
        if reason is not None:
            return f"NO: {reason}"
        ran = ["interpreter", "LiteRT"] + [short for key, short in COMPARED[1:] if not self.rows[key].skipped]
        skipped = [short for key, short in COMPARED if self.rows[key].skipped]
        line = f"yes: int8 outputs bit-identical across {' / '.join(ran)} on {self.images}/{self.images} images"
        return line + (f" ({', '.join(skipped)} skipped)" if skipped else "")

    def table(self) -> str:
        """The report as text: the runtime table, then sizes, RAM and the agreement verdict."""
        steps = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in self.compile_seconds.items())
        lines = [f"qcompiler demo: {self.model_name}.onnx -> int8 (calibrated on {self.calibration_images} bundled "
                 f"images), run on {self.images} bundled test images of handwritten digits",
                 f"  compile: {steps}",
                 f"  files:   {', '.join(self.kept) or 'in a temporary folder, removed at the end (-o DIR keeps them)'}",
                 "",
                 f"  {'runtime':<46}{'top-1':>7}  {'= LiteRT':>8}  {'seconds':>7}"]
        for key, _ in RUNTIMES:
            row = self.rows[key]
            if row.skipped:
                lines.append(f"  {row.title:<46}{'-':>7}  skipped: {row.skipped}")
                continue
            equal = self.equal_images(key)
            agreement = "-" if key == "float" else "oracle" if key == REFERENCE else f"{equal}/{self.images}"
            lines.append(f"  {row.title:<46}{row.top1(self.labels):>7.4f}  {agreement:>8}  {row.seconds:>7.2f}")
        if self.flash is not None:
            flash = (f"{self.flash.flash} bytes (Cortex-M4 library: code {self.flash.text} + const data "
                     f"{self.flash.rodata}, weights {self.weight_bytes} of it)")
        else:
            flash = f"weights {self.weight_bytes} bytes; code not measured ({self.flash_skipped})"
        lines += ["",
                  f"  .tflite    {self.tflite_bytes} bytes",
                  f"  flash      {flash}",
                  f"  RAM        arena {self.arena_bytes} bytes + {self.io_bytes} bytes of caller I/O buffers "
                  f"(separate buffers would need {self.lower_bound_bytes})",
                  f"  agreement  {self.agreement_line()}"]
        return "\n".join(lines) + "\n"


def quantize_images(images: np.ndarray, graph) -> np.ndarray:
    """The float test images as the int8 model's input (its input's quantization parameters)."""
    from qcompiler.quant_math import quantize

    return quantize(images, graph.inputs[0].type.quant)


def _timed(function: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    outputs = function()
    return outputs, time.perf_counter() - start


def run_litert(model: bytes, input_name: str, images: np.ndarray) -> np.ndarray:
    """LiteRT's (reference kernels) first output on every image, stacked along a first axis."""
    from qcompiler.backends.tflite.runtime import run_tflite

    return np.stack([next(iter(run_tflite(model, {input_name: image[None]}).values())) for image in images])


def run_runtimes(graph: Graph, quantized: Graph, tflite: bytes, folder: Path, images: np.ndarray,
                 say: Callable[[str], None]) -> dict[str, RuntimeResult]:
    """Every row of the table: the float ``graph`` on ``images``; LiteRT on the ``tflite``, the integer
    interpreter on ``quantized`` and the C library in ``folder`` (host, then Cortex-M4 under qemu) on the images
    quantized for the int8 input. A C build whose tools are missing is skipped with the reason."""
    from qcompiler.emulate import emulate, missing_tools
    from qcompiler.samples import run_samples

    input_name = graph.inputs[0].name
    int8_images = quantize_images(images, quantized)
    rows = {key: RuntimeResult(key, title) for key, title in RUNTIMES}
    say("running the float model")
    rows["float"].outputs, rows["float"].seconds = _timed(
        lambda: next(iter(run_samples(graph, {input_name: images}).values())))
    say("running LiteRT")
    rows["litert"].outputs, rows["litert"].seconds = _timed(lambda: run_litert(tflite, input_name, int8_images))
    say("running the integer interpreter")
    rows["interpreter"].outputs, rows["interpreter"].seconds = _timed(
        lambda: next(iter(run_samples(quantized, {input_name: int8_images}).values())))
    for key, board in (("host", "host"), ("cortex-m4", "mps2-an386")):
        missing = missing_tools(board)
        if missing:
            rows[key].skipped = f"needs {', '.join(missing)}"
            continue
        say(f"building and running the C library on {board}")
        rows[key].outputs, rows[key].seconds = _timed(
            lambda: next(iter(emulate(folder, {input_name: int8_images}, board).values())))
    return rows


def run_demo(work_dir: Path, example: BundledExample, *, keep: bool = False,
             progress: Optional[Callable[[str], None]] = None) -> DemoReport:
    """Compile the bundled model into ``work_dir`` (int8 .tflite and MCU library, int8 I/O), run the float model
    and every int8 runtime available on the test images and return the report. ``progress`` is called with a
    few words before each stage; with ``keep`` the runtimes' outputs are saved too and the report lists the files."""
    from qcompiler.backends.mcu.target import write_target
    from qcompiler.backends.tflite.interface import make_quantized_interface
    from qcompiler.library_size import cm4_sections, missing_size_tools
    from qcompiler.onnx_import import import_onnx
    from qcompiler.quantize import prepare, quantize
    from qcompiler.text import save_graph

    say = progress or (lambda text: None)
    name = example.model.stem
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    say("importing")
    graph = prepare(import_onnx(example.model))
    seconds["import + prepare"] = time.perf_counter() - start

    start = time.perf_counter()
    say("quantizing")
    quantized = quantize(graph, "int8", example.calibration)
    make_quantized_interface(quantized)  # int8 in, int8 out: every runtime sees the same integers
    seconds["quantize int8"] = time.perf_counter() - start

    start = time.perf_counter()
    say("writing the .tflite and the C library")
    folder = work_dir / name
    library, tflite = write_target(quantized, str(folder), name)
    save_graph(quantized, work_dir / f"{name}_int8.qir")
    seconds[".tflite + C library"] = time.perf_counter() - start

    rows = run_runtimes(graph, quantized, tflite, folder, example.images, say)
    report = DemoReport(model_name=name, labels=example.labels,
                        calibration_images=len(next(iter(example.calibration.values()))), rows=rows,
                        compile_seconds=seconds, tflite_bytes=len(tflite), arena_bytes=library.report.arena_bytes,
                        lower_bound_bytes=library.report.lower_bound_bytes, io_bytes=library.report.io_bytes,
                        weight_bytes=library.report.weight_bytes)
    missing = missing_size_tools()
    if missing:
        report.flash_skipped = f"needs {', '.join(missing)}"
    else:
        say("measuring flash")
        with tempfile.TemporaryDirectory(prefix="qcompiler-demo-size-") as build_dir:
            report.flash = cm4_sections(folder, build_dir)
    if keep:
        np.savez(work_dir / "outputs.npz", **{key.replace("-", "_"): row.outputs for key, row in rows.items()
                                                if row.outputs is not None})
        report.kept = [f"{folder}/ (C library and {name}.tflite)", f"{name}_int8.qir (int8 IR)",
                       "outputs.npz (each runtime's outputs)"]
    return report


def demo(output_dir: Optional[os.PathLike] = None, *,
         progress: Optional[Callable[[str], None]] = None) -> DemoReport:
    """Run the whole demo on the bundled example: in ``output_dir`` (created, kept), or in a temporary folder
    removed before returning."""
    with bundled_example() as example:
        if output_dir is not None:
            work_dir = Path(output_dir)
            work_dir.mkdir(parents=True, exist_ok=True)
            return run_demo(work_dir, example, keep=True, progress=progress)
        with tempfile.TemporaryDirectory(prefix="qcompiler-demo-") as scratch:
            return run_demo(Path(scratch), example, progress=progress)
