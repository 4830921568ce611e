"""A readable description of any .tflite model: operators with their options, tensors with shape, type and
quantization parameters, buffer sizes, metadata and signatures (what ``qcompiler inspect`` prints), and the
compression figures (gzip size, weight sparsity) that ``qcompiler compile`` and ``inspect`` report."""

from __future__ import annotations

import gzip
from typing import Any, Iterator, Optional

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from qcompiler.errors import QCompilerError

#: Quantization parameters beyond this many channels are summarized.
MAX_LISTED_CHANNELS = 4


def _names(enum: type) -> dict[int, str]:
    return {value: name for name, value in vars(enum).items() if not name.startswith("_") and isinstance(value, int)}


OPERATOR_NAMES = _names(schema.BuiltinOperator)
TYPE_NAMES = _names(schema.TensorType)
#: Operators whose input 1 is the weight counted by ``compression_figures``.
WEIGHT_OPERATORS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
#: Element types of the weight buffers ``compression_figures`` counts, with their numpy dtype (little-endian).
WEIGHT_DTYPES = {schema.TensorType.INT8: np.dtype("i1"), schema.TensorType.FLOAT16: np.dtype("<f2"),
                 schema.TensorType.FLOAT32: np.dtype("<f4")}
#: The gzip level of ``compression_figures`` (the TensorFlow Model Optimization Toolkit measures with 9).
GZIP_LEVEL = 9
#: Option fields whose integers are enums, with the enum that names them.
ENUM_FIELDS = {"padding": _names(schema.Padding), "fusedActivationFunction": _names(schema.ActivationFunctionType),
               "inDataType": TYPE_NAMES, "outDataType": TYPE_NAMES}


