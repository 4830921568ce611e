"""Benchmark of pruning and clustering on the shared digits models (issue 7's figures).

For digits_cnn and digits_mobilenet: top-1 on the 597 ``x_test`` images (float in our interpreter, int8 in our
interpreter, which LiteRT's reference kernels match bit for bit) and the gzip size of the int8 .tflite, for
  - the uncompressed model,
  - 50% unstructured pruning (re-fitted on the 200 ``x_calib`` images), every layer and every layer but the first,
    and with int8 weights rounded on the calibration images (``round_weights``) instead of to nearest; 70%,
  - 2:4 pruning (re-fitted),
  - 16 clusters (per tensor and per output channel; and per tensor with per-tensor int8 weights, so that one
    16-entry codebook serves a whole layer),
  - 16 clusters of the int8 weights (``cluster-int8``, one codebook per layer, first layer left alone),
  - 50% pruning then 16 clusters with sparsity preserved (float per-channel ``cluster``, or ``cluster-int8``),
  - 25% channel pruning (MACs before/after; the int8 model compiled by the TFLite and MCU backends and run in
    LiteRT and, when a C compiler is there, on the host),
and the MCU weight flash of each int8 model, with an estimate of packed 4-bit storage for the clustered ones
(per-channel codebooks of the final int8 values). For the gzip figure it also gives the weights' zeros and
order-0 entropy, and ``gzip_ratio_entropy_bound``: the ratio no per-byte coder of the weights could beat.
Prints a table; writes ``bench/results/compress.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from typing import Optional

import numpy as np

from qcompiler.backends.tflite import export_tflite
from qcompiler.backends.tflite.inspect import compression_figures, gzip_size
from qcompiler.channel_pruning import prune_channels
from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph
from qcompiler.kmeans import codebook_of
from qcompiler.macs import graph_macs
from qcompiler.onnx_import import import_onnx
from qcompiler.pass_manager import PassManager, parse_pipeline
from qcompiler.quantize import prepare, quantize
from qcompiler.samples import run_samples

SHARED = os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "compress.json")
MODELS = ("digits_cnn", "digits_mobilenet")
#: (label, pipeline run before int8 quantization, pipeline run on the int8 graph); a label ending in
#: "(per-tensor int8)" quantizes weights per tensor, one with "rounded" rounds weights with calibration data
#: (``quantize(round_weights=True)``) instead of to nearest.
VARIANTS: tuple[tuple[str, str, str], ...] = (
    ("uncompressed", "", ""),
    ("uncompressed rounded", "", ""),
    ("prune 50%", "prune{sparsity=0.5 data={calibration}}", ""),
    ("prune 50% rounded", "prune{sparsity=0.5 data={calibration}}", ""),
    ("prune 50% but first layer", "prune{sparsity=0.5 exclude={first} data={calibration}}", ""),
    ("prune 50% magnitude only", "prune{sparsity=0.5}", ""),
    ("prune 70% rounded", "prune{sparsity=0.7 data={calibration}}", ""),
    ("prune 2:4", "prune{granularity=n:m n=2 m=4 data={calibration}}", ""),
    ("cluster 16", "cluster{clusters=16}", ""),
    ("cluster 16 per channel", "cluster{clusters=16 per-channel=true}", ""),
    ("cluster 16 (per-tensor int8)", "cluster{clusters=16}", ""),
    ("uncompressed (per-tensor int8)", "", ""),
    ("cluster-int8 16", "", "cluster-int8{clusters=16 exclude={first} data={calibration}}"),
    ("prune 50% + cluster 16 per channel", "prune{sparsity=0.5 exclude={first} data={calibration}},"
                                           "cluster{clusters=16 per-channel=true}", ""),
    ("prune 50% rounded + cluster-int8 16", "prune{sparsity=0.5 data={calibration}}",
     "cluster-int8{clusters=16 exclude={first} data={calibration}}"),
    ("channels 25%", "prune{granularity=channel sparsity=0.25}", ""),
    ("channels 25% re-fitted", "prune{granularity=channel sparsity=0.25 data={calibration}}", ""),
)


def images16(images: np.ndarray) -> np.ndarray:
    """8x8 digits as the 16x16 models' inputs (shared/models/README.md)."""
    return np.ascontiguousarray(np.repeat(np.repeat(images.astype(np.float32), 2, 1), 2, 2)[:, None])


