"""The reference interpreter: runs a graph op by op in numpy and returns its outputs.

It serves constant folding, calibration (through the ``observe`` hook) and, for quantized ops, as the
exact-integer oracle the backends must match.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import CONST, Graph, Value
from qcompiler.ops.registry import evaluate_op
from qcompiler.types import TensorType

Observer = Callable[[Value, np.ndarray], None]
#: Called with every op result and its array; returns an array to use instead, or None to keep it.
Substitute = Callable[[Value, np.ndarray], Optional[np.ndarray]]


def check_feed(value: Value, array: np.ndarray) -> np.ndarray:
    """Check an input array against the graph input's type and return it with the input's dtype."""
    array = np.asarray(array)
    expected: TensorType = value.type
    if expected.shape is not None:
        if array.ndim != len(expected.shape) or any(
            isinstance(d, int) and d != s for d, s in zip(expected.shape, array.shape)
        ):
            raise QCompilerError(
                f"input '{value.name}' expects shape {_shape_text(expected.shape)}, got {_shape_text(array.shape)}")
    if expected.element != "string" and array.dtype != expected.dtype:
        if array.dtype.kind == "f" and expected.dtype.kind == "f":
            array = array.astype(expected.dtype)
        else:
            raise QCompilerError(f"input '{value.name}' expects {expected.element} values, got {array.dtype}")
    return array


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def run(graph: Graph, feeds: Mapping[str, np.ndarray], observe: Optional[Observer] = None,
        substitute: Optional[Substitute] = None) -> dict[str, np.ndarray]:
    """Run ``graph`` on ``feeds`` (arrays by input name) and return its outputs by output name.

    ``observe`` is called with every value the run computes (inputs included) and its array.
    ``substitute`` may replace an op result's array before later ops read it (after ``observe`` saw the
    computed one): the quantization report uses it to measure each layer's error on exact inputs.
    Intermediate arrays are freed after their last use.
    """
    missing = [v.name for v in graph.inputs if v.name not in feeds]
    if missing:
        raise QCompilerError(f"missing input(s): {', '.join(missing)}")
    unknown = sorted(set(feeds) - {v.name for v in graph.inputs})
    if unknown:
        raise QCompilerError(f"the graph has no input(s) named {', '.join(unknown)}; "
                             f"its inputs are {', '.join(v.name or '?' for v in graph.inputs)}")
    env: dict[int, np.ndarray] = {}
    for value in graph.inputs:
        env[id(value)] = check_feed(value, feeds[value.name])
        if observe is not None:
            observe(value, env[id(value)])
    remaining = {}
    for op in graph:
        for operand in op.operands:
            if operand is not None:
                remaining[id(operand)] = remaining.get(id(operand), 0) + 1
    keep = {id(v) for v in graph.outputs}
    for op in graph:
        if op.kind == CONST:
            env[id(op.result)] = op.attrs["value"]
            continue
        arrays = [None if v is None else env[id(v)] for v in op.operands]
        results = evaluate_op(op, arrays)
        for value, array in zip(op.results, results):
            env[id(value)] = array
            if observe is not None:
                observe(value, array)
            if substitute is not None:
                replacement = substitute(value, array)
                if replacement is not None:
                    env[id(value)] = replacement
        for operand in op.operands:
            if operand is None:
                continue
            remaining[id(operand)] -= 1
            if remaining[id(operand)] == 0 and id(operand) not in keep:
                env.pop(id(operand), None)
    return {name: env[id(v)] for name, v in zip(graph.output_names, graph.outputs)}
