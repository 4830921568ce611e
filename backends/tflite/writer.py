"""Serializing a lowered TFLite program into flatbuffer bytes with the official schema module that LiteRT ships
(``ai_edge_litert.schema_py_generated``): operator codes, tensors with quantization parameters, deduplicated
16-byte aligned buffers, a ``serving_default`` signature and the ``min_runtime_version`` metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from qcompiler.errors import QCompilerError
from qcompiler.types import TensorType

#: The flatbuffer file identifier of .tflite files and the schema version they follow.
FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
#: Buffer data alignment: LiteRT and TFLite Micro read weights in place, so they start on 16 bytes.
BUFFER_ALIGNMENT = 16
#: The signature key converters give to a model's only signature.
SIGNATURE_KEY = "serving_default"
#: Operator codes above this value are stored in ``builtin_code`` only (``deprecated_builtin_code`` holds 127).
LAST_DEPRECATED_CODE = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES

#: IR element types -> schema TensorType codes.
ELEMENT_CODES: dict[str, int] = {
    "f32": schema.TensorType.FLOAT32, "f16": schema.TensorType.FLOAT16, "f64": schema.TensorType.FLOAT64,
    "bf16": schema.TensorType.BFLOAT16, "i64": schema.TensorType.INT64, "i32": schema.TensorType.INT32,
    "i16": schema.TensorType.INT16, "i8": schema.TensorType.INT8,
    "u64": schema.TensorType.UINT64, "u32": schema.TensorType.UINT32, "u16": schema.TensorType.UINT16,
    "u8": schema.TensorType.UINT8, "bool": schema.TensorType.BOOL, "string": schema.TensorType.STRING,
}


@dataclass
class TflTensor:
    """A tensor of the program: its name, IR type (static shape, element, quantization) and constant data."""

    name: str
    type: TensorType
    data: Optional[np.ndarray] = None


@dataclass
class TflOperator:
    """One TFLite operator: builtin code, tensor indices (-1 for an omitted optional input), options object
    (a schema ``*OptionsT`` instance or None) and the operator version."""

    code: int
    inputs: list[int]
    outputs: list[int]
    options: Any = None
    version: int = 1


@dataclass
class TflProgram:
    """A lowered single-subgraph model, ready to serialize: tensors, operators in execution order, the
    subgraph's input/output tensor indices and the signature names for them."""

    tensors: list[TflTensor] = field(default_factory=list)
    operators: list[TflOperator] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    name: str = "main"
    description: str = "qcompiler"
    min_runtime_version: str = "1.5.0"


class AlignedBufferT(schema.BufferT):
    """A schema ``BufferT`` whose data vector starts on a ``BUFFER_ALIGNMENT``-byte boundary."""

    def Pack(self, builder: flatbuffers.Builder) -> int:  # noqa: N802 - the schema's method name
        """Pack the buffer like the schema does, with the data vector aligned."""
        data = None
        if self.data is not None:
            raw = bytes(self.data)
            builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
            builder.head = builder.head - len(raw)
            builder.Bytes[builder.head:builder.head + len(raw)] = raw
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        return schema.BufferEnd(builder)


def tensor_bytes(array: np.ndarray) -> bytes:
    """The little-endian bytes TFLite stores for a constant array (numbers and booleans; TFLite's string
    tensors have a format of their own that this writer does not produce)."""
    array = np.ascontiguousarray(array)
    if array.dtype.kind in "OUS":
        raise QCompilerError("the TFLite writer does not store string constants")
    if array.dtype.kind in "iuf" and array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array.tobytes()


def element_code(element: str, where: str) -> int:
    """The schema TensorType code of an IR element type."""
    try:
        return ELEMENT_CODES[element]
    except KeyError:
        raise QCompilerError(f"TFLite has no tensor type for '{element}' ({where})") from None


class SharedQuantizationT(schema.QuantizationParametersT):
    """Quantization parameters written once per distinct content: the table, its scale vector and its
    zero-point vector are each referenced by every tensor that has the same ones. Per-channel zero points are
    int64 zeros (8 bytes a channel, for a weight and again for its bias), so sharing them keeps an int8 file
    near a quarter of the float one. ``shared`` maps each builder to the offsets of the contents it holds."""

    def __init__(self, shared: dict) -> None:
        super().__init__()
        self.shared = shared

    def Pack(self, builder: flatbuffers.Builder) -> int:  # noqa: N802 - the schema's method name
        """Pack the table (scale, zero_point, quantized_dimension), reusing what an equal one wrote."""
        written = self.shared.setdefault(builder, {})
        key = ("table", tuple(self.scale), tuple(self.zeroPoint), self.quantizedDimension)
        if key not in written:
            scale = self._vector(builder, written, np.asarray(self.scale, dtype="<f4"))
            zero_point = self._vector(builder, written, np.asarray(self.zeroPoint, dtype="<i8"))
            schema.QuantizationParametersStart(builder)
            schema.QuantizationParametersAddScale(builder, scale)
            schema.QuantizationParametersAddZeroPoint(builder, zero_point)
            schema.QuantizationParametersAddQuantizedDimension(builder, self.quantizedDimension)
            written[key] = schema.QuantizationParametersEnd(builder)
        return written[key]

    @staticmethod
    def _vector(builder: flatbuffers.Builder, written: dict, values: np.ndarray) -> int:
        key = (values.dtype.str, values.tobytes())
        if key not in written:
            written[key] = builder.CreateNumpyVector(values)
        return written[key]


