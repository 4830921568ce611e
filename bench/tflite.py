"""Benchmark of the TFLite backend: the shared digits models in every mode, the light models' sizes, and LiteRT
latency of int8 against float32.

Per shared model and mode: compile time (import, prepare, quantize, export; best of ``--repeat``), .tflite
size and operator count; on the ``--images`` test digits, LiteRT's reference kernels (BUILTIN_REF) against our
interpreter (integer modes: outputs equal bit for bit and the largest difference in output steps; float modes:
the largest difference), against the float model (largest difference, top-1 agreement), top-1 accuracy (LiteRT,
ours, and the quantization benchmark's figure from bench/results/quantize.json), LiteRT's default kernels
(XNNPACK) against its reference kernels (outputs that differ, largest difference in steps), and for int8 TFLite
Micro's Python runtime against LiteRT's reference kernels (outputs that differ, largest step, and the first op
whose output departs on those digits). int8 sizes are set against the TFLite converter's (ONNX -> onnx2tf ->
converter, same calibration data, measured once: digits_cnn 12,184 bytes, digits_mobilenet 25,456, digits_mlp
25,144; digits_transformer does not convert that way).

Sizes of light_squeezenet and light_resnet50 (constant folding by the prepare pipeline; int8 calibrated on 4
random inputs) in float32, float16 and int8, with their constant-fill weights (identical buffers dedupe) and
with seeded random weights. LiteRT latency with its default kernels, 1 thread, median of ``--runs``
invocations: our int8 against our float32, on light_resnet50 and the shared models.

Writes bench/results/tflite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from quant_support import digits_split  # noqa: E402  (the digits preprocessing the tests use)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "backends" / "tflite"))
from tflite_checks import probe_model, randomize_weights, run_tflite_micro  # noqa: E402

from qcompiler import interpreter, quant_math  # noqa: E402
from qcompiler.backends.tflite import export_tflite  # noqa: E402
from qcompiler.backends.tflite.inspect import load_model, operator_name  # noqa: E402
from qcompiler.backends.tflite.runtime import run_tflite  # noqa: E402
from qcompiler.ir import Graph  # noqa: E402
from qcompiler.onnx_import import import_onnx  # noqa: E402
from qcompiler.quantize import FULL_INTEGER_MODES, prepare, quantize  # noqa: E402

SHARED = Path(os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models"))
RESULTS = Path(__file__).resolve().parent / "results" / "tflite.json"
QUANTIZE_RESULTS = Path(__file__).resolve().parent / "results" / "quantize.json"
MODELS = ("digits_cnn", "digits_mlp", "digits_mobilenet", "digits_transformer")
MODES = ("none", "float16", "dynamic", "weight-only", "int8", "int16x8")
LIGHT = ("light_squeezenet", "light_resnet50")
#: int8 .tflite sizes the TFLite converter made from the same models and calibration data (ONNX -> onnx2tf).
CONVERTER_INT8_BYTES = {"digits_cnn": 12184, "digits_mobilenet": 25456, "digits_mlp": 25144}


def light_models_dir() -> Path:
    """The onnx package's folder of light architecture models."""
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def compile_shared(model: str, mode: str) -> tuple[Graph, bytes]:
    """The shared model compiled in ``mode`` (calibrated on the 200 x_calib digits, MinMax): graph and bytes."""
    graph = prepare(import_onnx(SHARED / f"{model}.onnx"))
    if mode != "none":
        calibration = {"input": digits_split(SHARED, model, "calib")[0]} if mode in FULL_INTEGER_MODES else None
        graph = quantize(graph, mode, calibration)
    return graph, export_tflite(graph, hybrid=mode != "weight-only")


def output_scale(graph: Graph) -> Optional[float]:
    """The scale of the quantized tensor the graph's float output is dequantized from (None in float modes)."""
    producer = graph.outputs[0].producer
    if producer is not None and producer.kind == "q.dequantize":
        return float(np.float32(producer.operand(0).type.quant.scale))
    return None


