"""Custom passes from outside the package: a user's .py file (``--load-pass-plugin``) or the
``qcompiler.passes`` entry-point group of installed distributions. Both register through ``register_pass``."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
from types import ModuleType
from typing import Union

from qcompiler.errors import QCompilerError

_LOADED: dict[str, ModuleType] = {}


def load_pass_plugin(path: Union[str, os.PathLike]) -> ModuleType:
    """Import the Python file at ``path`` so that its decorators register passes; return the module.

    The module gets a unique name derived from the file's absolute path, so two plugins called ``passes.py``
    do not collide; loading the same file again returns the module already loaded. A missing file, a syntax
    error or an exception while importing becomes a one-line ``QCompilerError`` naming the file.
    """
    text_path = os.fspath(path)
    absolute = os.path.realpath(text_path)
    if absolute in _LOADED:
        return _LOADED[absolute]
    if not os.path.isfile(absolute):
        raise QCompilerError(f"pass plugin {text_path}: no such file")
    stem = os.path.splitext(os.path.basename(absolute))[0]
    digest = hashlib.sha1(absolute.encode("utf-8")).hexdigest()[:12]
    module_name = f"qcompiler_plugin_{''.join(c if c.isalnum() else '_' for c in stem)}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, absolute)
    if spec is None or spec.loader is None:
        raise QCompilerError(f"pass plugin {text_path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = os.path.dirname(absolute)
    sys.path.insert(0, folder)  # like running a script: the plugin may import modules next to it
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        sys.modules.pop(module_name, None)
        raise QCompilerError(f"pass plugin {text_path}: syntax error at line {error.lineno}: {error.msg}") from None
    except QCompilerError as error:
        sys.modules.pop(module_name, None)
        raise QCompilerError(f"pass plugin {text_path}: {error}") from None
    except Exception as error:  # any exception raised by the user's module while it is imported
        sys.modules.pop(module_name, None)
        raise QCompilerError(f"pass plugin {text_path} failed to import: {type(error).__name__}: {error}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    _LOADED[absolute] = module
    return module


ENTRY_POINT_GROUP = "qcompiler.passes"


def load_entry_point_passes() -> list[str]:
    """Load every entry point of the ``qcompiler.passes`` group (importing registers the passes).

    An entry point may name a module or an object; if the object is a pass class or function that is not
    registered yet, it is registered. Returns the entry-point names loaded, in a deterministic order.
    """
    from qcompiler.pass_manager.registry import Pass, register_pass

    entry_points = importlib.metadata.entry_points()
    if hasattr(entry_points, "select"):
        selected = list(entry_points.select(group=ENTRY_POINT_GROUP))
    else:  # the dict interface of older importlib.metadata
        selected = list(entry_points.get(ENTRY_POINT_GROUP, []))
    loaded = []
    for entry_point in sorted(selected, key=lambda ep: (ep.name, ep.value)):
        try:
            obj = entry_point.load()
        except QCompilerError as error:
            raise QCompilerError(f"pass entry point '{entry_point.name}' ({entry_point.value}): {error}") from None
        except Exception as error:  # any exception raised by the third-party module while it is imported
            raise QCompilerError(f"pass entry point '{entry_point.name}' ({entry_point.value}) failed to load: "
                                 f"{type(error).__name__}: {error}") from None
        if isinstance(obj, type) and issubclass(obj, Pass):
            register_pass(obj)
        elif callable(obj) and not isinstance(obj, type) and not isinstance(obj, ModuleType) \
                and getattr(obj, "pass_class", None) is None:
            register_pass(obj, name=entry_point.name)
        loaded.append(entry_point.name)
    return loaded
