"""The ``onnx`` dialect: ONNX operators as imported, with ONNX semantics at the graph's opset.

Type inference asks ONNX's own shape inference about one node at a time. Evaluation uses a fast numpy
kernel from ``onnx_kernels`` where we have one (convolutions, pooling, matmuls, normalizations: the hot ops,
and the ones where ``onnx.reference`` is wrong) and otherwise ONNX's reference implementation
(``onnx.reference``), which is numpy code maintained with the standard; ops defined by a function body in
their schema are evaluated by expanding it.
"""

from __future__ import annotations

import weakref
from typing import Optional, Sequence, TYPE_CHECKING

import numpy as np
import onnx
from onnx import helper

from qcompiler.errors import QCompilerError, UnsupportedOpError
from qcompiler.onnx_convert import attribute_from_python, type_from_onnx, value_info
from qcompiler.ops.registry import OpDef, register_fallback
from qcompiler.types import TensorType

if TYPE_CHECKING:
    from qcompiler.ir import Op

#: ONNX operators whose semantics need subgraphs, sequences, optionals or randomness: not supported.
UNSUPPORTED_ONNX_OPS = frozenset({
    "If", "Loop", "Scan", "SequenceMap", "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase",
    "SequenceInsert", "SequenceLength", "SplitToSequence", "ConcatFromSequence", "Optional", "OptionalGetElement",
    "OptionalHasElement", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
    "Bernoulli", "Constant",  # Constant nodes become const ops at import
})

#: Constant operands up to this many elements are shown to shape inference, so that data-dependent
#: shapes (Reshape's target, Slice's bounds, Expand's shape) can be inferred.
_MAX_INFERENCE_CONSTANT = 4096


def _reference_op_types() -> frozenset[str]:
    from onnx.reference.ops import load_op  # noqa: F401
    import onnx.reference.ops._op_list as op_list

    names = set()
    for name in dir(op_list):
        obj = getattr(op_list, name)
        if isinstance(obj, type) and hasattr(obj, "_run") and not name.startswith("_"):
            base = name.split("_")[0]
            names.add(base)
    return frozenset(names)


#: Ops ``onnx.reference`` implements that we still do not claim, with the reason.
DROPPED_ONNX_OPS = {
    "ImageDecoder": "its reference implementation needs Pillow, which is not a dependency",
}


def _function_op_types() -> frozenset[str]:
    """Default-domain ops defined by a function body (plain or context-dependent) in their schema, which
    ``onnx.reference`` evaluates by expanding the body (Gelu, HardSwish, Mish, GroupNormalization, ...)."""
    return frozenset(s.name for s in onnx.defs.get_all_schemas()
                     if s.domain == "" and (s.has_function or s.has_context_dependent_function))


def supported_onnx_ops() -> frozenset[str]:
    """The ONNX operator types (default domain) that the importer accepts.

    Those the reference implementation evaluates (as a class or by expanding the schema's function body)
    or that have a fast kernel of ours, minus those needing subgraphs, sequences, optionals or randomness
    and those in ``DROPPED_ONNX_OPS``. ``tests/test_onnx_node_cases.py`` holds this set to account.
    """
    global _SUPPORTED
    if _SUPPORTED is None:
        from qcompiler.ops.onnx_kernels import FAST_KERNELS

        candidates = _reference_op_types() | _function_op_types() | frozenset(FAST_KERNELS)
        _SUPPORTED = frozenset(
            name for name in candidates
            if name not in UNSUPPORTED_ONNX_OPS and name not in DROPPED_ONNX_OPS and onnx.defs.has(name, "")
        )
    return _SUPPORTED


_SUPPORTED: Optional[frozenset[str]] = None


def onnx_node_for(op: Op, input_names: Sequence[str], output_names: Sequence[str]) -> onnx.NodeProto:
    """An ONNX node equivalent to an ``onnx.*`` op, with the given tensor names."""
    op_type = op.kind.split(".", 1)[1]
    opset = op.graph.opset if op.graph is not None else 17
    attrs = [attribute_from_python(k, v, op_type, opset) for k, v in sorted(op.attrs.items())]
    node = helper.make_node(op_type, list(input_names), list(output_names), name=op.loc or "")
    node.attribute.extend(attrs)
    return node