def quantization_of(type: TensorType, shared: dict) -> Optional[schema.QuantizationParametersT]:
    """The schema quantization parameters of a quantized IR type (None when it is not quantized), written
    once per distinct content of the builder's ``shared`` table."""
    quant = type.quant
    if quant is None:
        return None
    params = SharedQuantizationT(shared)
    params.scale = [float(np.float32(s)) for s in quant.scales]
    params.zeroPoint = [int(z) for z in quant.zero_points]
    params.quantizedDimension = int(quant.axis or 0)
    return params


def option_types(options: Any) -> tuple[int, int]:
    """``(builtin_options_type, builtin_options2_type)`` for an options object (its class names the union
    member: ``Conv2DOptionsT`` -> ``BuiltinOptions.Conv2DOptions``)."""
    if options is None:
        return 0, 0
    member = type(options).__name__[:-1]
    if hasattr(schema.BuiltinOptions, member):
        return getattr(schema.BuiltinOptions, member), 0
    if hasattr(schema.BuiltinOptions2, member):
        return 0, getattr(schema.BuiltinOptions2, member)
    raise QCompilerError(f"{type(options).__name__} is not a builtin options table")


class BufferTable:
    """The model's buffers: buffer 0 stays empty (tensors without data point at it) and identical contents
    share one buffer."""

    def __init__(self) -> None:
        self.buffers: list[schema.BufferT] = [schema.BufferT()]
        self._index: dict[bytes, int] = {}

    def add(self, data: bytes, share: bool = True) -> int:
        """The index of a buffer holding ``data`` (an existing one with the same bytes when ``share``)."""
        if share and data in self._index:
            return self._index[data]
        buffer = AlignedBufferT()
        buffer.data = data
        self.buffers.append(buffer)
        if share:
            self._index[data] = len(self.buffers) - 1
        return len(self.buffers) - 1


def build_model(program: TflProgram) -> schema.ModelT:
    """The schema object tree of ``program``."""
    buffers = BufferTable()
    shared_quantization: dict = {}
    codes: dict[tuple[int, int], int] = {}
    operator_codes: list[schema.OperatorCodeT] = []
    subgraph = schema.SubGraphT()
    subgraph.name = program.name
    subgraph.tensors = []
    for index, tensor in enumerate(program.tensors):
        if tensor.type.shape is None or not tensor.type.is_static:
            raise QCompilerError(f"TFLite export needs static shapes; tensor '{tensor.name}' is {tensor.type.shape}")
        out = schema.TensorT()
        out.name = tensor.name
        out.shape = [int(d) for d in tensor.type.shape]
        out.type = element_code(tensor.type.element, f"tensor '{tensor.name}'")
        out.quantization = quantization_of(tensor.type, shared_quantization)
        out.hasRank = True
        if tensor.data is not None:
            out.buffer = buffers.add(tensor_bytes(tensor.data))
        subgraph.tensors.append(out)
    subgraph.operators = []
    for operator in program.operators:
        key = (operator.code, operator.version)
        if key not in codes:
            code = schema.OperatorCodeT()
            code.builtinCode = operator.code
            code.deprecatedBuiltinCode = min(operator.code, LAST_DEPRECATED_CODE)
            code.version = operator.version
            codes[key] = len(operator_codes)
            operator_codes.append(code)
        out = schema.OperatorT()
        out.opcodeIndex = codes[key]
        out.inputs = list(operator.inputs)
        out.outputs = list(operator.outputs)
        out.builtinOptionsType, out.builtinOptions2Type = option_types(operator.options)
        if out.builtinOptionsType:
            out.builtinOptions = operator.options
        elif out.builtinOptions2Type:
            out.builtinOptions2 = operator.options
        subgraph.operators.append(out)
    subgraph.inputs = list(program.inputs)
    subgraph.outputs = list(program.outputs)

    model = schema.ModelT()
    model.version = SCHEMA_VERSION
    model.description = program.description
    model.operatorCodes = operator_codes
    model.subgraphs = [subgraph]
    model.signatureDefs = [signature_def(program)]
    metadata = schema.MetadataT()
    metadata.name = "min_runtime_version"
    metadata.buffer = buffers.add(program.min_runtime_version.encode("ascii").ljust(16, b"\0"), share=False)
    model.metadata = [metadata]
    model.buffers = buffers.buffers
    return model


def signature_def(program: TflProgram) -> schema.SignatureDefT:
    """The ``serving_default`` signature naming the subgraph's inputs and outputs after the graph's."""
    signature = schema.SignatureDefT()
    signature.signatureKey = SIGNATURE_KEY
    signature.subgraphIndex = 0
    signature.inputs = [_tensor_map(name, index) for name, index in zip(program.input_names, program.inputs)]
    signature.outputs = [_tensor_map(name, index) for name, index in zip(program.output_names, program.outputs)]
    return signature


def _tensor_map(name: str, index: int) -> schema.TensorMapT:
    entry = schema.TensorMapT()
    entry.name = name
    entry.tensorIndex = index
    return entry


def serialize(program: TflProgram) -> bytes:
    """The .tflite bytes of ``program`` (deterministic: the same program gives the same bytes)."""
    model = build_model(program)
    size_hint = sum(len(b.data) for b in model.buffers if b.data is not None) + 4096
    builder = flatbuffers.Builder(size_hint)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    data = bytes(builder.Output())
    if len(data) >= 2**31:
        raise QCompilerError(f"the model is {len(data)} bytes; a .tflite flatbuffer must stay under 2 GiB")
    return data
