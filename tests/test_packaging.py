"""Packaging: passes/, backends/ and codegen_templates/ are importable as qcompiler.* in this (editable)
install, and a real wheel carries every source file and the bundled data under those names."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Source folder -> the package it becomes (pyproject.toml's package-dir mapping).
MAPPED = {"qcompiler": "qcompiler", "passes": "qcompiler.passes", "backends": "qcompiler.backends",
          "codegen_templates": "qcompiler.codegen_templates"}
TEMPLATE_SUFFIXES = {".j2", ".c", ".h", ".ld", ".S"}
_IGNORED = shutil.ignore_patterns(".git", "build", "dist", "__pycache__", "*.egg-info", "Output", ".pytest_cache",
                                  ".lit_output", "results", "*.pyc")


def _source_files(tree: Path) -> dict[str, Path]:
    """Every file of the source ``tree`` a wheel must hold, by its path inside the wheel: .py files and data."""
    expected: dict[str, Path] = {}
    for folder, package in MAPPED.items():
        root = tree / folder
        for path in sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(root)
            is_data = (folder == "qcompiler" and relative.parts[0] == "data"
                       or folder == "codegen_templates" and path.suffix in TEMPLATE_SUFFIXES)
            if path.suffix == ".py" or is_data:
                expected["/".join([*package.split("."), *relative.parts])] = path
    return expected


@pytest.mark.parametrize("package, folder", [("qcompiler.passes", "passes"), ("qcompiler.backends", "backends"),
                                             ("qcompiler.codegen_templates", "codegen_templates")])
def test_mapped_packages_resolve_to_repo_folders(package, folder):
    module = __import__(package, fromlist=["_"])
    paths = [Path(p).resolve() for p in module.__path__]
    assert paths == [(REPO / folder).resolve()], f"{package} resolves to {paths}"


def test_builtin_pass_modules_import_through_the_mapping():
    import qcompiler.passes.dce as dce

    assert Path(dce.__file__).resolve() == (REPO / "passes" / "dce.py").resolve()


def test_every_package_folder_is_declared():
    """A new subpackage missing from pyproject.toml would silently be left out of a real install."""
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, package in MAPPED.items():
        for path in (REPO / folder).rglob("*.py"):
            relative = path.parent.relative_to(REPO / folder)
            if "__pycache__" not in relative.parts:
                found.add(".".join([package, *relative.parts]))
    assert found <= declared, f"declare these in pyproject.toml [tool.setuptools] packages: {sorted(found - declared)}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """A wheel built from a copy of the working tree (so that parallel builds never share build/ folders),
    and that copy."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(REPO, source, ignore=_IGNORED)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "out"),
                             str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = (work / "out").glob("qcompiler-*.whl")
    return wheel, source


def test_wheel_holds_every_source_file_and_the_data(built):
    wheel, source = built
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("qcompiler/passes/dce.py", "qcompiler/cli/__init__.py", "qcompiler/data/digits_cnn.onnx",
                     "qcompiler/data/digits_test50.npz"):
        assert required in names
    missing = sorted(set(_source_files(source)) - names)
    assert not missing, f"the wheel lacks {missing}"
    assert not any(name.startswith(("passes/", "backends/", "codegen_templates/", "tests/")) for name in names)
    entry_points = zipfile.ZipFile(wheel).read("qcompiler-0.1.0.dist-info/entry_points.txt").decode()
    assert "qcompiler = qcompiler.cli:main" in entry_points


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_repo(built, tmp_path):
    wheel, _ = built
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    probe = ("import qcompiler.passes.dce, qcompiler.data, qcompiler.cli; "
             "print(qcompiler.passes.dce.__file__)")
    where = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    installed = Path(where.stdout.strip()).resolve()
    assert installed.is_relative_to(venv.resolve()), f"imported {installed}, not the wheel's copy"
    listing = subprocess.run([str(venv / "bin" / "qcompiler"), "passes", "dce"], capture_output=True, text=True,
                             cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith("dce\n")


def test_ci_script_runs_the_readme_test_command():
    """CI and the README agree: .ci/run ends with exactly the test command the README gives new users."""
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands[0] == "pip install -e .[dev] && qcompiler demo"
    script = REPO / ".ci" / "run"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    lines = [line.strip() for line in script.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert "set -euo pipefail" in lines
    assert lines[-1] == commands[1] == "python -m pytest"
