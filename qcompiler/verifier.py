"""The verifier: structural rules (SSA, use lists, topological order, types) and op-specific rules."""

from __future__ import annotations

from qcompiler.errors import VerificationError
from qcompiler.ir import Graph
from qcompiler.ops.registry import lookup_op_def


def verify(graph: Graph) -> None:
    """Raise ``VerificationError`` naming the first op that breaks a rule."""
    defined: set[int] = {id(v) for v in graph.inputs}
    if len(defined) != len(graph.inputs):
        raise VerificationError("a value is listed twice among the graph inputs")
    for value in graph.inputs:
        if value.producer is not None:
            raise VerificationError(f"graph input %{value.name} has a producer")
    count = 0
    for op in graph:
        count += 1
        if op.graph is not graph:
            raise VerificationError(f"{op.kind} is linked into the graph but belongs to another", op.loc)
        for index, operand in enumerate(op.operands):
            if operand is None:
                continue
            if id(operand) not in defined:
                where = "is defined after it" if operand.producer is not None and operand.producer.graph is graph \
                    else "is not defined in this graph"
                raise VerificationError(
                    f"{op.kind} uses %{operand.name} (operand {index}), which {where}", op.loc)
            if not any(u.op is op and u.index == index for u in operand.uses):
                raise VerificationError(f"{op.kind}: operand {index} is missing from its value's use list", op.loc)
        for index, result in enumerate(op.results):
            if result.producer is not op or result.result_index != index:
                raise VerificationError(f"{op.kind}: result {index} does not point back at its op", op.loc)
            if id(result) in defined:
                raise VerificationError(f"{op.kind}: result {index} is defined twice", op.loc)
            defined.add(id(result))
            for use in result.uses:
                if use.op.kind != "return" and use.op.graph is not graph:
                    raise VerificationError(f"{op.kind}: result {index} is used by an erased {use.op.kind}", op.loc)
        definition = lookup_op_def(op.kind)
        if definition is None:
            raise VerificationError(f"unknown op '{op.kind}'", op.loc)
        definition.verify(op)
    if count != len(graph):
        raise VerificationError(f"the graph counts {len(graph)} ops but links {count}")
    for index, value in enumerate(graph.return_op.operands):
        if value is None or id(value) not in defined:
            raise VerificationError(f"graph output {index} is not defined in the graph")
    if len(graph.output_names) != len(graph.return_op.operands):
        raise VerificationError("the graph needs one name per output")
    if len(set(graph.output_names)) != len(graph.output_names):
        raise VerificationError("graph output names must be unique")
