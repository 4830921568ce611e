"""Benchmark of the Hexagon backend on the shared int8 models.

Per model: packets executed per inference under ``qemu-hexagon -cpu v67 -singlestep -d exec,nochain`` (one
trace line per packet; the count with two samples minus the count with one) for the HVX build and for the
scalar-only build of the same generated library, their ratio (the issue asks for at most 1/8 on digits_cnn and
digits_mobilenet), which layers run HVX kernels, the arena, flash (text + data of each build's program: code,
weights, constants; the library holds both layouts of the weights and each build links only its own) and
agreement of the HVX build with LiteRT's reference kernels on test images (bit for bit). Writes
bench/results/hexagon.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from quant_support import digits_split  # noqa: E402  (the digits preprocessing the tests use)

from qcompiler.backends.hexagon.emit import write_library  # noqa: E402
from qcompiler.backends.hexagon.runner import flash_bytes, packets_per_inference, run_library  # noqa: E402
from qcompiler.backends.mcu.target import write_target  # noqa: E402
from qcompiler.backends.tflite.runtime import run_tflite  # noqa: E402
from qcompiler.cli.model_io import load_model  # noqa: E402
from qcompiler.quantize import prepare, quantize  # noqa: E402

SHARED = Path(os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models"))
RESULTS = Path(__file__).resolve().parent / "results" / "hexagon.json"
MODELS = ("digits_cnn", "digits_mobilenet", "digits_mlp", "digits_transformer")
#: The issue's bound on HVX packets / scalar packets, for the models it names.
BOUND = {"digits_cnn": 1 / 8, "digits_mobilenet": 1 / 8}


def measure(name: str, images: int) -> dict:
    """The figures of one model."""
    graph = prepare(load_model(str(SHARED / f"{name}.onnx")))
    calibration, _ = digits_split(SHARED, name, "calib")
    graph = quantize(graph, "int8", {graph.inputs[0].name: calibration})
    test, _ = digits_split(SHARED, name, "test", images)
    samples = {graph.inputs[0].name: test[:, None]}
    with tempfile.TemporaryDirectory(prefix=f"qc-bench-{name}-") as folder:
        library, model = write_target(graph, folder, name, "float", write_library)
        packets = {build: packets_per_inference(folder, build, samples) for build in ("hvx", "scalar")}
        flash = {build: flash_bytes(folder, build) for build in ("hvx", "scalar")}
        got = run_library(folder, "hvx", samples)
    agree = 0
    for i in range(images):
        want = run_tflite(model, {key: array[i] for key, array in samples.items()})
        agree += all(np.array_equal(got[key][i], want[key]) for key in want)
    report = library.report
    return {"model": name, "hvx_packets": packets["hvx"], "scalar_packets": packets["scalar"],
            "ratio": packets["hvx"] / packets["scalar"], "bound": BOUND.get(name),
            "hvx_layers": sum(layer.kernel.startswith("hvx_") for layer in report.layers),
            "layers": len(report.layers), "macs": report.total_macs, "arena_bytes": report.arena_bytes,
            "constant_bytes": report.weight_bytes, "hvx_flash_bytes": flash["hvx"],
            "scalar_flash_bytes": flash["scalar"], "images": images, "bit_exact_images": agree}


def main() -> None:
    """Measure the models, print a table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), help="models to measure (default: all)")
    parser.add_argument("--images", type=int, default=100, help="test images for the agreement check")
    args = parser.parse_args()
    rows = []
    print(f"{'model':<20}{'HVX packets':>13}{'scalar packets':>16}{'ratio':>8}  {'bound':<7}{'HVX layers':>11}"
          f"{'MACs':>9}{'arena':>7}{'flash HVX/scalar':>18}{'LiteRT-exact':>14}")
    for name in args.models:
        row = measure(name, args.images)
        rows.append(row)
        bound = "" if row["bound"] is None else ("ok" if row["ratio"] <= row["bound"] else "MISSED")
        print(f"{name:<20}{row['hvx_packets']:>13,}{row['scalar_packets']:>16,}{row['ratio']:>8.4f}  {bound:<7}"
              f"{row['hvx_layers']:>6}/{row['layers']:<4}{row['macs']:>9,}{row['arena_bytes']:>7}"
              f"{row['hvx_flash_bytes'] or 0:>10}/{row['scalar_flash_bytes'] or 0:<7}"
              f"{row['bit_exact_images']:>8}/{row['images']}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