def steps(a: np.ndarray, b: np.ndarray, scale: Optional[float]) -> float:
    """The largest difference of two outputs: in output steps when ``scale`` is given, else absolute."""
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return float(np.max(np.rint(diff / scale))) if scale else float(np.max(diff))


def quantization_benchmark_accuracy(model: str) -> Optional[float]:
    """Our int8 MinMax accuracy as bench/quantize.py recorded it (None if it has not run)."""
    if not QUANTIZE_RESULTS.is_file():
        return None
    for entry in json.loads(QUANTIZE_RESULTS.read_text())["models"]:
        if entry["model"] == model:
            for result in entry["results"]:
                if result["quantizer"] == "ours minmax":
                    return result["accuracy"]
    return None


def measure_shared(model: str, mode: str, count: int, repeat: int, reference: Graph) -> dict:
    """Every figure of one shared model in one mode."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        graph, data = compile_shared(model, mode)
        best = min(best, time.perf_counter() - start)
    images, labels = digits_split(SHARED, model, "test", count)
    scale = output_scale(graph)
    row = {"model": model, "mode": mode, "compile_seconds": best, "bytes": len(data),
           "operators": sum(len(s.operators or []) for s in load_model(data).subgraphs), "images": len(labels)}
    equal = xnn_differ = 0
    worst_ours = worst_float = worst_xnn = 0.0
    correct = {"litert": 0, "ours": 0, "float_agree": 0}
    for image, label in zip(images, labels):
        feed = {"input": image[None]}
        got = run_tflite(data, feed)["logits"]
        ours = interpreter.run(graph, feed)["logits"]
        floating = interpreter.run(reference, feed)["logits"]
        fast = run_tflite(data, feed, reference_kernels=False)["logits"]
        equal += int(np.array_equal(got, ours))
        worst_ours = max(worst_ours, steps(got, ours, scale))
        worst_float = max(worst_float, steps(got, floating, None))
        xnn_differ += int(not np.array_equal(fast, got))
        worst_xnn = max(worst_xnn, steps(fast, got, scale))
        correct["litert"] += int(np.argmax(got) == label)
        correct["ours"] += int(np.argmax(ours) == label)
        correct["float_agree"] += int(np.argmax(got) == np.argmax(floating))
    row.update({"equal_to_interpreter": equal, "max_diff_vs_interpreter": worst_ours,
                "diff_unit": "steps" if scale else "absolute", "max_abs_diff_vs_float": worst_float,
                "top1_litert": correct["litert"] / len(labels), "top1_interpreter": correct["ours"] / len(labels),
                "top1_agreement_with_float": correct["float_agree"] / len(labels),
                "xnnpack_outputs_differing": xnn_differ, "xnnpack_max_diff": worst_xnn})
    if mode == "int8":
        row["top1_quantize_benchmark"] = quantization_benchmark_accuracy(model)
        row["converter_bytes"] = CONVERTER_INT8_BYTES.get(model)
        row.update(compare_tflite_micro(graph, images))
    return row


def compare_tflite_micro(graph: Graph, images: np.ndarray) -> dict:
    """TFLite Micro's Python runtime against LiteRT's reference kernels on the int8 model with an int8
    interface: outputs that differ, the largest step, and for those digits the first op whose output departs."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return {"tflite_micro": "not installed"}
    input_params = graph.inputs[0].uses[0].op.result.type.quant
    data = export_tflite(graph, io_type="int8", hybrid=False)
    try:
        micro = runtime.Interpreter.from_bytes(data)
    except RuntimeError as error:  # an operator TFLite Micro has no kernel for (it names it on stderr)
        codes = load_model(data).operatorCodes or []
        return {"tflite_micro": f"cannot load: {error} (operators: "
                                f"{', '.join(sorted({operator_name(c) for c in codes}))})"}
    differing, worst = [], 0
    for index, image in enumerate(images):
        feed = quant_math.quantize(image[None], input_params)
        expected = run_tflite(data, {"input": feed})["logits"]
        micro.set_input(feed, 0)
        micro.invoke()
        got = micro.get_output(0)
        micro.reset()
        if not np.array_equal(got, expected):
            differing.append(index)
            worst = max(worst, int(np.max(np.abs(got.astype(np.int64) - expected))))
    departures = first_departures(graph, images[differing], input_params) if differing else {}
    return {"tflite_micro_outputs_differing": len(differing), "tflite_micro_max_steps": worst,
            "tflite_micro_first_departing_ops": departures}


