"""Benchmark of int8 post-training quantization against onnxruntime's ``quantize_static``.

For each shared digits model: onnxruntime's static quantization (QDQ, per-channel, QInt8 activations and
weights, MinMax calibration on the 200 ``x_calib`` images through a CalibrationDataReader; also after
onnxruntime's recommended ``quant_pre_process``), evaluated in onnxruntime with its int8 kernels and,
unfused, as QDQ in float (on CPUs without VNNI its int8 kernels can saturate); ours (int8 per-channel, full
integer) with MinMax calibration and with our best setting (calibration method, bias correction), chosen by
output SQNR on 200 ``x_train`` images (never on the test set), and that setting with the output layer in
int16x8 (mixed precision), evaluated in our reference interpreter. Prints top-1 accuracy on the 597
``x_test`` images, top-1 agreement with the float model, output SQNR against the float model, the time each
quantizer and each evaluation took, and the images where a quantized model's top-1 differs from the float
model's (with the float top-2 margin there); writes ``bench/results/quantize.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np

from qcompiler.interpreter import run
from qcompiler.ir import Graph
from qcompiler.onnx_import import import_onnx
from qcompiler.quant_report import sqnr_db

SHARED = os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "quantize.json")
MODELS = ("digits_cnn", "digits_mobilenet", "digits_mlp", "digits_transformer")
#: Our settings tried for "best": (label, quantize() keyword arguments, whether to run bias correction).
SETTINGS: tuple[tuple[str, dict, bool], ...] = (
    ("minmax", dict(method="minmax"), False),
    ("minmax+bias-correction", dict(method="minmax"), True),
    ("percentile-99.99", dict(method="percentile", percentile=99.99), False),
    ("percentile-99.999", dict(method="percentile", percentile=99.999), False),
    ("mse", dict(method="mse"), False),
    ("mse+bias-correction", dict(method="mse"), True),
    ("entropy", dict(method="entropy"), False),
)


def model_inputs(name: str, images: np.ndarray) -> np.ndarray:
    """Digits images (N x 8 x 8) preprocessed for model ``name`` as the shared models' README says."""
    images = images.astype(np.float32)
    if name in ("digits_cnn", "digits_mobilenet"):
        return np.ascontiguousarray(np.repeat(np.repeat(images, 2, 1), 2, 2)[:, None])
    if name == "digits_mlp":
        return np.ascontiguousarray(images[:, None])
    return np.ascontiguousarray(images)


@dataclass
class Result:
    """One quantizer on one model: accuracy, output SQNR against float, and timings (seconds)."""

    quantizer: str
    accuracy: float
    float_agreement: float
    sqnr_db: Optional[float]
    quantize_seconds: float
    evaluate_seconds: float
    setting: str = ""
    extra: dict = field(default_factory=dict)


