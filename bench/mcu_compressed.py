"""Benchmark of compressed weights in the MCU backend on digits_cnn and digits_mobilenet (issue 7's flash figure).

Per model and clustering layout: top-1 on the 597 ``x_test`` images of the int8 model our interpreter runs
(the oracle the library equals bit for bit), the drop against plain per-channel int8, the bytes of the layer
weights as the library stores them against plain int8 weights (the issue's "weight flash" ratio), all constant
data (weights, biases, requantization multipliers, filter sums), the storage each layer got, and whether the
host build (and, with ``--qemu``, the Cortex-M4 build) equals the interpreter on ``--images`` test images.
With the Arm toolchain, also text + rodata of the Cortex-M4 library (kernel code included).
Writes bench/results/mcu_compressed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from quant_support import digits_split, top1  # noqa: E402  (the digits preprocessing the tests use)

from qcompiler.backends.mcu.emit import write_library  # noqa: E402
from qcompiler.cli.model_io import load_model  # noqa: E402
from qcompiler.emulate import emulate, missing_tools  # noqa: E402
from qcompiler.ir import Graph  # noqa: E402
from qcompiler.pass_manager import PassManager, get_pass, parse_pipeline  # noqa: E402
from qcompiler.quantize import prepare, quantize  # noqa: E402
from qcompiler.samples import run_samples  # noqa: E402

SHARED = Path(os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models"))
RESULTS = Path(__file__).resolve().parent / "results" / "mcu_compressed.json"
MODELS = ("digits_cnn", "digits_mobilenet")
LAYER_KINDS = ("q.conv2d", "q.depthwise_conv2d", "q.fully_connected")
#: (label, float pipeline before int8 quantization, cluster-int8 options after it; "{first}" is the first layer,
#: "{calibration}" the calibration arrays (bias correction)).
LAYOUTS: tuple[tuple[str, str, Optional[dict]], ...] = (
    ("plain int8", "", None),
    ("float cluster 16 per channel", "cluster{clusters=16 per-channel=true}", None),
    ("int8 cluster 16 per channel", "", {"per_channel": True}),
    ("int8 cluster 16 per tensor", "", {}),
    ("int8 cluster 16 per tensor + bias corr.", "", {"calibration": "{calibration}"}),
    ("int8 cluster 16 per tensor + bias corr., first layer plain", "",
     {"calibration": "{calibration}", "exclude": ["{first}"]}),
    ("prune 50% + int8 cluster 16 + bias corr., first layer plain",
     "prune{sparsity=0.5 exclude={first} data={calibration_file}}",
     {"calibration": "{calibration}", "exclude": ["{first}"]}),
)


def first_layer(graph: Graph) -> str:
    """The location of the first conv/dense layer."""
    return next(op.loc for op in graph if op.kind in ("core.conv2d", "core.fully_connected", *LAYER_KINDS))


def compile_layout(base: Graph, pipeline: str, options: Optional[dict], calibration: np.ndarray,
                   calibration_file: str) -> Graph:
    """The int8 graph of one layout."""
    graph = base.clone()
    first = first_layer(graph)
    if pipeline:
        text = pipeline.replace("{first}", first).replace("{calibration_file}", calibration_file)
        PassManager(parse_pipeline(text), verify_each=False).run(graph)
    quantized = quantize(graph, "int8", {graph.inputs[0].name: calibration}, verify=False)
    if options is not None:
        settings = {k: v for k, v in options.items() if k not in ("calibration", "exclude")}
        settings["exclude"] = [first if name == "{first}" else name for name in options.get("exclude", [])]
        cluster = get_pass("cluster-int8")(clusters=16, **settings)
        if "calibration" in options:
            cluster.calibration = {graph.inputs[0].name: calibration}
        cluster.run(quantized)
    return quantized


def library_figures(graph: Graph, folder: Path, images: np.ndarray, qemu: bool) -> dict:
    """Storage figures of the library and its agreement with the interpreter (host, optionally qemu)."""
    library = write_library(graph, str(folder), "model")
    report = library.report
    stored, plain = report.layer_weight_bytes
    figures: dict = {
        "layer_weight_bytes": stored, "plain_layer_weight_bytes": plain, "weight_ratio": round(stored / plain, 3),
        "constant_bytes": report.weight_bytes,
        "layers": [{"name": r.name, "kernel": r.kernel, "storage": r.storage, "bytes": r.weight_bytes,
                    "plain_bytes": r.dense_weight_bytes} for r in report.layers if r.storage]}
    name = graph.inputs[0].name
    want = np.stack([run_samples(graph, {name: image[None]})[graph.output_names[0]][0] for image in images])
    for board, key in (("host", "host_equals_interpreter"), ("mps2-an386", "qemu_equals_interpreter")):
        if missing_tools(board) or (board != "host" and not qemu):
            continue
        got = next(iter(emulate(folder, {name: images}, board).values())).reshape(want.shape)
        figures[key] = f"{int(np.sum(np.all(got == want, axis=tuple(range(1, want.ndim)))))}/{len(want)}"
    if not missing_tools("mps2-an386"):
        from mcu import flash_bytes  # bench/mcu.py: text + rodata of the Cortex-M4 library

        sections = flash_bytes(folder, folder / "size")
        figures["cm4_text_rodata_bytes"] = sections["text"] + sections["rodata"]
    return figures


def main(argv: Optional[list[str]] = None) -> None:
    """Run every layout on both models, print a table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="test images run on the boards (default 100)")
    parser.add_argument("--qemu", action="store_true", help="also run the Cortex-M4 build under qemu")
    parser.add_argument("models", nargs="*", default=list(MODELS))
    args = parser.parse_args(argv)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-mcu-compressed-") as scratch:
        for model in args.models:
            base = prepare(load_model(str(SHARED / f"{model}.onnx")))
            calibration, _ = digits_split(SHARED, model, "calib")
            test, labels = digits_split(SHARED, model, "test")
            calibration_file = os.path.join(scratch, f"{model}_calibration.npz")
            np.savez(calibration_file, **{base.inputs[0].name: calibration})
            rows: dict = {}
            for index, (label, pipeline, options) in enumerate(LAYOUTS):
                graph = compile_layout(base, pipeline, options, calibration, calibration_file)
                row = {"pipeline": pipeline, "cluster_int8": options, "top1": top1(graph, test, labels)}
                row.update(library_figures(graph, Path(scratch) / model / str(index), test[:args.images],
                                           args.qemu))
                rows[label] = row
            plain = rows["plain int8"]
            for row in rows.values():
                row["drop_points"] = round((plain["top1"] - row["top1"]) * 100, 2)
                row["constant_ratio"] = round(row["constant_bytes"] / plain["constant_bytes"], 3)
            results[model] = rows
            print_table(model, rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {RESULTS}")


def print_table(model: str, rows: dict) -> None:
    """One model's figures."""
    print(f"\n{model}")
    print(f"{'layout':<62}{'top1':>7}{'drop':>6}{'weights B':>10}{'ratio':>7}{'const B':>8}{'ratio':>7}"
          f"{'cm4 B':>7}{'host':>9}{'qemu':>9}  storage")
    for label, row in rows.items():
        kinds = " ".join(f"{layer['storage']}:{layer['bytes']}" for layer in row["layers"])
        print(f"{label:<62}{row['top1'] * 100:7.2f}{row['drop_points']:6.2f}{row['layer_weight_bytes']:10d}"
              f"{row['weight_ratio']:7.3f}{row['constant_bytes']:8d}{row['constant_ratio']:7.3f}"
              f"{row.get('cm4_text_rodata_bytes', '-'):>7}{row.get('host_equals_interpreter', '-'):>9}"
              f"{row.get('qemu_equals_interpreter', '-'):>9}  {kinds}", flush=True)


if __name__ == "__main__":
    main()
