"""The generated library as a firmware engineer gets it: the static libraries (host and Cortex-M4) need nothing
from libc beyond string.h (and the compiler's own runtime helpers on the M4), and CMake builds the library and
its harness as the Makefile does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qcompiler.backends.mcu import write_library
from qcompiler.ir import Graph
from qcompiler.types import TensorType

from mcu_checks import quantized, require_board

#: What the library may take from outside itself: string.h.
STRING_H = {"memcpy", "memmove", "memset"}


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """A small model touching most kernels: conv, depthwise, pool, add, mean, dense, softmax, float edges."""
    rng = np.random.default_rng(0)
    graph = Graph()
    x = graph.add_input("x", TensorType((1, 6, 6, 2), "f32"))
    conv = graph.create("core.conv2d", [x, graph.const(rng.normal(0, .5, (4, 3, 3, 2)).astype(np.float32)), None],
                        {"padding": [1, 1, 1, 1], "activation": "relu"}).result
    dw = graph.create("core.depthwise_conv2d", [conv, graph.const(rng.normal(0, .5, (1, 3, 3, 4)).astype(np.float32)),
                                                None], {"padding": [1, 1, 1, 1]}).result
    total = graph.create("core.add", [conv, dw], {}).result
    pooled = graph.create("core.max_pool2d", [total], {"kernel": [2, 2], "strides": [2, 2]}).result
    mean = graph.create("core.mean", [pooled], {"axes": [1, 2], "keepdims": False}).result
    logits = graph.create("core.fully_connected", [mean, graph.const(rng.normal(0, .5, (5, 4)).astype(np.float32)),
                                                   None], {}).result
    graph.set_outputs([graph.create("core.softmax", [logits], {}).result], ["probs"])
    samples = {"x": rng.standard_normal((16, 1, 6, 6, 2)).astype(np.float32)[:, 0]}
    folder = tmp_path_factory.mktemp("library") / "lib"
    write_library(quantized(graph, samples), str(folder), "small")
    return folder


def symbols(archive: Path, nm: str, *flags: str) -> set[str]:
    listing = subprocess.run([nm, *flags, str(archive)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in listing.splitlines() if line.strip() and not line.endswith(":")}


@pytest.mark.parametrize("board,target,nm", [("host", "lib", "nm"), ("mps2-an386", "cm4-lib", "arm-none-eabi-nm")])
def test_library_needs_only_string_h(library, tmp_path, board, target, nm):
    require_board(board)
    subprocess.run(["make", "-s", "-C", str(library), f"BUILD={tmp_path}", target], check=True, capture_output=True)
    archive = next(tmp_path.rglob("libsmall.a"))
    needed = symbols(archive, nm, "-u") - symbols(archive, nm, "--defined-only")
    runtime_helpers = {name for name in needed if name.startswith("__aeabi_")} if board != "host" else set()
    assert needed - runtime_helpers <= STRING_H, needed
    for source in library.rglob("*.[ch]"):
        if "harness" not in source.parts:
            includes = {line.split()[1] for line in source.read_text().splitlines() if line.startswith("#include")}
            assert all(name.startswith('"') or name in ("<stdint.h>", "<string.h>") for name in includes), source


def test_cmake_builds_library_and_harness(library, tmp_path):
    if shutil.which("cmake") is None or shutil.which("cc") is None:
        pytest.skip("needs cmake and a C compiler")
    build = tmp_path / "cmake-build"
    subprocess.run(["cmake", "-S", str(library), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True)
    assert (build / "libsmall.a").is_file() and (build / "small_host").is_file()