def first_departures(graph: Graph, images: np.ndarray, input_params) -> dict[str, int]:
    """For each digit, the first op (in execution order) whose integer output differs between TFLite Micro and
    LiteRT's reference kernels, found by exporting every intermediate quantized tensor as an output."""
    data, values = probe_model(graph)
    found: dict[str, int] = {}
    for image in images:
        feed = quant_math.quantize(image[None], input_params)
        expected = run_tflite(data, {"input": feed})
        got = run_tflite_micro(data, feed, len(values))
        for index, value in enumerate(values):
            if not np.array_equal(got[index], expected[f"probe_{index}"]):
                key = f"{value.producer.kind} at {value.producer.loc}"
                found[key] = found.get(key, 0) + 1
                break
    return found


def measure_light(name: str, randomized: bool) -> dict:
    """Sizes (and compile times) of a light model in float32, float16 and int8."""
    start = time.perf_counter()
    graph = prepare(import_onnx(light_models_dir() / f"{name}.onnx"))
    if randomized:
        graph = randomize_weights(graph)
    prepare_seconds = time.perf_counter() - start
    source = graph.inputs[0]
    rng = np.random.default_rng(0)
    calibration = {source.name: rng.random((4,) + tuple(source.type.shape[1:]), dtype=np.float32)}
    row: dict = {"model": name, "weights": "seeded random" if randomized else "constant fills (as shipped)",
                 "prepare_seconds": prepare_seconds}
    for mode in ("none", "float16", "int8"):
        start = time.perf_counter()
        compiled = graph if mode == "none" else quantize(graph.clone(), mode,
                                                         calibration if mode == "int8" else None)
        data = export_tflite(compiled)
        row[f"{mode}_seconds"] = time.perf_counter() - start
        row[f"{mode}_bytes"] = len(data)
        if mode == "int8":
            row["int8_model"] = data
        elif mode == "none":
            row["float32_model"] = data
    row["int8_ratio"] = row["int8_bytes"] / row["none_bytes"]
    row["float16_ratio"] = row["float16_bytes"] / row["none_bytes"]
    return row


