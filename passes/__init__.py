"""The built-in passes, one module per pass (or small family); importing a module registers its passes.

``load_builtin_passes`` imports every module of this package once, in name order, so that the pass registry
knows them all without this file listing them.
"""

from __future__ import annotations

import importlib
import pkgutil

_loaded = False


def load_builtin_passes() -> None:
    """Import every pass module of this package (once); a module that fails to import is reported by name."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from qcompiler.errors import QCompilerError

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{info.name}")
        except QCompilerError as error:
            _loaded = False
            raise QCompilerError(f"built-in pass module qcompiler.passes.{info.name}: {error}") from None
        except Exception as error:  # a broken module must not hide which one it is
            _loaded = False
            raise QCompilerError(f"built-in pass module qcompiler.passes.{info.name} failed to import: "
                                 f"{type(error).__name__}: {error}") from error
