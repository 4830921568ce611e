"""Runs the lit + FileCheck suite (lit_tests/) so that ``python -m pytest`` covers it too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def lit_command() -> list[str]:
    """The ``lit`` console script installed next to this Python (or on PATH)."""
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = Path(folder) / "lit"
        if candidate.is_file():
            return [str(candidate)]
    found = shutil.which("lit")
    if found is None:
        pytest.fail("the 'lit' command is not installed; run 'pip install -e .[dev]'")
    return [found]


def test_lit_suite_passes():
    result = subprocess.run([*lit_command(), "-q", "-j", "2", str(REPO / "lit_tests")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, f"lit failed:\n{result.stdout}\n{result.stderr}"


def test_lit_suite_has_tests():
    """The suite is discovered (a broken lit.cfg.py would otherwise find nothing and pass)."""
    result = subprocess.run([*lit_command(), "--show-tests", str(REPO / "lit_tests")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "dce/unused_chain.qir" in result.stdout
