"""The command line end to end: every command, its files and streams, and every kind of bad input
(one line on stderr, exit 1; exit 2 for bad usage; never a traceback without --debug)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcompiler.cli import main
from qcompiler.text import load_graph

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "qcompiler" / "data"
CNN = DATA / "digits_cnn.onnx"
SAMPLES = DATA / "digits_test50.npz"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``qcompiler argv`` in process; return the exit code, stdout and stderr."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_script(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed ``qcompiler`` console script (for what only a fresh process shows: plugins, signals)."""
    return subprocess.run([sys.executable, "-m", "qcompiler", *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def assert_one_line_error(err: str, *fragments: str) -> None:
    """stderr is exactly one ``qcompiler: error:`` line containing every fragment, and no traceback."""
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("qcompiler: error: "), lines[0]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def save_model(path: Path, nodes, inputs, outputs, initializers=(), opsets=(("", 17),)) -> Path:
    """Write a small ONNX model built with onnx.helper."""
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def onnxruntime_logits(images: np.ndarray) -> np.ndarray:
    """The bundled CNN's logits from onnxruntime, one image (1x16x16) at a time, stacked: (N, 1, 10)."""
    session = ort.InferenceSession(str(CNN), providers=["CPUExecutionProvider"])
    return np.stack([session.run(None, {"input": image[None]})[0] for image in images])


IDENTITY_QIR = """\
func @main(%x: tensor<4xf32>) -> (y: tensor<4xf32>, z: tensor<4xf32>) {
  %a = onnx.Identity(%x) : tensor<4xf32> loc("id1")
  %dead = onnx.Relu(%a) : tensor<4xf32> loc("dead_relu")
  %y = onnx.Neg(%a) : tensor<4xf32> loc("neg")
  %z = onnx.Identity(%y) : tensor<4xf32> loc("id2")
  return %y, %z
}
"""


@pytest.fixture
def identity_qir(tmp_path) -> Path:
    path = tmp_path / "identity.qir"
    path.write_text(IDENTITY_QIR)
    return path


@pytest.fixture
def readme_plugin(tmp_path) -> Path:
    """The pass plugin the README shows, verbatim, so that the README cannot drift from what works."""
    readme = (REPO / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    path = tmp_path / "my_passes.py"
    path.write_text(code)
    return path


# -- help and usage -----------------------------------------------------------------------------------

def test_help_lists_every_command(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for command in ("import", "opt", "run", "passes", "demo"):
        assert re.search(rf"^\s+{command}\s+\w", out, re.M), f"{command} missing from --help"


@pytest.mark.parametrize("command", ["import", "opt", "run", "passes", "demo"])
def test_subcommand_help(capsys, command):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: qcompiler {command}")


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["opt"], ["run", str(CNN)], ["opt", "x.qir", "--bogus"],
                                  ["run", str(CNN), "--input", "a.npy", "--inputs", "s.npz"]])
def test_bad_usage_exits_2(capsys, argv):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err


# -- import -------------------------------------------------------------------------------------------

def test_import_to_stdout_and_file(capsys, tmp_path):
    code, out, err = run_cli(capsys, "import", CNN)
    assert code == 0 and err == ""
    assert out.startswith("func @") and "onnx.Conv" in out and "dialect_resources" in out
    code, out, _ = run_cli(capsys, "import", CNN, "-o", tmp_path / "cnn.qir")
    assert code == 0 and out == ""
    graph = load_graph(tmp_path / "cnn.qir")
    assert [v.name for v in graph.inputs] == ["input"] and graph.output_names == ["logits"]


def test_import_elide_constants(capsys):
    code, out, _ = run_cli(capsys, "import", CNN, "--elide-constants")
    assert code == 0 and "__elided__" in out and "dialect_resources" not in out


def test_import_input_shape(capsys, tmp_path):
    model = save_model(tmp_path / "dyn.onnx", [helper.make_node("Relu", ["x"], ["y"], name="relu")],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    code, out, _ = run_cli(capsys, "import", model, "--input-shape", "x=2x3")
    assert code == 0 and "%x: tensor<2x3xf32>" in out and "tensor<2x3xf32> loc(\"relu\")" in out
    code, _, err = run_cli(capsys, "import", model, "--input-shape", "x=2xq-")
    assert code == 2
    assert_one_line_error(err, "'q-' is not a dimension")
    code, _, err = run_cli(capsys, "import", model, "--input-shape", "2x3")
    assert code == 2
    assert_one_line_error(err, "NAME=SHAPE")
    code, _, err = run_cli(capsys, "import", model, "--input-shape", "nope=2x3")
    assert code == 1
    assert_one_line_error(err, "nope")


# -- opt ----------------------------------------------------------------------------------------------

def test_opt_round_trip_is_exact(capsys, tmp_path):
    assert run_cli(capsys, "import", CNN, "-o", tmp_path / "cnn.qir")[0] == 0
    code, out, _ = run_cli(capsys, "opt", tmp_path / "cnn.qir")
    assert code == 0
    assert out == (tmp_path / "cnn.qir").read_text()


def test_opt_pipeline_keeps_outputs(capsys, tmp_path):
    """dce on the imported CNN, written to a file, then run: same logits as onnxruntime."""
    code, _, _ = run_cli(capsys, "opt", CNN, "-p", "dce", "-o", tmp_path / "clean.qir")
    assert code == 0
    images = np.load(SAMPLES)["input"][:3]
    np.save(tmp_path / "x.npy", images[0])
    code, _, _ = run_cli(capsys, "run", tmp_path / "clean.qir", "--input", f"input={tmp_path / 'x.npy'}",
                         "--output-dir", tmp_path / "outs")
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "outs" / "logits.npy"), onnxruntime_logits(images[:1])[0],
                               rtol=1e-5, atol=1e-5)


def test_opt_removes_dead_code_from_stdin(capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(IDENTITY_QIR))
    code, out, _ = run_cli(capsys, "opt", "-", "-p", "dce")
    assert code == 0 and "onnx.Relu" not in out and "onnx.Neg" in out


def test_opt_instrumentation(capsys, tmp_path, identity_qir):
    code, out, err = run_cli(capsys, "opt", identity_qir, "-p", "dce,cse", "--print-ir-after-all",
                             "--print-ir-before", "dce", "--timing", "--dump-dir", tmp_path / "dumps")
    assert code == 0
    assert "IR Dump Before dce" in err and "IR Dump After dce" in err and "IR Dump After cse" in err
    assert "IR Dump Before cse" not in err
    assert "onnx.Relu" not in out and "IR Dump" not in out
    dumps = sorted(p.name for p in (tmp_path / "dumps").iterdir())
    assert len(dumps) >= 3 and all(name.endswith(".qir") for name in dumps)
    code, _, err = run_cli(capsys, "opt", identity_qir, "-p", "dce", "--print-ir-after", "dce,cse",
                           "--no-verify-each")
    assert code == 0 and "IR Dump After dce" in err


def test_opt_refuses_to_overwrite_its_input(capsys, identity_qir):
    code, _, err = run_cli(capsys, "opt", identity_qir, "-p", "dce", "-o", identity_qir)
    assert code == 1
    assert_one_line_error(err, "refusing to overwrite")
    assert identity_qir.read_text() == IDENTITY_QIR


def test_opt_writes_into_a_special_file_without_replacing_it(capsys, tmp_path, identity_qir):
    """``-o /dev/null`` or a FIFO is written in place; an atomic rename would swap the device for a file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, _, _ = run_cli(capsys, "opt", identity_qir, "-p", "dce", "-o", fifo)
    reader.join(timeout=60)
    assert code == 0
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert b"func @main" in received[0] and sorted(os.listdir(tmp_path)) == sorted(["pipe", identity_qir.name])


def test_opt_with_the_readme_plugin(tmp_path, identity_qir, readme_plugin):
    result = run_script("opt", identity_qir, "--load-pass-plugin", readme_plugin,
                        "-p", "drop-identities{keep-outputs=false},dce", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "onnx.Identity" not in result.stdout and "return %y, %y" in result.stdout
    kept = run_script("opt", identity_qir, "--load-pass-plugin", readme_plugin, "-p", "drop-identities,dce",
                      cwd=tmp_path)
    assert kept.returncode == 0 and "loc(\"id2\")" in kept.stdout and "loc(\"id1\")" not in kept.stdout


# -- run ----------------------------------------------------------------------------------------------

def test_run_many_samples_matches_onnxruntime(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "run", CNN, "--inputs", SAMPLES, "-o", tmp_path / "outputs.npz")
    assert code == 0 and out == ""
    with np.load(tmp_path / "outputs.npz") as outputs:
        assert outputs.files == ["logits"]
        logits = outputs["logits"]
    images = np.load(SAMPLES)["input"]
    assert logits.shape == (len(images), 1, 10)
    np.testing.assert_allclose(logits, onnxruntime_logits(images), rtol=1e-4, atol=1e-5)


def test_run_samples_folder_to_output_dir_and_stdout(capsys, tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    np.save(folder / "input.npy", np.load(SAMPLES)["input"][:4][:, None])  # with the batch axis this time
    code, _, _ = run_cli(capsys, "run", CNN, "--inputs", folder, "--output-dir", tmp_path / "outs")
    assert code == 0
    assert np.load(tmp_path / "outs" / "logits.npy").shape == (4, 1, 10)
    code, out, _ = run_cli(capsys, "run", CNN, "--inputs", folder)
    assert code == 0 and out.startswith("logits: 4x1x10 float32\n")


def test_run_one_sample_without_input_name(capsys, tmp_path):
    image = np.load(SAMPLES)["input"][7]
    np.save(tmp_path / "x.npy", image)
    code, out, _ = run_cli(capsys, "run", CNN, "--input", tmp_path / "x.npy")
    assert code == 0 and out.startswith("logits: 1x10 float32\n")
    code, _, _ = run_cli(capsys, "run", CNN, "--input", tmp_path / "x.npy", "-o", tmp_path / "one.npz")
    with np.load(tmp_path / "one.npz") as outputs:
        np.testing.assert_allclose(outputs["logits"], onnxruntime_logits(image[None])[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arrays, fragments", [
    ({"image": np.zeros((2, 1, 16, 16), np.float32)}, ["'image'", "its inputs are: input"]),
    ({"input": np.zeros((2, 1, 8, 8), np.float32)}, ["input 'input'", "1x8x8", "expected 1x1x16x16"]),
    ({"input": np.full((2, 1, 16, 16), np.nan, np.float32)}, ["NaN"]),
    ({"input": np.zeros((0, 1, 16, 16), np.float32)}, ["zero samples"]),
])
def test_run_bad_samples(capsys, tmp_path, arrays, fragments):
    np.savez(tmp_path / "bad.npz", **arrays)
    code, _, err = run_cli(capsys, "run", CNN, "--inputs", tmp_path / "bad.npz", "-o", tmp_path / "o.npz")
    assert code == 1
    assert_one_line_error(err, *fragments)
    assert not (tmp_path / "o.npz").exists()


def test_run_samples_from_a_lone_npy_is_a_one_line_error(capsys, tmp_path):
    """An .npy holds one unnamed array: --inputs wants named arrays (an .npz or a folder of <input>.npy)."""
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 16, 16), np.float32))
    code, _, err = run_cli(capsys, "run", CNN, "--inputs", tmp_path / "x.npy")
    assert code == 1
    assert_one_line_error(err, "must be an .npz file or a folder of .npy files")


def test_run_refuses_to_overwrite_samples(capsys, tmp_path):
    samples = tmp_path / "s.npz"
    samples.write_bytes(SAMPLES.read_bytes())
    code, _, err = run_cli(capsys, "run", CNN, "--inputs", samples, "-o", samples)
    assert code == 1
    assert_one_line_error(err, "refusing to overwrite")
    assert samples.read_bytes() == SAMPLES.read_bytes()


# -- passes ----------------------------------------------------------------------------------------

def test_passes_lists_docs_and_options(capsys):
    code, out, _ = run_cli(capsys, "passes")
    assert code == 0
    assert re.search(r"^dce\n    Remove ops whose results are never used", out, re.M)
    assert re.search(r"^fold-constants\n", out, re.M)
    assert re.search(r"^        max-elements: int = \d+", out, re.M)
    code, out, _ = run_cli(capsys, "passes", "dce")
    assert code == 0 and out.startswith("dce\n") and "fold-constants" not in out


def test_passes_includes_plugins(tmp_path, readme_plugin):
    result = run_script("passes", "--load-pass-plugin", readme_plugin, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "drop-identities\n    Replace every onnx.Identity by its input." in result.stdout
    assert "keep-outputs: bool = true" in result.stdout


def test_passes_lists_named_pipelines(tmp_path):
    plugin = tmp_path / "pipelines.py"
    plugin.write_text("from qcompiler.pass_manager import register_pipeline\n"
                      "register_pipeline('tidy-up', 'cse,dce', 'Merge duplicates, then drop dead ops.')\n")
    result = run_script("passes", "--load-pass-plugin", plugin, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = result.stdout.split("Pipelines:", 1)[1]
    assert "tidy-up  (pipeline)\n    Merge duplicates, then drop dead ops.\n    runs: cse,dce\n" in listing
    one = run_script("passes", "tidy-up", "--load-pass-plugin", plugin, cwd=tmp_path)
    assert one.returncode == 0 and one.stdout.startswith("tidy-up  (pipeline)\n")


# -- bad input: one line, exit 1 ----------------------------------------------------------------------

def test_truncated_onnx(capsys, tmp_path):
    data = CNN.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(capsys, "import", tmp_path / "cut.onnx")
    assert code == 1
    assert_one_line_error(err, "cut.onnx")


def test_unsupported_op(capsys, tmp_path):
    model = save_model(tmp_path / "foo.onnx", [helper.make_node("Foo", ["x"], ["y"], domain="com.example",
                                                                name="my_foo")],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                       opsets=(("", 17), ("com.example", 1)))
    code, _, err = run_cli(capsys, "opt", model, "-p", "dce")
    assert code == 1
    assert_one_line_error(err, "Foo", "my_foo")


def test_external_data_escaping_its_folder(capsys, tmp_path):
    (tmp_path / "secret.bin").write_bytes(np.ones(4, np.float32).tobytes())
    weight = numpy_helper.from_array(np.ones(4, np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"
    model = save_model(tmp_path / "sub" / "escape.onnx", [helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], initializers=[weight])
    code, out, err = run_cli(capsys, "import", model)
    assert code == 1 and out == ""
    assert_one_line_error(err, "../secret.bin", "outside")


@pytest.mark.parametrize("pipeline, fragments", [
    ("dcee", ["unknown pass 'dcee'", "dce"]),
    ("fold-constants{max-elements=lots}", ["max-elements", "lots"]),
    ("fold-constants{no-such-option=1}", ["no-such-option"]),
    ("dce,,{", ["column"]),
])
def test_bad_pipeline(capsys, identity_qir, pipeline, fragments):
    code, out, err = run_cli(capsys, "opt", identity_qir, "-p", pipeline)
    assert code == 1 and out == ""
    assert_one_line_error(err, *fragments)


def test_unknown_pass_listing(capsys):
    code, _, err = run_cli(capsys, "passes", "dcee")
    assert code == 1
    assert_one_line_error(err, "dcee")


@pytest.mark.parametrize("argv", [
    ["import", "missing.onnx"], ["opt", "missing.qir"], ["run", "missing.qir", "--input", "x.npy"],
    ["run", str(CNN), "--input", "input=missing.npy"], ["run", str(CNN), "--inputs", "missing.npz"],
    ["opt", "x.qir", "--load-pass-plugin", "missing_plugin.py"],
])
def test_missing_files(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.qir").write_text(IDENTITY_QIR)
    code, _, err = run_cli(capsys, *argv)
    assert code == 1
    assert_one_line_error(err, "missing")


def test_malformed_ir(capsys, tmp_path):
    (tmp_path / "bad.qir").write_text(IDENTITY_QIR.replace("onnx.Neg(%a)", "onnx.Neg(%nowhere)"))
    code, _, err = run_cli(capsys, "opt", tmp_path / "bad.qir")
    assert code == 1
    assert_one_line_error(err, "nowhere")


def test_output_folder_missing(capsys, tmp_path, identity_qir):
    code, _, err = run_cli(capsys, "opt", identity_qir, "-o", tmp_path / "no" / "such" / "out.qir")
    assert code == 1
    assert_one_line_error(err, "does not exist")


# -- failures that are not the user's: one line saying so, --debug for the traceback, Ctrl-C quiet ----

FAILING_PLUGIN = """\
from qcompiler.pass_manager import register_pass


@register_pass("explode")
def explode(graph, what: str = "bug") -> bool:
    \"\"\"Fail in the way ``what`` says.\"\"\"
    if what == "interrupt":
        raise KeyboardInterrupt
    raise ZeroDivisionError("the pass divided by zero")
"""


@pytest.fixture
def failing_plugin(tmp_path) -> Path:
    path = tmp_path / "failing.py"
    path.write_text(FAILING_PLUGIN)
    return path


def test_internal_error_is_one_line(tmp_path, identity_qir, failing_plugin):
    result = run_script("opt", identity_qir, "--load-pass-plugin", failing_plugin, "-p", "explode", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert_one_line_error(result.stderr, "internal error", "ZeroDivisionError", "--debug")
    debug = run_script("opt", identity_qir, "--load-pass-plugin", failing_plugin, "-p", "explode", "--debug",
                       cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


def test_interrupt_exits_130_quietly(tmp_path, identity_qir, failing_plugin):
    result = run_script("opt", identity_qir, "--load-pass-plugin", failing_plugin, "-p", "explode{what=interrupt}",
                        cwd=tmp_path)
    assert result.returncode == 130 and result.stderr == "" and result.stdout == ""


def test_console_script_matches_module_entry(tmp_path):
    """The installed ``qcompiler`` command is this main()."""
    script = Path(sys.executable).parent / "qcompiler"
    command = [str(script)] if script.is_file() else ["qcompiler"]
    result = subprocess.run([*command, "passes", "dce"], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0 and result.stdout.startswith("dce\n")


def test_entry_point_passes_are_loaded(tmp_path, identity_qir):
    """A distribution publishing passes in the ``qcompiler.passes`` entry-point group needs no flag."""
    site = tmp_path / "site"
    (site / "ep_demo_passes-1.0.dist-info").mkdir(parents=True)
    (site / "ep_demo_passes-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-demo-passes\n"
                                                                   "Version: 1.0\n")
    (site / "ep_demo_passes-1.0.dist-info" / "entry_points.txt").write_text(
        "[qcompiler.passes]\nep-demo = ep_demo_passes\n")
    (site / "ep_demo_passes.py").write_text(
        "from qcompiler.pass_manager import register_pass\n\n\n"
        "@register_pass('negate-to-abs')\n"
        "def negate_to_abs(graph) -> bool:\n"
        "    \"\"\"Turn every onnx.Neg into onnx.Abs (a test pass from an entry point).\"\"\"\n"
        "    ops = graph.ops_of_kind('onnx.Neg')\n"
        "    for op in ops:\n"
        "        op.kind = 'onnx.Abs'\n"
        "    return bool(ops)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    for argv, expected in ((["passes", "negate-to-abs"], "Turn every onnx.Neg into onnx.Abs"),
                           (["opt", str(identity_qir), "-p", "negate-to-abs"], "%y = onnx.Abs(%a)")):
        result = subprocess.run([sys.executable, "-m", "qcompiler", *argv], capture_output=True, text=True,
                                cwd=tmp_path, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout
