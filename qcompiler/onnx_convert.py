"""Conversions between ONNX protobuf pieces (attributes, type protos, tensors) and IR values."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import onnx
from onnx import AttributeProto, helper, numpy_helper

from qcompiler.errors import QCompilerError
from qcompiler.types import TensorType, element_from_dtype


def element_from_onnx(elem_type: int) -> str:
    """The IR element type for an ONNX TensorProto data type."""
    try:
        return element_from_dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, QCompilerError):
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type in onnx.TensorProto.DataType.values() else elem_type
        raise QCompilerError(f"ONNX element type {name} is not supported") from None


def onnx_elem_type(element: str) -> int:
    """The ONNX TensorProto data type for an IR element type."""
    from qcompiler.types import dtype_of

    if element == "string":
        return onnx.TensorProto.STRING
    return helper.np_dtype_to_tensor_dtype(dtype_of(element))


def type_from_onnx(type_proto: onnx.TypeProto) -> Optional[TensorType]:
    """The IR type of an ONNX tensor type proto, or None when it is not a tensor or has no element type."""
    if not type_proto.HasField("tensor_type"):
        return None
    tensor_type = type_proto.tensor_type
    if tensor_type.elem_type == 0:
        return None
    element = element_from_onnx(tensor_type.elem_type)
    if not tensor_type.HasField("shape"):
        return TensorType(None, element)
    dims: list[Any] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif dim.HasField("dim_param") and dim.dim_param:
            dims.append(dim.dim_param)
        else:
            dims.append("?")
    return TensorType(tuple(dims), element)


def value_info(name: str, type: TensorType) -> onnx.ValueInfoProto:
    """An ONNX value info for a value of IR type ``type``."""
    if type.shape is None:
        shape = None
    else:
        shape = [None if d == "?" else d for d in type.shape]
    return helper.make_tensor_value_info(name, onnx_elem_type(type.element), shape)


def attribute_to_python(attr: AttributeProto) -> Any:
    """An ONNX attribute as a Python value: int, float, str, lists of those, or a numpy array for tensors."""
    kind = attr.type
    if kind == AttributeProto.INT:
        return int(attr.i)
    if kind == AttributeProto.FLOAT:
        return float(np.float32(attr.f))
    if kind == AttributeProto.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if kind == AttributeProto.INTS:
        return [int(v) for v in attr.ints]
    if kind == AttributeProto.FLOATS:
        return [float(np.float32(v)) for v in attr.floats]
    if kind == AttributeProto.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if kind == AttributeProto.TENSOR:
        return numpy_helper.to_array(attr.t)
    raise QCompilerError(f"attribute '{attr.name}' of type {AttributeProto.AttributeType.Name(kind)} is not supported")


_SCHEMA_TYPES = {
    onnx.defs.OpSchema.AttrType.INT: AttributeProto.INT,
    onnx.defs.OpSchema.AttrType.FLOAT: AttributeProto.FLOAT,
    onnx.defs.OpSchema.AttrType.STRING: AttributeProto.STRING,
    onnx.defs.OpSchema.AttrType.INTS: AttributeProto.INTS,
    onnx.defs.OpSchema.AttrType.FLOATS: AttributeProto.FLOATS,
    onnx.defs.OpSchema.AttrType.STRINGS: AttributeProto.STRINGS,
    onnx.defs.OpSchema.AttrType.TENSOR: AttributeProto.TENSOR,
}


def schema_for(op_type: str, opset: int) -> Optional[onnx.defs.OpSchema]:
    """The ONNX schema of ``op_type`` in the default domain at ``opset``, or None when there is none."""
    try:
        return onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return None


def attribute_from_python(name: str, value: Any, op_type: str, opset: int) -> AttributeProto:
    """An ONNX attribute for a Python value, typed by the op's schema when it declares the attribute."""
    schema = schema_for(op_type, opset)
    attr_type = None
    if schema is not None and name in schema.attributes:
        attr_type = _SCHEMA_TYPES.get(schema.attributes[name].type)
    if isinstance(value, np.ndarray):
        return helper.make_attribute(name, numpy_helper.from_array(value), attr_type=AttributeProto.TENSOR)
    if attr_type == AttributeProto.FLOAT:
        value = float(value)
    elif attr_type == AttributeProto.FLOATS:
        value = [float(v) for v in value]
    elif attr_type == AttributeProto.INT:
        value = int(value)
    return helper.make_attribute(name, value, attr_type=attr_type)