def median_latency(data: bytes, runs: int) -> float:
    """Median seconds of one LiteRT invocation (default kernels, 1 thread) on random input."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=data, num_threads=1)
    runner.allocate_tensors()
    detail = runner.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(detail["dtype"], np.integer):
        info = np.iinfo(detail["dtype"])
        sample = rng.integers(info.min, info.max, detail["shape"], endpoint=True).astype(detail["dtype"])
    else:
        sample = rng.random(detail["shape"], dtype=np.float32)
    runner.set_tensor(detail["index"], sample)
    runner.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def print_table(title: str, rows: list[dict], columns: list[tuple[str, str, Callable]]) -> None:
    """Print ``rows`` under ``title`` as a fixed-width table of (header, key, format)."""
    print(f"\n{title}")
    print("  ".join(header for header, _, _ in columns))
    for row in rows:
        cells = []
        for header, key, fmt in columns:
            value = row.get(key)
            cells.append(("-" if value is None else fmt(value)).rjust(len(header)))
        print("  ".join(cells))


def main() -> None:
    """Run every part and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=597, help="test digits per model and mode (default: 597)")
    parser.add_argument("--repeat", type=int, default=1, help="compilations per model and mode (best is kept)")
    parser.add_argument("--runs", type=int, default=50, help="LiteRT invocations per latency figure (median)")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    parser.add_argument("--light", nargs="*", default=list(LIGHT))
    args = parser.parse_args()

    shared = []
    for model in args.models:
        reference = prepare(import_onnx(SHARED / f"{model}.onnx"))
        for mode in args.modes:
            shared.append(measure_shared(model, mode, args.images, args.repeat, reference))
            row = shared[-1]
            print(f"{model} {mode}: {row['bytes']} bytes, equal {row['equal_to_interpreter']}/{row['images']}",
                  flush=True)
    fmt_int, fmt_f3, fmt_f4 = (lambda v: f"{v:d}"), (lambda v: f"{v:.3f}"), (lambda v: f"{v:.4f}")
    fmt_g = lambda v: f"{v:.3g}"  # noqa: E731
    print_table("shared models: LiteRT reference kernels (BUILTIN_REF) vs our interpreter and the float model", shared, [
        ("model             ", "model", str), ("mode       ", "mode", str), ("compile s", "compile_seconds", fmt_f3),
        ("   bytes", "bytes", fmt_int), ("ops", "operators", fmt_int), ("equal", "equal_to_interpreter", fmt_int),
        ("max diff", "max_diff_vs_interpreter", fmt_g), ("vs float", "max_abs_diff_vs_float", fmt_g),
        ("top1 LiteRT", "top1_litert", fmt_f4), ("top1 ours", "top1_interpreter", fmt_f4),
        ("top1 quantize.json", "top1_quantize_benchmark", fmt_f4), ("agree float", "top1_agreement_with_float", fmt_f4),
        ("XNNPACK differ", "xnnpack_outputs_differing", fmt_int), ("XNNPACK max", "xnnpack_max_diff", fmt_g)])
    int8 = [r for r in shared if r["mode"] == "int8"]
    print_table("int8: size against the TFLite converter, TFLite Micro against LiteRT reference kernels", int8, [
        ("model             ", "model", str), ("   bytes", "bytes", fmt_int), ("converter", "converter_bytes", fmt_int),
        ("TFLM differ", "tflite_micro_outputs_differing", fmt_int), ("TFLM max steps", "tflite_micro_max_steps", fmt_int),
        ("first departing op (digits)", "tflite_micro_first_departing_ops", lambda v: json.dumps(v)),
        ("TFLM", "tflite_micro", str)])

    light = []
    for name in args.light:
        for randomized in (False, True):
            light.append(measure_light(name, randomized))
            print(f"{name} {light[-1]['weights']}: int8 {light[-1]['int8_ratio']:.3f}x", flush=True)
    print_table("light models: sizes (after constant folding)", light, [
        ("model           ", "model", str), ("weights                    ", "weights", str),
        ("  float32", "none_bytes", fmt_int), ("  float16", "float16_bytes", fmt_int), ("     int8", "int8_bytes", fmt_int),
        ("f16/f32", "float16_ratio", fmt_f3), ("int8/f32", "int8_ratio", fmt_f3),
        ("f32 s", "none_seconds", fmt_f3), ("f16 s", "float16_seconds", fmt_f3), ("int8 s", "int8_seconds", fmt_f3)])

    latency = []
    targets = [(r["model"] + " (" + r["weights"] + ")", r["float32_model"], r["int8_model"])
               for r in light if r["model"] == "light_resnet50"]
    for model in args.models:
        if "none" in args.modes and "int8" in args.modes:
            targets.append((model, compile_shared(model, "none")[1], compile_shared(model, "int8")[1]))
    for name, float32, int8_model in targets:
        f32_seconds, i8_seconds = median_latency(float32, args.runs), median_latency(int8_model, args.runs)
        latency.append({"model": name, "float32_ms": f32_seconds * 1e3, "int8_ms": i8_seconds * 1e3,
                        "int8_speedup": f32_seconds / i8_seconds})
    print_table(f"LiteRT latency, default kernels, 1 thread, median of {args.runs}", latency, [
        ("model                                         ", "model", str), ("float32 ms", "float32_ms", fmt_f3),
        ("int8 ms", "int8_ms", fmt_f3), ("int8 speedup", "int8_speedup", lambda v: f"{v:.2f}x")])

    for row in light:
        row.pop("int8_model", None)
        row.pop("float32_model", None)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                   "images": args.images, "shared": shared, "light": light, "latency": latency},
                                  indent=2))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
