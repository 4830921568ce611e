"""Whole-model type inference for the importer: fix input dims the user gives, then run ONNX shape inference
once on a weight-free skeleton of the model (large initializers become typed inputs, so no weight is copied)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import onnx
from onnx import helper

from qcompiler.errors import ModelImportError, QCompilerError
from qcompiler.onnx_convert import type_from_onnx
from qcompiler.onnx_import.loading import one_line
from qcompiler.types import TensorType

#: Initializers up to this many elements stay in the skeleton, so data propagation sees shape tensors.
MAX_SKELETON_CONSTANT = 4096

InputShapes = Mapping[str, Sequence[int | str]]


def tensor_type_of(name: str, type_proto: onnx.TypeProto, origin: Optional[str], what: str = "tensor"
                   ) -> Optional[TensorType]:
    """The IR type of tensor ``name``; a clear error for sequences, maps, optionals and unknown element types."""
    kind = type_proto.WhichOneof("value")
    if kind not in (None, "tensor_type"):
        readable = {"sequence_type": "a sequence", "map_type": "a map", "optional_type": "an optional",
                    "sparse_tensor_type": "a sparse tensor"}.get(kind, kind)
        raise ModelImportError(f"{what} '{name}' is {readable}; only tensors are supported", origin)
    try:
        return type_from_onnx(type_proto)
    except QCompilerError as error:
        raise ModelImportError(f"tensor '{name}': {error.message}", origin) from None


@dataclass
class ModelTypes:
    """What whole-model inference found: ``types`` by tensor name, and the dim symbols the user wrote."""

    types: dict[str, TensorType]
    user_symbols: set[str]

    def normalize(self, type: Optional[TensorType]) -> Optional[TensorType]:
        """``type`` with the dims ONNX inference names ``unk__N`` (it could not infer them) made unknown ("?")."""
        if type is None or type.shape is None:
            return type
        return type.with_shape([d if not _is_generated(d, self.user_symbols) else "?" for d in type.shape])


def infer_model_types(model: onnx.ModelProto, input_shapes: Optional[InputShapes], origin: Optional[str]) -> ModelTypes:
    """Types of every tensor ONNX shape inference can type, by name, with ``input_shapes`` applied first."""
    skeleton = _skeleton(model)
    if input_shapes:
        _apply_input_shapes(skeleton, model, input_shapes, origin)
    try:
        inferred = onnx.shape_inference.infer_shapes(skeleton, check_type=False, strict_mode=False,
                                                     data_prop=True)
    except Exception as error:  # inference errors come as several exception types
        raise ModelImportError(f"ONNX shape inference failed: {one_line(error)}", origin) from None
    result = ModelTypes({}, _dim_params(skeleton.graph))
    graph = inferred.graph
    for info in list(graph.input) + list(graph.value_info) + list(graph.output):
        if not info.name or not info.type.WhichOneof("value"):
            continue
        found = result.normalize(tensor_type_of(info.name, info.type, origin))
        if found is not None:
            result.types[info.name] = better_type(result.types.get(info.name), found)
    return result


def _dim_params(graph: onnx.GraphProto) -> set[str]:
    symbols = set()
    for info in list(graph.input) + list(graph.value_info) + list(graph.output):
        if info.type.HasField("tensor_type") and info.type.tensor_type.HasField("shape"):
            symbols.update(d.dim_param for d in info.type.tensor_type.shape.dim if d.dim_param)
    return symbols


def _is_generated(dim, user_symbols: set[str]) -> bool:
    return isinstance(dim, str) and dim.startswith("unk__") and dim not in user_symbols


def is_complete(type: Optional[TensorType]) -> bool:
    """Whether a type has a known rank and no anonymous unknown dims (named symbols are fine)."""
    return type is not None and type.shape is not None and "?" not in type.shape


def better_type(old: Optional[TensorType], new: Optional[TensorType]) -> Optional[TensorType]:
    """The more informative of two types of one value (known rank first, then fewer unknown dims)."""
    if old is None:
        return new
    if new is None:
        return old
    if old.shape is None:
        return new
    if new.shape is None:
        return old
    return new if sum(d == "?" for d in new.shape) < sum(d == "?" for d in old.shape) else old


def _skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model without its large initializers' bytes: those become graph inputs carrying only their type."""
    source = model.graph
    graph = onnx.GraphProto(name=source.name)
    graph.node.extend(source.node)
    graph.output.extend(source.output)
    graph.value_info.extend(source.value_info)
    initializer_names = {t.name for t in source.initializer}
    graph.input.extend(i for i in source.input if i.name not in initializer_names)
    for tensor in source.initializer:
        if int(np.prod(tensor.dims, dtype=np.int64)) <= MAX_SKELETON_CONSTANT:
            graph.initializer.append(tensor)
        else:
            graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    skeleton = onnx.ModelProto(ir_version=max(model.ir_version, 4), graph=graph)
    skeleton.opset_import.extend(model.opset_import)
    return skeleton


def _apply_input_shapes(skeleton: onnx.ModelProto, model: onnx.ModelProto, input_shapes: InputShapes,
                        origin: Optional[str]) -> None:
    """Write the user's dims into the skeleton's inputs; error on unknown names, rank or dim conflicts."""
    initializer_names = {t.name for t in model.graph.initializer}
    inputs = {i.name: i for i in skeleton.graph.input if i.name not in initializer_names}
    for name, dims in input_shapes.items():
        if name not in inputs:
            known = ", ".join(inputs) or "none"
            raise ModelImportError(f"input_shapes names '{name}', which is not a model input (inputs: {known})",
                                   origin)
        info = inputs[name]
        dims = list(dims)
        tensor_type = info.type.tensor_type
        if tensor_type.HasField("shape"):
            declared = tensor_type.shape.dim
            if len(declared) != len(dims):
                raise ModelImportError(f"input_shapes gives input '{name}' rank {len(dims)} ({_text(dims)}), but "
                                       f"the model declares rank {len(declared)} ({_dims_text(declared)})", origin)
            for axis, (dim, wanted) in enumerate(zip(declared, dims)):
                if dim.HasField("dim_value") and dim.dim_value != wanted:
                    raise ModelImportError(f"input_shapes gives input '{name}' dim {axis} = {wanted}, but the "
                                           f"model fixes it to {dim.dim_value} ({_dims_text(declared)})", origin)
        for dim in dims:
            if not isinstance(dim, (int, np.integer, str)) or (isinstance(dim, (int, np.integer)) and dim < 0):
                raise ModelImportError(f"input_shapes for '{name}' holds {dim!r}; dims are sizes >= 0 or names",
                                       origin)
        shape = tensor_type.shape
        shape.Clear()
        for wanted in dims:
            entry = shape.dim.add()
            if isinstance(wanted, str):
                entry.dim_param = wanted
            else:
                entry.dim_value = int(wanted)


def _dims_text(dims) -> str:
    return "x".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims) or "scalar"


def _text(dims: Sequence) -> str:
    return "x".join(str(d) for d in dims) or "scalar"
