"""The C backends' report: arena size against its lower bound, flash (constant data; code when measured), and per
op the MACs and the arena offsets of what it reads and writes; as JSON for tools and as text for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional


@dataclass
class TensorPlacement:
    """Where one tensor of a step lives: ``arena`` (with offset), ``input`` or ``output`` (caller buffers)."""

    name: str
    where: str
    offset: int
    bytes: int


@dataclass
class LayerRow:
    """One step of the schedule."""

    index: int
    op: str
    name: str
    kernel: str
    macs: int
    reads: list[TensorPlacement]
    writes: list[TensorPlacement]
    in_place: bool = False
    storage: str = ""           # layer weights: dense, codebook, sparse or sparse-codebook ("" without weights)
    weight_bytes: int = 0       # bytes of the layer weights as stored
    dense_weight_bytes: int = 0  # bytes of the same weights as plain int8


@dataclass
class BackendReport:
    """Memory and compute figures of a generated library."""

    model: str
    arena_bytes: int
    lower_bound_bytes: int
    io_bytes: int
    weight_bytes: int
    total_macs: int
    layers: list[LayerRow] = field(default_factory=list)
    code_bytes: Optional[int] = None

    @property
    def layer_weight_bytes(self) -> tuple[int, int]:
        """(bytes of the layers' weights as stored, bytes of the same weights as plain int8)."""
        return (sum(row.weight_bytes for row in self.layers), sum(row.dense_weight_bytes for row in self.layers))

    def to_json(self) -> dict:
        """Plain data for ``report.json`` (with the layer weights' stored and plain int8 totals)."""
        data = asdict(self)
        data["layer_weight_bytes"], data["dense_layer_weight_bytes"] = self.layer_weight_bytes
        return data

    def to_text(self) -> str:
        """A table for ``report.txt`` (names already made comment- and terminal-safe by the caller)."""
        lines = [f"model {self.model}",
                 f"arena (RAM)        {self.arena_bytes} bytes",
                 f"lower bound        {self.lower_bound_bytes} bytes (most bytes live at once, separate buffers)",
                 f"caller I/O buffers {self.io_bytes} bytes",
                 f"weights (flash)    {self.weight_bytes} bytes",
                 f"layer weights      {self.layer_weight_bytes[0]} bytes stored, {self.layer_weight_bytes[1]} as plain "
                 f"int8",
                 f"MACs / inference   {self.total_macs}", "",
                 f"{'#':>3}  {'kernel':<18}{'MACs':>10}  {'in-place':<9}reads -> writes (arena offset:bytes)  name"]
        for row in self.layers:
            reads = ", ".join(_where(t) for t in row.reads)
            writes = ", ".join(_where(t) for t in row.writes)
            lines.append(f"{row.index:>3}  {row.kernel:<18}{row.macs:>10}  {'yes' if row.in_place else '':<9}"
                         f"{reads} -> {writes}  {row.name}{_storage(row)}")
        return "\n".join(lines) + "\n"


def _where(t: TensorPlacement) -> str:
    return f"@{t.offset}:{t.bytes}" if t.where == "arena" else f"{t.where}[{t.offset}]:{t.bytes}"


def _storage(row: LayerRow) -> str:
    return f"  [{row.storage} weights {row.weight_bytes}/{row.dense_weight_bytes} B]" if row.storage else ""
