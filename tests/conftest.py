"""Shared test fixtures: where the example models and data live.

Tests that take an argument named ``shared_model_path`` run once per shared example model
(/work/shared/models/*.onnx) and those taking ``light_model_path`` once per light architecture model
shipped with the onnx package; the ids are the file stems.
"""

from __future__ import annotations

import os

# One BLAS thread, set before numpy loads: on a 2-core CI machine (worse on a busy one) OpenBLAS's worker
# threads make the interpreter's many small matrix products 10-80x slower than one thread does, and a single
# thread keeps float results reproducible. Subprocesses (the CLI in lit tests) inherit it.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pytest  # noqa: E402

#: The shared example models and digits data (override with QCOMPILER_SHARED_MODELS).
SHARED_MODELS_DIR = Path(os.environ.get("QCOMPILER_SHARED_MODELS", "/work/shared/models"))
#: The light architecture models (224x224 CNNs, opset 9) that ship with the onnx package.
LIGHT_MODELS_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


#: This module: test modules read the constants above with ``from conftest import ...``.
_ROOT_CONFTEST = sys.modules[__name__]


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Make ``conftest`` name this root conftest again before a test module is imported: pytest loads every
    folder's conftest.py as the module ``conftest`` (tests/text/, tests/backends/hexagon/ have one), so the
    last one loaded would otherwise answer ``from conftest import SHARED_MODELS_DIR``."""
    sys.modules["conftest"] = _ROOT_CONFTEST


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The same for imports inside test functions."""
    sys.modules["conftest"] = _ROOT_CONFTEST


def shared_model_paths() -> list[Path]:
    """The shared example models, sorted by name."""
    return sorted(SHARED_MODELS_DIR.glob("*.onnx"))


def light_model_paths() -> list[Path]:
    """The light architecture models, sorted by name."""
    return sorted(LIGHT_MODELS_DIR.glob("*.onnx"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``shared_model_path`` and ``light_model_path`` arguments over the model files."""
    for name, paths in (("shared_model_path", shared_model_paths), ("light_model_path", light_model_paths)):
        if name in metafunc.fixturenames:
            found = paths()
            metafunc.parametrize(name, found, ids=[p.stem for p in found])


@pytest.fixture(scope="session")
def shared_models_dir() -> Path:
    """The folder of the shared example models (skips when it is absent)."""
    if not SHARED_MODELS_DIR.is_dir():
        pytest.skip(f"shared models folder {SHARED_MODELS_DIR} is missing")
    return SHARED_MODELS_DIR


@pytest.fixture(scope="session")
def light_models_dir() -> Path:
    """The folder of the onnx package's light architecture models."""
    return LIGHT_MODELS_DIR


@pytest.fixture(scope="session")
def digits(shared_models_dir: Path) -> dict[str, np.ndarray]:
    """The digits data set: x_calib/y_calib, x_train/y_train, x_test/y_test (pixels in [0, 1], N x 8 x 8)."""
    with np.load(shared_models_dir / "digits.npz") as data:
        return {key: data[key] for key in data.files}
