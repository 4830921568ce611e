"""Benchmark of the MCU backend on the shared int8 models.

Per model: our arena, its lower bound (most bytes live at once with separate buffers) and the caller's I/O
buffers; the smallest arena TFLite Micro's Python runtime runs the same compile's .tflite with (bisection) and
the ratio; flash (text + rodata of the Cortex-M4 library, weights included); instructions per inference on the
Cortex-M4 under qemu (``-singlestep -d exec,nochain``); and agreement on test images: host build and qemu build
against LiteRT's reference kernels (bit for bit), and TFLite Micro against LiteRT. Writes bench/results/mcu.json.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from quant_support import digits_split  # noqa: E402  (the digits preprocessing the tests use)

from qcompiler.backends.mcu.target import write_target  # noqa: E402
from qcompiler.backends.tflite.runtime import run_tflite  # noqa: E402
from qcompiler.cli.model_io import load_model  # noqa: E402
from qcompiler.emulate import build, count_instructions, emulate  # noqa: E402
from qcompiler.library_size import cm4_sections  # noqa: E402
from qcompiler.quantize import prepare, quantize  # noqa: E402

SHARED = Path(os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models"))
RESULTS = Path(__file__).resolve().parent / "results" / "mcu.json"
MODELS = ("digits_cnn", "digits_mobilenet", "digits_mlp", "digits_transformer")
#: Largest arena tried for TFLite Micro (a model it cannot run at all reports no figure).
TFLM_LIMIT = 1 << 22


@contextlib.contextmanager
def quiet_fds():  # TFLM's own logging goes to the C streams
    """Silence C-level stdout/stderr (TFLite Micro prints every failed allocation)."""
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        sys.stdout.flush()
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


#: One TFLite Micro attempt, run in a child process: TFLM crashes (not just fails) on some tiny arenas.
_TFLM_PROBE = """
import sys, numpy as np
from tflite_micro.python.tflite_micro import runtime
model = open(sys.argv[1], "rb").read()
interpreter = runtime.Interpreter.from_bytes(model, arena_size=int(sys.argv[2]))
interpreter.set_input(np.load(sys.argv[3]), 0)
interpreter.invoke()
"""


def tflm_runs(model_path: Path, arena: int, sample_path: Path) -> bool:
    """Whether TFLite Micro allocates and invokes the model with an arena of ``arena`` bytes."""
    result = subprocess.run([sys.executable, "-c", _TFLM_PROBE, str(model_path), str(arena), str(sample_path)],
                            capture_output=True, timeout=300)
    return result.returncode == 0


def smallest(works: Callable[[int], bool], start: int = 1024, limit: int = TFLM_LIMIT) -> Optional[int]:
    """The smallest n with works(n) (works is monotonic): doubling, then bisection; None past ``limit``."""
    high = start
    while not works(high):
        high *= 2
        if high > limit:
            return None
    low = 0
    while high - low > 1:
        middle = (low + high) // 2
        if works(middle):
            high = middle
        else:
            low = middle
    return high


def tflm_outputs(model: bytes, arena: int, images: np.ndarray) -> np.ndarray:
    """TFLite Micro's outputs on every image (one interpreter, reset between images)."""
    from tflite_micro.python.tflite_micro import runtime

    with quiet_fds():
        interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena)
    outputs = []
    for image in images:
        interpreter.set_input(image[None], 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)))
        interpreter.reset()
    return np.stack(outputs)


def flash_bytes(folder: Path, build_dir: Path) -> dict[str, int]:
    """Section bytes (text, rodata, data, bss) of the Cortex-M4 library, weights included
    (``library_size.cm4_sections``, the one the CLI's report uses)."""
    return dataclasses.asdict(cm4_sections(folder, build_dir))