def load_model(data: bytes) -> schema.ModelT:
    """Parse .tflite bytes into the schema's object tree; raises a one-line error for anything else."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise QCompilerError("not a .tflite model (the flatbuffer file identifier TFL3 is missing)")
    try:
        return schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    except Exception as error:  # a corrupt flatbuffer fails anywhere in the generated readers
        raise QCompilerError(f"corrupt .tflite model ({type(error).__name__}: {error})") from None


def operator_name(code: Optional[schema.OperatorCodeT]) -> str:
    """The builtin operator name of an operator code (or its custom code)."""
    if code is None:
        return "?"
    if code.customCode:
        return f"CUSTOM({_text(code.customCode)})"
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return OPERATOR_NAMES.get(number, f"BUILTIN_{number}")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def describe_options(options: Any) -> str:
    """``{field: value, ...}`` of an options table, enums by name."""
    if options is None:
        return ""
    parts = []
    for name, value in vars(options).items():
        if value is None or isinstance(value, (list, np.ndarray)) and len(value) == 0:
            continue
        if name in ENUM_FIELDS:
            value = ENUM_FIELDS[name].get(value, value)
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, float):
            value = f"{value:g}"
        parts.append(f"{name}={value}")
    return "{" + ", ".join(parts) + "}"


def describe_quantization(quant: Optional[schema.QuantizationParametersT]) -> str:
    """Scales and zero points (per-axis ones with their dimension), or '' when not quantized."""
    if quant is None or quant.scale is None or len(quant.scale) == 0:
        return ""
    scales = [float(s) for s in quant.scale]
    zeros = [int(z) for z in (quant.zeroPoint if quant.zeroPoint is not None else [0] * len(scales))]
    if len(scales) == 1:
        return f"scale={scales[0]:.9g} zero_point={zeros[0]}"
    shown = ", ".join(f"{s:.6g}" for s in scales[:MAX_LISTED_CHANNELS])
    more = f", ... ({len(scales)} channels)" if len(scales) > MAX_LISTED_CHANNELS else ""
    zero_text = str(zeros[0]) if len(set(zeros)) == 1 else f"{zeros[:MAX_LISTED_CHANNELS]}..."
    return f"per-axis dim={quant.quantizedDimension} scales=[{shown}{more}] zero_points={zero_text}"


def buffer_size(buffer: schema.BufferT) -> int:
    """Bytes of constant data of a buffer (inline, or stored after the flatbuffer at offset/size)."""
    if buffer.data is not None:
        return len(buffer.data)
    return int(buffer.size or 0)


def buffer_bytes(data: bytes, buffer: schema.BufferT) -> bytes:
    """The constant data of a buffer: inline, or stored after the flatbuffer at offset/size (large models)."""
    if buffer.data is not None:
        return bytes(np.asarray(buffer.data, dtype=np.uint8))
    offset, size = int(buffer.offset or 0), int(buffer.size or 0)
    if offset <= 1 or size == 0:  # offset 1 is the writer's placeholder for "no data"
        return b""
    if offset + size > len(data):
        raise QCompilerError(f"corrupt .tflite model (buffer data at offset {offset}, {size} bytes, lies past the "
                             f"end of the {len(data)}-byte file)")
    return data[offset:offset + size]


def weight_arrays(data: bytes, model: schema.ModelT) -> Iterator[np.ndarray]:
    """The constant weights (input 1) of every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED operator, each
    buffer once, as stored (int8, float16 or float32). A weight a DEQUANTIZE produces from a constant (the
    float16 and weight-only modes) is counted in its stored form."""
    buffers, codes, seen = model.buffers or [], model.operatorCodes or [], set()
    for subgraph in model.subgraphs or []:
        tensors = subgraph.tensors or []
        operators = subgraph.operators or []
        producers = {out: op for op in operators for out in _ints(op.outputs)}
        for operator in operators:
            inputs = _ints(operator.inputs)
            if _code_name(codes, operator) not in WEIGHT_OPERATORS or len(inputs) < 2:
                continue
            index = inputs[1]
            producer = producers.get(index)
            if producer is not None and _code_name(codes, producer) == "DEQUANTIZE" and _ints(producer.inputs):
                index = _ints(producer.inputs)[0]
            tensor = tensors[index] if 0 <= index < len(tensors) else None
            if tensor is None or tensor.type not in WEIGHT_DTYPES or tensor.buffer in seen \
                    or not 0 < tensor.buffer < len(buffers):
                continue
            raw, dtype = buffer_bytes(data, buffers[tensor.buffer]), WEIGHT_DTYPES[tensor.type]
            if len(raw) % dtype.itemsize:
                raise QCompilerError(f"corrupt .tflite model (buffer {tensor.buffer} of {len(raw)} bytes does not "
                                     f"hold whole {TYPE_NAMES[tensor.type]} elements)")
            if raw:
                seen.add(tensor.buffer)
                yield np.frombuffer(raw, dtype=dtype)


def _code_name(codes: list, operator: schema.OperatorT) -> str:
    return operator_name(codes[operator.opcodeIndex] if operator.opcodeIndex < len(codes) else None)


def _ints(values: Any) -> list[int]:
    return [int(v) for v in (values if values is not None else [])]


def gzip_size(data: bytes) -> int:
    """Bytes of ``data`` gzipped at ``GZIP_LEVEL`` with mtime 0 (deterministic): the toolkit's compressibility
    measure."""
    return len(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))


def compression_figures(data: bytes, model: Optional[schema.ModelT] = None) -> dict[str, int]:
    """How compressible a .tflite is, as the TensorFlow Model Optimization Toolkit measures pruning and
    clustering: ``bytes`` (the file), ``gzip_bytes`` (gzip level 9, mtime 0, so deterministic),
    ``weight_elements`` and ``weight_zeros`` (elements of the constant int8/float weight buffers of CONV_2D,
    DEPTHWISE_CONV_2D and FULLY_CONNECTED operators, and how many are stored as 0; int8 weights are symmetric,
    so a stored 0 is a zero weight). ``model``: ``data`` already loaded, when the caller has it."""
    arrays = list(weight_arrays(data, model if model is not None else load_model(data)))
    return {"bytes": len(data), "gzip_bytes": gzip_size(data),
            "weight_elements": sum(int(a.size) for a in arrays),
            "weight_zeros": sum(int(np.count_nonzero(a == 0)) for a in arrays)}


def describe_size(figures: dict[str, int]) -> str:
    """``<bytes> bytes (gzip <gzip bytes>)`` of ``compression_figures``."""
    return f"{figures['bytes']} bytes (gzip {figures['gzip_bytes']})"


def describe_sparsity(figures: dict[str, int]) -> str:
    """``weights <percent>% zeros`` of ``compression_figures``, or '' for a model without such weights."""
    if not figures["weight_elements"]:
        return ""
    return f"weights {100.0 * figures['weight_zeros'] / figures['weight_elements']:.1f}% zeros"


def describe_tflite(data: bytes) -> str:
    """A text description of a .tflite model: summary, metadata, signatures, and per subgraph its operators
    and tensors."""
    model = load_model(data)
    buffers = model.buffers or []
    codes = model.operatorCodes or []
    lines = [f"model: schema version {model.version}, description '{_text(model.description or '')}', "
             f"{len(model.subgraphs or [])} subgraph(s), {len(codes)} operator code(s), {len(buffers)} buffer(s), "
             f"{len(data)} bytes ({sum(buffer_size(b) for b in buffers)} of buffer data)"]
    for entry in model.metadata or []:
        raw = buffer_bytes(data, buffers[entry.buffer]) if entry.buffer < len(buffers) else b""
        text = raw.rstrip(b"\0")
        shown = text.decode("ascii") if text and all(32 <= b < 127 for b in text) else f"{len(raw)} bytes"
        lines.append(f"metadata {_text(entry.name)}: {shown}")
    for signature in model.signatureDefs or []:
        inputs = ", ".join(f"{_text(m.name)}=t{m.tensorIndex}" for m in signature.inputs or [])
        outputs = ", ".join(f"{_text(m.name)}=t{m.tensorIndex}" for m in signature.outputs or [])
        lines.append(f"signature '{_text(signature.signatureKey)}' (subgraph {signature.subgraphIndex}): "
                     f"inputs {inputs}; outputs {outputs}")
    for number, subgraph in enumerate(model.subgraphs or []):
        lines += describe_subgraph(number, subgraph, codes, buffers)
    return "\n".join(lines) + "\n"


def describe_subgraph(number: int, subgraph: schema.SubGraphT, codes: list, buffers: list) -> list[str]:
    """The lines describing one subgraph: its interface, operators and tensors."""
    tensors = subgraph.tensors or []
    lines = [f"subgraph {number} '{_text(subgraph.name or '')}': {len(subgraph.operators or [])} operator(s), "
             f"{len(tensors)} tensor(s), inputs {_indices(subgraph.inputs)}, outputs {_indices(subgraph.outputs)}",
             "  operators:"]
    for index, operator in enumerate(subgraph.operators or []):
        code = codes[operator.opcodeIndex] if operator.opcodeIndex < len(codes) else None
        version = f" v{code.version}" if code is not None else ""
        opts = describe_options(operator.builtinOptions if operator.builtinOptionsType else operator.builtinOptions2)
        lines.append(f"    {index:3d} {operator_name(code)}{version} {_indices(operator.inputs)} -> "
                     f"{_indices(operator.outputs)}" + (f" {opts}" if opts else ""))
    lines.append("  tensors:")
    for index, tensor in enumerate(tensors):
        shape = "x".join(str(int(d)) for d in (tensor.shape if tensor.shape is not None else [])) or "scalar"
        buffer = buffers[tensor.buffer] if tensor.buffer < len(buffers) else None
        size = buffer_size(buffer) if buffer is not None else 0
        data = f" buffer {tensor.buffer} ({size} bytes)" if size else ""
        quant = describe_quantization(tensor.quantization)
        lines.append(f"    t{index:<3d} {_text(tensor.name or '')}: {shape} {TYPE_NAMES.get(tensor.type, tensor.type)}"
                     f"{data}" + (f" {quant}" if quant else ""))
    return lines


def _indices(values: Any) -> str:
    return "[" + ", ".join(str(int(v)) for v in (values if values is not None else [])) + "]"
