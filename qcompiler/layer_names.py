"""Names a user gives to pick layers (``--keep-float``, ``--int16``, ``exclude``): what they may name and the
one-line error, with close matches, for a name that matches no op or tensor."""

from __future__ import annotations

import difflib
from typing import AbstractSet, Iterable

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Op

#: How many close matches an error lists.
CLOSE_MATCHES = 4


class UnknownLayerError(QCompilerError):
    """A layer name (an ONNX node name or a tensor name) that matches nothing in the model."""


def layer_names(graph: Graph) -> set[str]:
    """Every name that picks a layer of ``graph``: its ops' locs (the user's node names) and result names."""
    return {op.loc for op in graph if op.loc} | {v.name for op in graph for v in op.results if v.name}


def is_named(op: Op, names: AbstractSet[str]) -> bool:
    """Whether one of ``names`` picks ``op``: its loc or one of its results' names."""
    return (op.loc is not None and op.loc in names) or any(v.name in names for v in op.results if v.name)


def check_layer_names(graph: Graph, names: Iterable[str], option: str) -> None:
    """Raise ``UnknownLayerError`` naming the first of ``names`` (given to ``option``) that is no layer of
    ``graph``, with the closest existing names, so that a typo never silently leaves a layer in int8."""
    known = layer_names(graph)
    missing = [name for name in names if name not in known]
    if not missing:
        return
    candidates = sorted(known)
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, candidates, n=CLOSE_MATCHES, cutoff=0.5)
        hints.append(f"{name} (close matches: {', '.join(close)})" if close else f"{name} (no close match)")
    raise UnknownLayerError(f"{option} names no op or tensor: {'; '.join(hints)}")
