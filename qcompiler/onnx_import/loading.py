"""Reading an ONNX model from a file or a ``ModelProto``, with safe loading of external tensor data.

Every failure (missing, truncated or non-ONNX file, external data that escapes the model's folder or is
missing) becomes a one-line ``ModelImportError`` that names the file and what is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Optional, Union

import onnx
from onnx import external_data_helper

from qcompiler.errors import ModelImportError

ModelSource = Union[str, os.PathLike, onnx.ModelProto]

#: The ONNX opsets the importer accepts: from 7 up to what the installed onnx package knows.
MIN_OPSET = 7


@dataclass
class LoadedModel:
    """A model ready to import: the proto, the name to use in errors, and its default-domain opset."""

    proto: onnx.ModelProto
    origin: Optional[str]  # the file path, or None for a ModelProto
    opset: int


def load_model(source: ModelSource) -> LoadedModel:
    """Read ``source`` (a path or a ``ModelProto``), load its external data safely and check its opset."""
    if isinstance(source, onnx.ModelProto):
        model, origin = source, None
        _refuse_unloaded_external_data(model, origin)
    elif isinstance(source, (str, os.PathLike)):
        origin = os.fspath(source)
        model = _read_file(origin)
        base_dir = os.path.dirname(os.path.abspath(origin))
        external = list(_external_tensors(model))
        for tensor, location in external:
            _check_external_location(tensor, location, base_dir, origin)
        if external:
            try:
                external_data_helper.load_external_data_for_model(model, base_dir)
            except Exception as error:  # onnx raises OSError, ValueError, onnx.checker errors...
                raise ModelImportError(f"cannot load external data: {one_line(error)}", origin) from None
    else:
        raise ModelImportError(f"cannot import a {type(source).__name__}: expected a file path or an "
                               "onnx.ModelProto")
    _check_structure(model, origin)
    return LoadedModel(model, origin, _default_opset(model, origin))


def _read_file(path: str) -> onnx.ModelProto:
    if not os.path.exists(path):
        raise ModelImportError("no such file", path)
    if os.path.isdir(path):
        raise ModelImportError("is a folder, not an ONNX model file", path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise ModelImportError(f"cannot read the file: {error.strerror or error}", path) from None
    if not data:
        raise ModelImportError("the file is empty, not an ONNX model", path)
    try:
        return onnx.load_model_from_string(data)
    except Exception as error:  # protobuf's DecodeError, or onnx's own checks
        raise ModelImportError(f"not a valid ONNX model (truncated or corrupt file?): {one_line(error)}",
                               path) from None


def _check_structure(model: onnx.ModelProto, origin: Optional[str]) -> None:
    """Catch what parses as protobuf but cannot be an ONNX model (garbage, or a file cut at a field boundary)."""
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise ModelImportError("not an ONNX model (no IR version or no graph; truncated or corrupt file?)", origin)
    if not model.graph.output:
        raise ModelImportError("the model's graph has no outputs (truncated or corrupt file?)", origin)


def _default_opset(model: onnx.ModelProto, origin: Optional[str]) -> int:
    versions = [entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")]
    if not versions:
        raise ModelImportError("the model imports no default-domain ONNX opset (truncated or corrupt file?)",
                               origin)
    opset = int(versions[0])
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ModelImportError(f"ONNX opset {opset} is not supported (supported: {MIN_OPSET} to {newest})", origin)
    return opset


def _all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    yield from model.graph.initializer
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors


def _external_tensors(model: onnx.ModelProto) -> Iterator[tuple[onnx.TensorProto, str]]:
    for tensor in _all_tensors(model):
        if external_data_helper.uses_external_data(tensor):
            yield tensor, external_data_helper.ExternalDataInfo(tensor).location


def _check_external_location(tensor: onnx.TensorProto, location: str, base_dir: str, origin: Optional[str]) -> None:
    """Refuse a location that is absolute or resolves outside the model's folder, and a missing file."""
    what = f"external data of tensor '{tensor.name}' at '{location}'"
    if not location:
        raise ModelImportError(f"tensor '{tensor.name}' is stored externally but names no file", origin)
    if os.path.isabs(location) or os.path.splitdrive(location)[0]:
        raise ModelImportError(f"{what} is refused: an absolute path is not allowed "
                               "(external data must lie in the model's folder)", origin)
    folder = os.path.realpath(base_dir)
    target = os.path.realpath(os.path.join(base_dir, location))
    if os.path.commonpath([folder, target]) != folder:
        raise ModelImportError(f"{what} is refused: it resolves outside the model's folder {folder}", origin)
    if not os.path.isfile(target):
        raise ModelImportError(f"{what}: no such file in {folder}", origin)
    info = external_data_helper.ExternalDataInfo(tensor)
    size = os.path.getsize(target)
    offset = int(info.offset or 0)
    end = offset + int(info.length) if info.length else offset
    if end > size:
        raise ModelImportError(f"{what}: the file holds {size} bytes but the tensor needs bytes up to {end}", origin)


def _refuse_unloaded_external_data(model: onnx.ModelProto, origin: Optional[str]) -> None:
    for tensor, location in _external_tensors(model):
        raise ModelImportError(f"tensor '{tensor.name}' keeps its data in the external file '{location}', which "
                               "was not loaded; import the model from its file path instead", origin)


def one_line(error: BaseException) -> str:
    """The last non-empty line of an exception's text (onnx and protobuf errors span many lines)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