def top1(graph: Graph, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in our reference interpreter."""
    scores = run_samples(graph, {"input": images})[graph.output_names[0]]
    return float(np.mean(scores.reshape(len(labels), -1).argmax(axis=1) == labels))


def layer_weight_arrays(graph: Graph) -> list[np.ndarray]:
    """The int8 weights of the quantized conv/dense layers."""
    kinds = ("q.conv2d", "q.depthwise_conv2d", "q.fully_connected")
    return [op.operand(1).const_value for op in graph if op.kind in kinds and op.operand(1).is_const]


def weight_compressibility(graph: Graph) -> dict:
    """How far gzip could shrink the int8 layer weights at best: their bytes gzipped alone and
    their order-0 entropy (per layer, in bytes), the bound for any coder that codes each byte on its own
    (gzip's Huffman stage is one; its LZ77 stage finds next to no repeats in weights)."""
    arrays = [np.asarray(a, np.int8).reshape(-1) for a in layer_weight_arrays(graph)]
    joined = np.concatenate(arrays) if arrays else np.zeros(0, np.int8)
    entropy_bits = 0.0
    for array in arrays:
        _, counts = np.unique(array, return_counts=True)
        p = counts / counts.sum()
        entropy_bits += float(-(p * np.log2(p)).sum()) * array.size
    return {"weight_gzip_bytes": gzip_size(joined.tobytes()), "weight_entropy_bytes": int(np.ceil(entropy_bits / 8))}


def packed_weight_bytes(graph: Graph) -> tuple[int, int]:
    """(plain int8 weight bytes, bytes as packed indices plus int8 codebooks) for the quantized layers; per
    layer the smallest of plain storage, one codebook per tensor and one per output channel."""
    plain = packed = 0
    for array in layer_weight_arrays(graph):
        axis = 3 if array.shape[0] == 1 and array.ndim == 4 else 0  # depthwise 1HWC: channels last
        sizes = [array.size]
        for book in (codebook_of(array), codebook_of(array, axis)):
            sizes.append(-(-array.size * book.bits // 8) + book.table.size)
        plain += array.size
        packed += min(sizes)
    return plain, packed


def mcu_figures(graph: Graph, folder: str, images: np.ndarray) -> dict:
    """Generate the MCU library; its report's flash and MACs, and whether the host build equals LiteRT."""
    from qcompiler.backends.mcu.target import write_target
    from qcompiler.backends.tflite.runtime import run_tflite
    from qcompiler.emulate import emulate, missing_tools

    library, model = write_target(graph, folder, "model")
    figures: dict = {"weight_flash_bytes": library.report.weight_bytes, "mcu_macs": library.report.total_macs}
    if not missing_tools("host"):
        try:
            got = next(iter(emulate(folder, {"input": images[:, None]}, "host").values()))
        except QCompilerError as error:  # report a backend failure as a figure, keep measuring the rest
            figures["host_equals_litert"] = f"error: {error}"
            return figures
        want = np.stack([next(iter(run_tflite(model, {"input": image[None]}).values())) for image in images])
        figures["host_equals_litert"] = bool(np.array_equal(got, want))
    return figures


def main(argv: Optional[list[str]] = None) -> None:
    """Run every variant on both models, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args(argv)
    data = np.load(os.path.join(SHARED, "digits.npz"))
    test, labels = images16(data["x_test"]), data["y_test"]
    calibration = images16(data["x_calib"])
    results: dict = {"machine": platform.machine(), "python": platform.python_version(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="qc-compress-") as scratch:
        calibration_file = os.path.join(scratch, "calibration.npz")
        np.savez(calibration_file, input=calibration)
        for name in args.models:
            base = prepare(import_onnx(os.path.join(SHARED, f"{name}.onnx")))
            first = next(op.loc for op in base if op.kind in ("core.conv2d", "core.fully_connected"))
            rows = {}
            for label, pipeline, post_pipeline in VARIANTS:
                start = time.perf_counter()
                graph = base.clone()
                if pipeline:
                    text = pipeline.replace("{calibration}", calibration_file).replace("{first}", first)
                    PassManager(parse_pipeline(text), verify_each=False).run(graph)
                per_channel = not label.endswith("(per-tensor int8)")
                quantized = quantize(graph, "int8", {"input": calibration}, per_channel=per_channel, verify=False,
                                     round_weights="rounded" in label)
                if post_pipeline:
                    text = post_pipeline.replace("{calibration}", calibration_file).replace("{first}", first)
                    PassManager(parse_pipeline(text), verify_each=False).run(quantized)
                compress_seconds = time.perf_counter() - start
                tflite = export_tflite(quantized)
                figures = compression_figures(tflite)
                plain, packed = packed_weight_bytes(quantized)
                row = {"pipeline": pipeline, "post_quantize_pipeline": post_pipeline,
                       "float_top1": top1(graph, test, labels),
                       "int8_top1": top1(quantized, test, labels), "tflite_bytes": len(tflite),
                       "tflite_gzip_bytes": figures["gzip_bytes"], "macs": graph_macs(graph),
                       "weight_zeros": round(figures["weight_zeros"] / max(figures["weight_elements"], 1), 4),
                       "int8_weight_bytes": plain, "packed_weight_bytes_estimate": packed,
                       "compress_seconds": round(compress_seconds, 2)}
                row.update(weight_compressibility(quantized))
                row.update(mcu_figures(quantized, os.path.join(scratch, name, str(len(rows))), test[:20]))
                rows[label] = row
            reference = rows["uncompressed"]
            for row in rows.values():
                row["int8_drop_points"] = round((reference["int8_top1"] - row["int8_top1"]) * 100, 2)
                row["gzip_ratio"] = round(row["tflite_gzip_bytes"] / reference["tflite_gzip_bytes"], 3)
                # the best any per-byte coder could do on this file: the rest of the file as gzip left it
                # (the reference's non-weight part) plus the weights at their entropy
                rest = reference["tflite_gzip_bytes"] - reference["weight_gzip_bytes"]
                row["gzip_ratio_entropy_bound"] = round((rest + row["weight_entropy_bytes"])
                                                        / reference["tflite_gzip_bytes"], 3)
                row["mac_ratio"] = round(row["macs"] / reference["macs"], 3)
                row["packed_ratio"] = round(row["packed_weight_bytes_estimate"] / reference["int8_weight_bytes"], 3)
                row["flash_ratio"] = round(row["weight_flash_bytes"] / reference["weight_flash_bytes"], 3)
            results["models"][name] = rows
            report_graph = base.clone()
            report = prune_channels(report_graph, 0.25)
            results["models"][name]["channels 25%"]["spaces"] = [
                {"producers": list(s.producers), "before": s.before, "after": s.after} for s in report.spaces]
            print_table(name, rows)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as handle:
        json.dump(results, handle, indent=1)
    print(f"wrote {RESULTS}")


def print_table(name: str, rows: dict) -> None:
    """One model's figures as a table."""
    print(f"\n{name}")
    print(f"{'variant':<36}{'float':>7}{'int8':>7}{'drop':>6}{'zeros':>6}{'gzip B':>8}{'gzip x':>7}{'bound x':>8}"
          f"{'MACs x':>7}{'flash B':>8}{'packed x':>9}{'host=LiteRT':>12}")
    for label, row in rows.items():
        print(f"{label:<36}{row['float_top1'] * 100:7.2f}{row['int8_top1'] * 100:7.2f}{row['int8_drop_points']:6.2f}"
              f"{row['weight_zeros']:6.2f}{row['tflite_gzip_bytes']:8d}{row['gzip_ratio']:7.3f}"
              f"{row['gzip_ratio_entropy_bound']:8.3f}{row['mac_ratio']:7.3f}"
              f"{row['weight_flash_bytes']:8d}{row['packed_ratio']:9.3f}{str(row.get('host_equals_litert', '-'))[:12]:>12}")


if __name__ == "__main__":
    main()
