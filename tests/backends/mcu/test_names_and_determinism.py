"""Node and tensor names reach the generated C only as identifiers or escaped comment text: C-hostile names
(comment ends, newlines with preprocessor lines, quotes, backslashes, trigraphs, non-ASCII) compile with
-Werror, define nothing, and the outputs still match LiteRT. Generating twice gives identical files."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from qcompiler.backends.c_common.identifiers import IdentifierTable, c_identifier, comment_text
from qcompiler.backends.mcu import generate
from qcompiler.ir import Graph
from qcompiler.types import TensorType

from mcu_checks import assert_c_matches_litert, quantized, require_board

HOSTILE = [
    'conv */ int QC_INJECTED_A = 1; /*',
    'line\n#error QC_INJECTED_B\n',
    'quote " \' and backslash \\\nint QC_INJECTED_C;',
    'trigraph ??/\nint QC_INJECTED_D;',
    'ünïcødé ☃ 名前 // QC_INJECTED_E',
    '%2A%2F percent',
]


def test_comment_text_keeps_only_safe_ascii():
    for name in HOSTILE:
        text = comment_text(name, limit=1000)
        assert text.isascii() and text.isprintable()
        for bad in ("*/", "/*", "//", "\\", "?", "\n", '"', "'"):
            assert bad not in text
    assert comment_text("ok name_1") == "ok name_1"
    assert comment_text("/c1/Conv") == "%2Fc1/Conv" and comment_text("a*") == "a%2A"
    assert "*/" not in comment_text("a*/b") and "/*" not in comment_text("a/*b") and "//" not in comment_text("a//b")


def test_identifiers_are_c_identifiers_and_distinct():
    table = IdentifierTable()
    names = [table.unique(name) for name in HOSTILE + ["int", "9lives", "", "_x", "a b", "a_b"]]
    assert len(set(names)) == len(names)
    for name in names:
        assert name.isascii() and (name[0].isalpha() or name[0] == "_") and name.replace("_", "a").isalnum()
        assert not name.startswith("_")
    assert c_identifier("int") != "int"


def hostile_graph() -> Graph:
    """conv -> add -> reshape -> fully_connected -> softmax with a hostile name on every op, value and I/O."""
    rng = np.random.default_rng(0)
    graph = Graph()
    x = graph.add_input(HOSTILE[0], TensorType((1, 4, 4, 2), "f32"))
    w = graph.const(rng.normal(0, 0.5, (3, 3, 3, 2)).astype(np.float32), HOSTILE[1])
    conv = graph.create("core.conv2d", [x, w, None], {"padding": [1, 1, 1, 1], "activation": "relu"},
                        loc=HOSTILE[2], result_names=[HOSTILE[3]]).result
    doubled = graph.create("core.add", [conv, conv], {}, loc=HOSTILE[4], result_names=[HOSTILE[5]]).result
    flat = graph.create("core.reshape", [doubled], {"shape": [1, 48]}, loc=HOSTILE[1],
                        result_names=[HOSTILE[2]]).result
    fc_w = graph.const(rng.normal(0, 0.3, (6, 48)).astype(np.float32), HOSTILE[4])
    logits = graph.create("core.fully_connected", [flat, fc_w, None], {}, loc=HOSTILE[3],
                          result_names=[HOSTILE[0]]).result
    probs = graph.create("core.softmax", [logits], {}, loc=HOSTILE[5], result_names=[HOSTILE[4]]).result
    graph.set_outputs([probs], [HOSTILE[2]])
    return graph


def samples(count: int, seed: int) -> dict[str, np.ndarray]:
    return {HOSTILE[0]: np.random.default_rng(seed).standard_normal((count, 1, 4, 4, 2)).astype(np.float32)}


def test_hostile_names_compile_and_cannot_inject(tmp_path):
    require_board("host")
    graph = quantized(hostile_graph(), {HOSTILE[0]: samples(16, 1)[HOSTILE[0]][:, 0]})
    folder = tmp_path / "lib"
    assert_c_matches_litert(graph, samples(6, 2), folder, ("host",), sanitize=True, name="model")
    for path in folder.rglob("*"):
        if path.suffix in (".c", ".h", ".txt", ".md", ".ld") or path.name == "Makefile":
            text = path.read_bytes()
            assert text.isascii(), path
            if path.suffix in (".c", ".h"):
                assert b"??/" not in text and b"\\\n" not in text, path
    objects = tmp_path / "objects"
    objects.mkdir()
    for source in [folder / "model.c", folder / "model_weights.c"]:
        target = objects / (source.stem + ".o")
        subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(folder), "-I",
                        str(folder / "kernels"), "-c", str(source), "-o", str(target)], check=True)
        symbols = subprocess.run(["nm", str(target)], capture_output=True, text=True, check=True).stdout
        defined = {line.split()[-1] for line in symbols.splitlines() if line.strip()}
        assert not {f"QC_INJECTED_{tag}" for tag in "ABCDE"} & defined


def test_compiling_twice_gives_identical_files():
    first = generate(quantized(hostile_graph(), {HOSTILE[0]: samples(16, 1)[HOSTILE[0]][:, 0]}), "twice")
    second = generate(quantized(hostile_graph(), {HOSTILE[0]: samples(16, 1)[HOSTILE[0]][:, 0]}), "twice")
    assert first.files == second.files


def test_library_name_is_sanitized():
    library = generate(quantized(hostile_graph(), {HOSTILE[0]: samples(8, 1)[HOSTILE[0]][:, 0]}), "my model-v2")
    assert library.name == "my_model_v2"
    assert "my_model_v2.h" in library.files and "MY_MODEL_V2_ARENA_SIZE" in library.files["my_model_v2.h"]


def test_compile_command_twice_in_fresh_processes_gives_identical_folders(tmp_path):
    import sys

    from conftest import SHARED_MODELS_DIR
    from quant_support import digits_split

    calibration, _ = digits_split(SHARED_MODELS_DIR, "digits_mobilenet", "calib", 50)
    np.savez(tmp_path / "calib.npz", input=calibration)
    folders = []
    for run in range(2):
        folder = tmp_path / f"out{run}"
        subprocess.run([sys.executable, "-m", "qcompiler", "compile", str(SHARED_MODELS_DIR / "digits_mobilenet.onnx"),
                        "--target", "mcu", "--quantize", "int8", "--calibration", str(tmp_path / "calib.npz"),
                        "-o", str(folder)], check=True, capture_output=True)
        folders.append({p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()})
    assert folders[0] == folders[1]