def run_onnxruntime(path: str, inputs: np.ndarray, optimize: bool = True) -> np.ndarray:
    """Outputs of the ONNX model at ``path`` in onnxruntime, one sample at a time (batch 1), stacked.

    Without ``optimize`` onnxruntime does not fuse a QDQ model into its int8 kernels: it runs the
    DequantizeLinear -> float op -> QuantizeLinear graph as written (the quantizer's intent, in float).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: inputs[i:i + 1]})[0] for i in range(len(inputs))])


def run_ours(graph: Graph, inputs: np.ndarray) -> np.ndarray:
    """Outputs of ``graph`` in our reference interpreter, one sample at a time, stacked."""
    name = graph.inputs[0].name
    output = graph.output_names[0]
    return np.concatenate([run(graph, {name: inputs[i:i + 1]})[output] for i in range(len(inputs))])


def timed(action: Callable[[], object]) -> tuple[object, float]:
    """``action()`` and the wall time it took."""
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def onnxruntime_static(path: str, calib: np.ndarray, folder: str, preprocess: bool = False) -> tuple[str, float]:
    """onnxruntime ``quantize_static`` (QDQ, per-channel, QInt8/QInt8, MinMax) on ``calib``, after
    onnxruntime's own ``quant_pre_process`` (shape inference, graph optimization: batch norms folded) when
    ``preprocess``; returns the quantized model's path and the time it took (pre-processing included)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        """Feeds the calibration images one at a time."""

        def __init__(self) -> None:
            self.feeds = iter([{"input": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self) -> Optional[dict]:
            return next(self.feeds, None)

    stem = os.path.join(folder, os.path.basename(path)[:-len(".onnx")] + (".pre" if preprocess else ""))
    output = stem + ".ort_int8.onnx"

    def go() -> None:
        source = path
        if preprocess:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            source = stem + ".onnx"
            quant_pre_process(path, source, skip_symbolic_shape=True)  # static shapes: onnx inference suffices
        quantize_static(source, output, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)

    _, seconds = timed(go)
    return output, seconds


def ours(path: str, calib: np.ndarray, setting: dict, correct_bias: bool = False) -> tuple[Graph, float]:
    """Our int8 per-channel full-integer quantization of the model at ``path`` (import, prepare, optional
    bias correction, calibrate, quantize, lower); returns the graph and the time it took."""
    from qcompiler.passes.bias_correction import bias_correction
    from qcompiler.quantize import prepare, quantize

    def go() -> Graph:
        graph = prepare(import_onnx(path), verify=False)
        if correct_bias:
            bias_correction(graph, {"input": calib}, per_channel=True)
        return quantize(graph, "int8", {"input": calib}, per_channel=True, verify=False, **setting)

    return timed(go)  # type: ignore[return-value]


def ours_int16_output(path: str, calib: np.ndarray, setting: dict, correct_bias: bool) -> tuple[Graph, float]:
    """Ours with the same setting, but the layers computing the outputs lifted to int16x8 (mixed precision):
    int8 everywhere else; returns the graph and the time it took."""
    from qcompiler.mixed_precision import PrecisionPlan, calibrated_graph, output_layers, quantize_mixed
    from qcompiler.passes.bias_correction import bias_correction
    from qcompiler.quantize import prepare

    def go() -> Graph:
        graph = prepare(import_onnx(path), verify=False)
        if correct_bias:
            bias_correction(graph, {"input": calib}, per_channel=True)
        calibrated = calibrated_graph(graph, {"input": calib}, verify=False, **setting)
        plan = PrecisionPlan(int16_layers=tuple(output_layers(graph)))
        return quantize_mixed(calibrated, plan, per_channel=True, verify=False)

    return timed(go)  # type: ignore[return-value]


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``outputs`` (N x classes) against ``labels``."""
    return float(np.mean(outputs.reshape(len(labels), -1).argmax(axis=1) == labels))


def result(quantizer: str, outputs: np.ndarray, float_outputs: np.ndarray, labels: np.ndarray,
           quantize_seconds: float, evaluate_seconds: float, setting: str = "", **extra: object) -> Result:
    """A ``Result`` from a quantized model's outputs: accuracy, top-1 agreement with the float model, SQNR,
    and the images whose top-1 differs from the float model's, with the float model's top-2 margin there
    (a flip on a near tie is chance; one on a wide margin is damage)."""
    reference = float_outputs.reshape(len(labels), -1)
    agreement = accuracy(outputs, reference.argmax(axis=1))
    top2 = np.sort(reference, axis=1)[:, -2:]
    flips = np.nonzero(outputs.reshape(len(labels), -1).argmax(axis=1) != reference.argmax(axis=1))[0]
    extra["flips"] = [{"image": int(i), "float_margin": round(float(top2[i, 1] - top2[i, 0]), 4),
                       "float_correct": bool(reference[i].argmax() == labels[i])} for i in flips]
    extra["median_float_margin"] = round(float(np.median(top2[:, 1] - top2[:, 0])), 4)
    return Result(quantizer, accuracy(outputs, labels), agreement, sqnr_db(float_outputs, outputs), quantize_seconds,
                  evaluate_seconds, setting, dict(extra))


def bench_model(name: str, data: dict, folder: str, settings: tuple) -> dict:
    """Every quantizer on model ``name``; returns the JSON-ready results."""
    path = os.path.join(SHARED, f"{name}.onnx")
    calib, test = model_inputs(name, data["x_calib"]), model_inputs(name, data["x_test"])
    select = model_inputs(name, data["x_train"][:200])
    labels = data["y_test"]
    float_out, float_seconds = timed(lambda: run_onnxruntime(path, test))
    float_select = run_onnxruntime(path, select)
    results = [Result("float (onnxruntime)", accuracy(float_out, labels), 1.0, None, 0.0, float_seconds)]
    for preprocess in (False, True):
        ort_path, ort_seconds = onnxruntime_static(path, calib, folder, preprocess)
        label = "onnxruntime quantize_static" + (" +pre" if preprocess else "")
        for optimize in (True, False):
            ort_out, ort_eval = timed(lambda: run_onnxruntime(ort_path, test, optimize))
            results.append(result(label, ort_out, float_out, labels, ort_seconds, ort_eval,
                                  "int8 kernels" if optimize else "QDQ in float"))

    tried = []
    for label, setting, correct_bias in settings:
        graph, seconds = ours(path, calib, setting, correct_bias)
        selection_sqnr = sqnr_db(float_select, run_ours(graph, select))
        tried.append((selection_sqnr, label, graph, seconds))
        print(f"  {name}: ours {label}: output SQNR on x_train[:200] {selection_sqnr:.2f} dB "
              f"(quantized in {seconds:.2f} s)")
    chosen = {"minmax": next(t for t in tried if t[1] == "minmax"), "best": max(tried, key=lambda t: t[0])}
    for kind, (selection_sqnr, label, graph, seconds) in chosen.items():
        out, evaluate = timed(lambda: run_ours(graph, test))
        results.append(result(f"ours {kind}", out, float_out, labels, seconds, evaluate, label,
                              selection_sqnr_db=selection_sqnr))
    best_label = chosen["best"][1]
    _, setting, correct_bias = next(s for s in settings if s[0] == best_label)
    graph, seconds = ours_int16_output(path, calib, setting, correct_bias)
    out, evaluate = timed(lambda: run_ours(graph, test))
    results.append(result("ours best, int16 output layer", out, float_out, labels, seconds, evaluate, best_label))
    return {"model": name, "results": [asdict(r) for r in results],
            "selection": {label: s for s, label, _, _ in tried}}


def print_table(model: dict) -> None:
    """One model's results as aligned text."""
    print(f"{model['model']}")
    print(f"  {'quantizer':32s} {'setting':22s} {'top-1':>7s} {'=float':>7s} {'SQNR dB':>8s} {'quantize s':>10s} "
          f"{'eval s':>7s}")
    for r in model["results"]:
        sqnr = "" if r["sqnr_db"] is None else f"{r['sqnr_db']:.2f}"
        print(f"  {r['quantizer']:32s} {r['setting']:22s} {r['accuracy']:7.4f} {r['float_agreement']:7.4f} {sqnr:>8s} "
              f"{r['quantize_seconds']:10.2f} {r['evaluate_seconds']:7.2f}")
    for r in model["results"]:
        flips = r["extra"].get("flips")
        if flips:
            margins = ", ".join(f"#{f['image']} margin {f['float_margin']:g}"
                                + ("" if f["float_correct"] else " (float wrong)") for f in flips[:8])
            print(f"    {r['quantizer']} ({r['setting']}) differs from float on {len(flips)} image(s): {margins}"
                  f"{' ...' if len(flips) > 8 else ''}")


def main() -> None:
    """Run the benchmark on the models named on the command line (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(MODELS), help="shared model names")
    parser.add_argument("--minmax-only", action="store_true", help="try only MinMax calibration for ours")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's quantizer logs advice on every call
    data = dict(np.load(os.path.join(SHARED, "digits.npz")))
    settings = SETTINGS[:1] if args.minmax_only else SETTINGS
    models = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            models.append(bench_model(name, data, folder, settings))
            print_table(models[-1])
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as handle:
        json.dump({"machine": platform.platform(), "python": platform.python_version(), "models": models},
                  handle, indent=2, default=lambda v: None)
        handle.write("\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
