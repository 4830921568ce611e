"""Writing files atomically, so an interrupted run never leaves a half-written artifact or clobbers an input."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

from qcompiler.errors import QCompilerError

PathLike = Union[str, os.PathLike]


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    A path that names an existing special file (``/dev/null``, ``/dev/stdout``, a FIFO) is written in place:
    renaming over it would replace the device with a regular file.
    """
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        with open(path, "wb") as handle:
            handle.write(data)
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise QCompilerError(f"cannot write {path}: the folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def refuse_overwriting_input(output: PathLike, *inputs: PathLike) -> None:
    """Raise when ``output`` is one of the user's input files, which must never be overwritten."""
    out = Path(output).resolve()
    for item in inputs:
        if Path(item).resolve() == out:
            raise QCompilerError(f"refusing to overwrite the input {item}; choose another output path")