class OnnxOp(OpDef):
    """An ONNX operator; semantics are ONNX's at the graph's opset."""

    operands = ("inputs*",)
    num_results = None

    def __init__(self, op_type: str) -> None:
        self.op_type = op_type
        self.kind = f"onnx.{op_type}"

    # -- type inference -------------------------------------------------------------------
    def infer(self, op: Op) -> list[TensorType]:
        opset = op.graph.opset if op.graph is not None else _opset_hint(op)
        input_names = [f"in{i}" if v is not None else "" for i, v in enumerate(op.operands)]
        num_outputs = len(op.results) if op.results else _default_output_count(self.op_type, op, opset)
        output_names = [f"out{i}" for i in range(num_outputs)]
        node = onnx_node_for(op, input_names, output_names)
        inputs, initializers = [], []
        for name, value in zip(input_names, op.operands):
            if value is None:
                continue
            array = value.const_value
            if array is not None and array.size <= _MAX_INFERENCE_CONSTANT and value.type.quant is None:
                initializers.append(onnx.numpy_helper.from_array(np.asarray(array), name))
            inputs.append(value_info(name, value.type))
        graph = helper.make_graph([node], "infer", inputs, [helper.make_value_info(n, onnx.TypeProto())
                                                            for n in output_names], initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
        except Exception as error:  # onnx raises several exception types for inference failures
            # ONNX cannot infer through some schema function bodies unless defaulted attributes are
            # spelled out (MeanVarianceNormalization's axes): retry once with the schema's defaults
            if not _add_schema_defaults(model.graph.node[0], self.op_type, opset):
                raise _inference_error(self.op_type, error, op.loc) from None
            try:
                inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
            except Exception:  # report the first failure, which concerns the op as the user wrote it
                raise _inference_error(self.op_type, error, op.loc) from None
        found = {vi.name: vi.type for vi in list(inferred.graph.output) + list(inferred.graph.value_info)}
        types = []
        for index, name in enumerate(output_names):
            t = type_from_onnx(found[name]) if name in found else None
            if t is None and index == 0 and self.op_type in SAME_TYPE_AS_FIRST_INPUT and op.operands:
                t = op.operands[0].type.with_quant(None)
            if t is None:
                raise QCompilerError(f"{self.op_type}: shape inference could not type output {name}", op.loc)
            types.append(t)
        return types

    # -- evaluation -----------------------------------------------------------------------
    def evaluate(self, op: Op, *inputs: Optional[np.ndarray]):
        from qcompiler.ops.onnx_kernels import FAST_KERNELS

        kernel = FAST_KERNELS.get(self.op_type)
        if kernel is not None:
            result = kernel(op, *inputs)
            if result is not NotImplemented:
                results = [result] if isinstance(result, (np.ndarray, np.generic)) else list(result)
                return [_match_type(np.asarray(r), v.type) for r, v in zip(results, op.results)]
        evaluator = _reference_evaluator(op, inputs)
        feeds = {f"in{i}": np.asarray(x) for i, x in enumerate(inputs) if x is not None}
        try:
            outputs = evaluator.run(None, feeds)
        except Exception as error:  # the reference implementation raises arbitrary exceptions
            raise QCompilerError(f"{self.op_type} failed in the reference interpreter: {error}", op.loc) from None
        return [_match_type(np.asarray(o), v.type) for o, v in zip(outputs, op.results)]


#: Ops whose first output has the shape and element type of their first input by the ONNX spec. ONNX's
#: shape inference leaves them untyped when it cannot see through their function body (GroupNormalization).
SAME_TYPE_AS_FIRST_INPUT = frozenset({
    "GroupNormalization", "MeanVarianceNormalization", "LayerNormalization", "Gelu", "Mish", "HardSwish",
})


def _inference_error(op_type: str, error: Exception, loc: Optional[str]) -> QCompilerError:
    message = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return QCompilerError(f"{op_type}: shape inference failed: {message}", loc)


def _add_schema_defaults(node: onnx.NodeProto, op_type: str, opset: int) -> bool:
    """Add the schema's default value of every attribute ``node`` leaves out; whether any was added."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return False
    present = {a.name for a in node.attribute}
    added = False
    for name, attribute in sorted(schema.attributes.items()):
        if name not in present and attribute.default_value.type != onnx.AttributeProto.UNDEFINED:
            node.attribute.append(attribute.default_value)
            added = True
    return added


def _match_type(array: np.ndarray, type: TensorType) -> np.ndarray:
    """The reference implementation sometimes returns a wider dtype or a scalar; cast to the declared type."""
    if type.element != "string" and array.dtype != type.dtype:
        array = array.astype(type.dtype)
    return array


def _opset_hint(op: Op) -> int:
    """The opset of a detached op (a type-inference probe): that of the graph its operands come from."""
    for value in op.operands:
        producer = None if value is None else value.producer
        if producer is not None and producer.graph is not None:
            return producer.graph.opset
    return 17


def _default_output_count(op_type: str, op, opset: int) -> int:
    schema = onnx.defs.get_schema(op_type, opset, "")
    return max(1, schema.min_output)


_EVALUATORS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _reference_evaluator(op: Op, inputs: Sequence[Optional[np.ndarray]]):
    """A cached ``onnx.reference`` evaluator for one op; rebuilt when the op's attributes change."""
    from onnx.reference import ReferenceEvaluator

    key = tuple((k, id(v)) for k, v in sorted(op.attrs.items())) + tuple(
        None if x is None else np.asarray(x).dtype.str for x in inputs) + tuple(
        None if v is None else v.type for v in op.operands)
    cached = _EVALUATORS.get(op)
    if cached is not None and cached[0] == key:
        return cached[1]
    input_names = [f"in{i}" if x is not None else "" for i, x in enumerate(inputs)]
    output_names = [f"out{i}" for i in range(len(op.results))]
    node = onnx_node_for(op, input_names, output_names)
    graph_inputs = [_evaluator_input(n, x, op.operand(i)) for i, (n, x) in enumerate(zip(input_names, inputs))
                    if x is not None]
    graph_outputs = [helper.make_value_info(n, onnx.TypeProto()) for n in output_names]
    model = helper.make_model(helper.make_graph([node], "eval", graph_inputs, graph_outputs),
                              opset_imports=[helper.make_opsetid("", op.graph.opset if op.graph else _opset_hint(op))])
    model.ir_version = 8
    try:
        evaluator = ReferenceEvaluator(model)
    except Exception as error:
        raise UnsupportedOpError(f"{op.kind} cannot be evaluated: {error}", op.loc) from None
    _EVALUATORS[op] = (key, evaluator)
    return evaluator


def _evaluator_input(name: str, array: np.ndarray, operand) -> onnx.ValueInfoProto:
    """A graph input for an evaluator: the operand's IR type when it matches the array's dtype (the rank
    matters to ops expanded from context-dependent function bodies, such as GroupNormalization), else the
    array's element type alone."""
    dtype = np.asarray(array).dtype
    if operand is not None and operand.type.quant is None and operand.type.element != "string" \
            and operand.type.dtype == dtype:
        return value_info(name, operand.type)
    element = onnx.TensorProto.STRING if dtype.kind in "OUS" else helper.np_dtype_to_tensor_dtype(dtype)
    return helper.make_tensor_value_info(name, element, None)


_DEFS: dict[str, OnnxOp] = {}


def _lookup_onnx(kind: str) -> Optional[OpDef]:
    if not kind.startswith("onnx."):
        return None
    op_type = kind[5:]
    if op_type not in supported_onnx_ops():
        return None
    definition = _DEFS.get(op_type)
    if definition is None:
        definition = _DEFS[op_type] = OnnxOp(op_type)
    return definition


register_fallback(_lookup_onnx)