def bench_model(name: str, images: int, qemu: bool, count: bool) -> dict:
    """Every figure of one model."""
    graph = prepare(load_model(str(SHARED / f"{name}.onnx")))
    calib, _ = digits_split(SHARED, name, "calib")
    test, labels = digits_split(SHARED, name, "test", images)
    quantized = quantize(graph, "int8", {graph.inputs[0].name: calib})
    with tempfile.TemporaryDirectory(prefix=f"bench-mcu-{name}-") as scratch:
        folder = Path(scratch) / "out"
        library, model = write_target(quantized, str(folder), name)
        report = library.report
        feeds = {graph.inputs[0].name: test}
        reference = np.stack([next(iter(run_tflite(model, {graph.inputs[0].name: x[None]}).values()))
                              for x in test])
        host = next(iter(emulate(folder, feeds, "host").values())).reshape(reference.shape)
        model_path, sample_path = Path(scratch) / "model.tflite", Path(scratch) / "sample.npy"
        model_path.write_bytes(model)
        np.save(sample_path, test[:1])
        tflm_arena = smallest(lambda n: tflm_runs(model_path, n, sample_path))
        tflm = tflm_outputs(model, tflm_arena, test).reshape(reference.shape) if tflm_arena else None
        row = {
            "model": name, "arena_bytes": report.arena_bytes, "lower_bound_bytes": report.lower_bound_bytes,
            "io_bytes": report.io_bytes, "tflm_arena_bytes": tflm_arena,
            "ratio_arena": report.arena_bytes / tflm_arena if tflm_arena else None,
            "ratio_arena_plus_io": (report.arena_bytes + report.io_bytes) / tflm_arena if tflm_arena else None,
            "weight_bytes": report.weight_bytes, "macs": report.total_macs, "images": images,
            "host_bit_exact_images": int(np.sum(np.all(host == reference, axis=tuple(range(1, host.ndim))))),
            "tflm_agree_images": None if tflm is None else
            int(np.sum(np.all(tflm == reference, axis=tuple(range(1, tflm.ndim))))),
            "top1_host": float(np.mean(host.reshape(images, -1).argmax(1) == labels)),
        }
        row.update({f"flash_{k}": v for k, v in flash_bytes(folder, Path(scratch) / "size").items()})
        row["flash_text_rodata"] = row["flash_text"] + row["flash_rodata"]
        if qemu:
            cm4 = next(iter(emulate(folder, feeds, "mps2-an386").values())).reshape(reference.shape)
            row["qemu_bit_exact_images"] = int(np.sum(np.all(cm4 == reference, axis=tuple(range(1, cm4.ndim)))))
        if count:
            row["instructions_per_inference"] = count_instructions(folder, feeds)
    return row


def main() -> None:
    """Run the benchmark and print one line per model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="test images per model (default 100)")
    parser.add_argument("--no-qemu", action="store_true", help="skip the Cortex-M4 runs")
    parser.add_argument("--no-count", action="store_true", help="skip counting instructions (slow)")
    parser.add_argument("models", nargs="*", default=list(MODELS))
    args = parser.parse_args()
    rows = []
    for name in args.models:
        row = bench_model(name, args.images, not args.no_qemu, not args.no_count)
        rows.append(row)
        ratio = "-" if row["ratio_arena"] is None else f"{row['ratio_arena']:.3f}"
        ratio_io = "-" if row["ratio_arena_plus_io"] is None else f"{row['ratio_arena_plus_io']:.3f}"
        print(f"{name:19} arena {row['arena_bytes']:6} B (lower bound {row['lower_bound_bytes']:6}, I/O "
              f"{row['io_bytes']:5})  TFLM {row['tflm_arena_bytes'] or '-':>6} B  ratio {ratio} "
              f"(with I/O {ratio_io})  flash {row['flash_text_rodata']:6} B  "
              f"instr/inf {row.get('instructions_per_inference', '-')}  MACs {row['macs']}  "
              f"bit-exact host {row['host_bit_exact_images']}/{args.images} "
              f"qemu {row.get('qemu_bit_exact_images', '-')}/{args.images}  "
              f"TFLM=LiteRT {row['tflm_agree_images']}/{args.images}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
