"""Errors a user can cause, carrying the source location of the op or node they concern."""

from __future__ import annotations

from typing import Optional


class QCompilerError(Exception):
    """An error caused by the user's input: a model, an option, a file. The CLI prints it as one line.

    ``location`` names the user's own node (the ONNX node name an op came from) when there is one.
    """

    def __init__(self, message: str, location: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location:
            return f"{self.location}: {self.message}"
        return self.message


class UsageError(QCompilerError):
    """Bad command-line usage: an unknown option, a missing argument (exit code 2)."""


class VerificationError(QCompilerError):
    """The IR breaks a structural or op-specific rule."""


class ParseError(QCompilerError):
    """Textual IR that cannot be parsed; the location is ``file:line:column``."""


class ModelImportError(QCompilerError):
    """An ONNX model that cannot be imported (malformed, unsupported ops, unsafe external data)."""


class UnsupportedOpError(QCompilerError):
    """An op that a pass, the interpreter or a backend does not handle."""
