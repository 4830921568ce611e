"""The test suite's own layout: pytest imports test modules without packages, by their file name, so two test
files with one name in different folders break collection of the whole suite; and ``from conftest import``
must reach the root conftest even where a folder has its own conftest.py."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_test_module_names_are_unique_across_folders() -> None:
    folders_by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        folders_by_name[path.name].append(str(path.parent.relative_to(TESTS)))
    clashes = {name: sorted(folders) for name, folders in folders_by_name.items() if len(folders) > 1}
    assert not clashes, f"rename one of each: {clashes}"


def test_conftest_names_the_root_conftest() -> None:
    from conftest import SHARED_MODELS_DIR, shared_model_paths

    assert isinstance(SHARED_MODELS_DIR, Path) and callable(shared_model_paths)
