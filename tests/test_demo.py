"""``qcompiler demo``: the bundled example, the report's agreement check and exit code, and the whole main job
end to end (its claims re-checked here against LiteRT and onnxruntime, not read back from the table)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from qcompiler.cli import main
from qcompiler.demo import RUNTIMES, DemoReport, RuntimeResult, bundled_example
from qcompiler.library_size import SectionSizes, parse_size_listing

ROW_TITLES = dict(RUNTIMES)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``qcompiler argv`` in process; return the exit code, stdout and stderr."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_row(out: str, key: str) -> str:
    """The table line of runtime ``key``."""
    lines = [line for line in out.splitlines() if line.strip().startswith(ROW_TITLES[key])]
    assert len(lines) == 1, out
    return lines[0]


# -- parts (fast) -------------------------------------------------------------------------------------------------------

def test_bundled_example(shared_models_dir):
    """The bundled calibration and test images are the shared digits splits, preprocessed for the 16x16 model."""
    data = np.load(shared_models_dir / "digits.npz")
    upsample = lambda x: np.repeat(np.repeat(x, 2, 1), 2, 2)[:, None].astype(np.float32)  # noqa: E731
    with bundled_example() as example:
        assert example.model.is_file() and example.model.suffix == ".onnx"
        assert list(example.calibration) == ["input"]
        np.testing.assert_array_equal(example.calibration["input"], upsample(data["x_calib"][:100]))
        np.testing.assert_array_equal(example.images, upsample(data["x_test"][:50]))
        np.testing.assert_array_equal(example.labels, data["y_test"][:50])


def test_parse_size_listing():
    listing = ("model.o  :\nsection            size   addr\n.text                 12      0\n.text.qc_conv     300      0\n"
               ".rodata.w          64      0\n.rodata             8      0\n.data                0      0\n"
               ".comment           45      0\n\nkernel.o  :\nsection  size  addr\n.text.k  100  0\n.bss  4  0\n"
               "Total   533\n")
    assert parse_size_listing(listing) == SectionSizes(text=412, rodata=72, data=0, bss=4)
    assert parse_size_listing(listing).flash == 484


def synthetic_report(images: int = 3, host_change: bool = False, skip_cortex: bool = False) -> DemoReport:
    """A report over made-up outputs: every int8 runtime equal to LiteRT unless ``host_change``."""
    labels = np.arange(images) % 10
    logits = np.full((images, 1, 10), -100, np.int8)
    logits[np.arange(images), 0, labels] = 100
    rows = {key: RuntimeResult(key, title, logits.copy(), 0.5) for key, title in RUNTIMES}
    rows["float"].outputs = logits.astype(np.float32)
    if host_change:
        rows["host"].outputs[1, 0, 3] += 1
    if skip_cortex:
        rows["cortex-m4"] = RuntimeResult("cortex-m4", ROW_TITLES["cortex-m4"], skipped="needs qemu-system-arm")
    return DemoReport(model_name="m", labels=labels, calibration_images=4, rows=rows, compile_seconds={"import": 0.1},
                      tflite_bytes=1000, arena_bytes=200, lower_bound_bytes=300, io_bytes=20, weight_bytes=700,
                      flash=SectionSizes(100, 750, 0, 0))


def test_report_agreement_and_table():
    report = synthetic_report()
    assert report.disagreement() is None
    assert [report.equal_images(key) for key in ("interpreter", "host", "cortex-m4")] == [3, 3, 3]
    table = report.table()
    assert "agreement  yes: int8 outputs bit-identical across interpreter / LiteRT / host C / Cortex-M4 on 3/3" in table
    assert re.search(r"int8 C library, host build \(cc\)\s+1\.0000\s+3/3\s+0\.50", table)
    assert "flash      850 bytes" in table and "arena 200 bytes + 20 bytes" in table


def test_report_names_the_runtime_that_disagrees():
    report = synthetic_report(host_change=True)
    assert report.equal_images("host") == 2
    assert report.disagreement() == "int8 outputs disagree: host C differs from LiteRT on 1 of 3 images"
    assert "agreement  NO: int8 outputs disagree" in report.table()


def test_report_says_what_was_skipped():
    report = synthetic_report(skip_cortex=True)
    assert report.disagreement() is None and report.equal_images("cortex-m4") is None
    table = report.table()
    assert re.search(r"Cortex-M4 \(qemu mps2-an386\)\s+-\s+skipped: needs qemu-system-arm", table)
    assert table_row(table, "cortex-m4").count("skipped") == 1
    assert "host C on 3/3 images (Cortex-M4 skipped)" in table


def test_disagreement_exits_1_with_one_line(capsys, monkeypatch):
    monkeypatch.setattr("qcompiler.cli.demo_command.demo", lambda *a, **k: synthetic_report(host_change=True))
    code, out, err = run_cli(capsys, "demo")
    assert code == 1
    assert "agreement  NO" in out
    assert err == "qcompiler: error: int8 outputs disagree: host C differs from LiteRT on 1 of 3 images\n"


# -- end to end -----------------------------------------------------------------------------------------------------------

needs_host_tools = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None,
                                      reason="the host build needs cc and make")


@needs_host_tools
def test_demo_end_to_end(capsys, tmp_path):
    """The whole job: exit 0, every row, and the agreement claim re-checked from the kept files."""
    from qcompiler.backends.tflite.runtime import run_tflite
    from qcompiler.emulate import missing_tools
    from qcompiler.library_size import missing_size_tools
    from qcompiler.quant_math import quantize
    from qcompiler.types import QuantParams
    import onnxruntime

    out_dir = tmp_path / "demo"
    code, out, _ = run_cli(capsys, "demo", "-o", out_dir)
    assert code == 0, out
    qemu = not missing_tools("mps2-an386")
    for key, _ in RUNTIMES:
        row = table_row(out, key)
        if key == "cortex-m4" and not qemu:
            assert "skipped: needs" in row
            continue
        accuracy = float(row.strip()[len(ROW_TITLES[key]):].split()[0])
        assert accuracy >= 0.9, row
        if key in ("interpreter", "host", "cortex-m4"):
            assert " 50/50 " in row, row
    assert "agreement  yes: int8 outputs bit-identical" in out
    assert re.search(r"\.tflite    (\d+) bytes", out)
    assert (re.search(r"flash      \d+ bytes \(Cortex-M4 library", out) if not missing_size_tools()
            else "code not measured" in out)

    library = out_dir / "digits_cnn"
    tflite = (library / "digits_cnn.tflite").read_bytes()
    assert f".tflite    {len(tflite)} bytes" in out
    assert (library / "Makefile").is_file() and (out_dir / "digits_cnn_int8.qir").is_file()
    arena = int(re.search(r"arena \(RAM\)\s+(\d+) bytes", (library / "report.txt").read_text()).group(1))
    assert f"arena {arena} bytes" in out

    outputs = np.load(out_dir / "outputs.npz")
    with bundled_example() as example:
        # The float row is the model itself: onnxruntime on the bundled images.
        session = onnxruntime.InferenceSession(str(example.model), providers=["CPUExecutionProvider"])
        expected = np.stack([session.run(None, {"input": image[None]})[0] for image in example.images])
        np.testing.assert_allclose(outputs["float"].reshape(expected.shape), expected, rtol=1e-4, atol=1e-4)
        # The LiteRT row is LiteRT on the kept .tflite, fed the images quantized with its input parameters.
        import json
        entry = json.loads((library / "interface.json").read_text())["inputs"][0]
        images = quantize(example.images, QuantParams.per_tensor("i8", entry["scale"], entry["zero_point"]))
        litert = np.stack([run_tflite(tflite, {"input": image[None]})["logits"] for image in images])
    np.testing.assert_array_equal(outputs["litert"].reshape(litert.shape), litert)
    for key in ("interpreter", "host") + (("cortex_m4",) if qemu else ()):
        assert outputs[key].dtype == np.int8
        np.testing.assert_array_equal(outputs[key].reshape(litert.shape), litert)


@needs_host_tools
def test_demo_without_qemu_skips_it_and_cleans_up(capsys, monkeypatch, tmp_path):
    """Without qemu (and without the ARM size tool) the Cortex-M4 row and the flash figure say why they are
    missing, the rest still agrees (exit 0), and the temporary folder is gone afterwards."""
    import qcompiler.emulate
    import qcompiler.library_size

    real = qcompiler.emulate.missing_tools
    monkeypatch.setattr(qcompiler.emulate, "missing_tools", lambda board: (
        ["qemu-system-arm (apt-get install qemu-system-arm)"] if board == "mps2-an386" else real(board)))
    monkeypatch.setattr(qcompiler.library_size, "missing_size_tools",
                        lambda: ["arm-none-eabi-size (apt-get install binutils-arm-none-eabi)"])
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code, out, _ = run_cli(capsys, "demo")
    assert code == 0, out
    assert "skipped: needs qemu-system-arm (apt-get install qemu-system-arm)" in table_row(out, "cortex-m4")
    assert " 50/50 " in table_row(out, "host")
    assert "code not measured (needs arm-none-eabi-size" in out
    assert "(Cortex-M4 skipped)" in out
    assert "in a temporary folder, removed at the end" in out
    assert list(scratch.iterdir()) == []
    assert not list(Path.cwd().glob("digits_cnn*"))
