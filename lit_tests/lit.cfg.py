"""lit configuration: textual-IR tests (``*.qir``) whose ``// RUN:`` lines pipe ``qcompiler`` into ``filecheck``.

Run with ``lit lit_tests`` (``python -m pytest`` runs it through tests/test_lit.py). ``qcompiler`` and
``filecheck`` resolve to the console scripts installed next to the Python that runs lit.
"""

import os
import shutil
import sys
import sysconfig

import lit.formats

config.name = "qcompiler"  # noqa: F821 - ``config`` is provided by lit
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".qir"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)


def _console_script(name: str) -> str:
    """The installed console script ``name``: next to this Python first, then on PATH."""
    folders = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    for folder in folders:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is None:
        lit_config.fatal(f"cannot find the '{name}' command; run 'pip install -e .[dev]' first")  # noqa: F821
    return found


# A tool name is replaced only where it stands as a command word, not inside a path or another word.
for _tool in ("qcompiler", "filecheck"):
    config.substitutions.append((rf"(?<![\w/.%-]){_tool}(?![\w/.-])", _console_script(_tool)))

# Keep the user's environment (PATH for the tools, a virtualenv); FileCheck colours off for readable logs.
for _variable in ("PATH", "HOME", "VIRTUAL_ENV", "PYTHONPATH"):
    if _variable in os.environ:
        config.environment[_variable] = os.environ[_variable]
config.environment["NO_COLOR"] = "1"
