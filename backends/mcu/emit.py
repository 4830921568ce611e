"""Emitting the MCU library: place every tensor (caller input/output buffers, views, the planned arena), pack the
constants, and render the templates of codegen_templates/mcu and codegen_templates/harness into a folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Optional

import jinja2
import numpy as np

from qcompiler.backends.c_common import overlap
from qcompiler.backends.c_common.identifiers import c_identifier, comment_text
from qcompiler.backends.c_common.liveness import live_intervals
from qcompiler.backends.c_common.planner import ArenaPlan, InPlace, plan_arena
from qcompiler.backends.c_common.report import BackendReport, LayerRow, TensorPlacement
from qcompiler.backends.c_common.schedule import Step, build_schedule
from qcompiler.backends.c_common.weights import WeightPack, c_literal, c_type
from qcompiler.backends.mcu.compressed import compress_step
from qcompiler.backends.mcu.lower import ITEMSIZES, KERNELS, RULES
from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Value

#: Byte alignment of the arena, of every buffer in it and of the constant arrays.
ALIGNMENT = 16
#: Headers every library gets (the kernels include them).
COMMON_HEADERS = ("qc_fixed_point.h", "qc_rounding.h", "qc_broadcast.h")


@dataclass(frozen=True)
class Location:
    """Where a tensor's bytes are: ``arena`` + offset, the caller's ``input``/``output`` buffer ``index``, or
    the ``const`` array ``symbol`` in flash (a constant operand of an elementwise op)."""

    where: str
    index: int = 0
    offset: int = 0
    symbol: str = ""


class CName(str):
    """A C expression (an identifier) that goes into the source as it is."""


@dataclass
class Library:
    """The generated library in memory: file contents by relative path, and its report."""

    name: str
    files: dict[str, str]
    report: BackendReport
    plan: ArenaPlan
    io: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def write(self, folder: str) -> None:
        """Write every file under ``folder`` (created if needed)."""
        for path, text in sorted(self.files.items()):
            target = os.path.join(folder, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="ascii", newline="\n") as handle:
                handle.write(text)


def c_initializer(value: Any) -> str:
    """A parameter value as a C initializer: integers, float32 (``f``) and double literals, identifiers, lists as
    braces, dicts as nested designated initializers."""
    if isinstance(value, CName):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f".{k} = {c_initializer(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(c_initializer(v) for v in value) + "}"
    if isinstance(value, np.float32):
        return c_literal(value, np.float32)
    if isinstance(value, float):
        return repr(value)
    return c_literal(int(value), np.int32)


def template_environment() -> jinja2.Environment:
    """The jinja2 environment over the package's codegen_templates (strict: undefined names fail)."""
    root = resources.files("qcompiler.codegen_templates")
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(root)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                              autoescape=False)


def template_file(relative: str) -> str:
    """The text of a static file of codegen_templates (kernel sources, harness support files)."""
    return resources.files("qcompiler.codegen_templates").joinpath(relative).read_text(encoding="ascii")


def render_templates(context: dict[str, Any], templates: dict[str, str]) -> dict[str, str]:
    """Each of ``templates`` (output path -> template under codegen_templates) rendered with ``context``: the
    generated files of a C library, in the order given."""
    env = template_environment()
    return {path: env.get_template(template).render(context) for path, template in templates.items()}


def kernel_files(headers: tuple[str, ...], sources: set[str], folder: Callable[[str], str]) -> dict[str, str]:
    """The kernels/ files of a library: the ``headers`` every library gets, then for each of ``sources`` (sorted)
    its .h and .c, or the header itself when it is one; ``folder`` names the codegen_templates folder
    (``mcu``, ``hexagon``) a file is read from."""
    names = list(headers)
    for source in sorted(sources):
        names.extend((source,) if source.endswith(".h") else (f"{source}.h", f"{source}.c"))
    return {f"kernels/{name}": template_file(f"{folder(name)}/kernels/{name}") for name in names}


# -- placement ---------------------------------------------------------------------------------------------------------
def _nbytes(value: Value) -> int:
    return int(np.prod(value.type.shape, dtype=np.int64)) * ITEMSIZES[value.type.element]


def _interface_steps(graph: Graph, steps: list[Step]) -> tuple[list[Step], dict[int, int]]:
    """Decide how each graph output slot is filled: the producing step writes the caller's buffer directly
    (returned as value id -> slot), or a copy does (a view whose result is an output becomes a copy; an output
    that is a graph input, or a repeated output, gets an extra copy step)."""
    produced_by = {id(s.outputs[0]): s for s in steps}
    direct: dict[int, int] = {}
    extra: list[Step] = []
    for slot, value in enumerate(graph.outputs):
        step = produced_by.get(id(value))
        if step is not None and id(value) not in direct and "slot" not in step.params:
            if step.alias:
                step.alias = False
                step.params["slot"] = slot
            else:
                direct[id(value)] = slot
            continue
        extra.append(Step(step.op if step is not None else steps[-1].op, "copy", (), [value], [value],
                          {"bytes": _nbytes(value), "slot": slot}))
    return steps + extra, direct


class Placement:
    """Locations of every activation tensor and the arena plan."""

    def __init__(self, graph: Graph, steps: list[Step], direct: dict[int, int], pack: WeightPack,
                 alignment: int = ALIGNMENT) -> None:
        self.locations: dict[int, Location] = {}
        self.keys: dict[int, int] = {}  # value id -> arena buffer number (a view shares its source's)
        for index, value in enumerate(graph.inputs):
            self.locations[id(value)] = Location("input", index)
        for step in steps:
            for value in step.inputs:
                data = value.const_value
                if data is not None and id(value) not in self.locations:
                    array = np.ascontiguousarray(data, dtype=value.type.dtype)
                    self.locations[id(value)] = Location("const", symbol=pack.add(array, value.name or "constant"))
        sizes: dict[int, int] = {}
        for step in steps:
            value = step.outputs[0]
            if step.alias:
                if id(step.inputs[0]) in self.keys:
                    self.keys[id(value)] = self.keys[id(step.inputs[0])]
                else:
                    self.locations[id(value)] = self.locations[id(step.inputs[0])]
            elif "slot" in step.params:
                self.locations.setdefault(id(value), Location("output", step.params["slot"]))
            elif id(value) in direct:
                self.locations[id(value)] = Location("output", direct[id(value)])
            else:  # buffers are numbered in schedule order: the plan must not depend on object ids
                self.keys[id(value)] = len(sizes)
                sizes[len(sizes)] = _nbytes(value)
        intervals = live_intervals([([self.keys[id(v)] for v in s.inputs if id(v) in self.keys],
                                     [] if s.alias or "slot" in s.params else
                                     [self.keys[id(v)] for v in s.outputs if id(v) in self.keys])
                                    for s in steps])
        candidates = []
        for index, step in enumerate(steps):
            if step.first_reads is None or step.alias:
                continue
            source, result = step.inputs[step.in_place_operand], step.outputs[0]
            if id(source) not in self.keys or id(result) not in self.keys:
                continue
            distance = overlap.safe_distance(step.first_reads, ITEMSIZES[result.type.element],
                                             ITEMSIZES[source.type.element])
            candidates.append(InPlace(self.keys[id(source)], self.keys[id(result)], index, distance))
        self.plan = plan_arena(sizes, intervals, candidates, alignment)
        for value_id, key in self.keys.items():
            self.locations[value_id] = Location("arena", 0, self.plan.offsets[key])
        self.in_place_steps = {candidate.step for candidate in self.plan.in_place}

    def of(self, value: Value) -> Location:
        """The location of an activation tensor."""
        return self.locations[id(value)]

    def written(self, step: Step) -> Location:
        """Where ``step`` writes its result (a copy writes its output slot)."""
        if "slot" in step.params:
            return Location("output", step.params["slot"])
        return self.of(step.outputs[0])


# -- rendering ---------------------------------------------------------------------------------------------------------
def _ref(location: Location, value: Value, const: bool) -> dict[str, Any]:
    return {"where": location.where, "index": location.index, "offset": location.offset,
            "symbol": location.symbol, "ctype": c_type(value.type.dtype), "const": "const " if const else ""}


def _label(step: Step) -> str:
    op = step.op
    return op.loc or op.result.name or op.kind if op.results else op.kind


def _interface(values: list[Value], names: list[str]) -> list[dict[str, Any]]:
    entries = []
    for value, name in zip(values, names):
        quant = value.type.quant
        shape = [int(d) for d in value.type.shape]
        entries.append({"name": name, "comment": comment_text(name), "ctype": c_type(value.type.dtype),
                        "element": value.type.element, "shape": shape, "rank": len(shape),
                        "count": int(np.prod(shape, dtype=np.int64)), "bytes": _nbytes(value),
                        "scale": None if quant is None else float(np.float32(quant.scale)),
                        "scale_literal": None if quant is None else c_literal(quant.scale, np.float32),
                        "zero_point": None if quant is None else quant.zero_point})
    return entries


def check_interface(graph: Graph, backend: str) -> None:
    """Raise a one-line error unless every model input and output is a static i8/f32 tensor (what the
    generated C interface can pass); ``backend`` names the backend in the message."""
    for value in list(graph.inputs) + list(graph.outputs):
        if value.type.element not in ITEMSIZES or value.type.shape is None \
                or any(not isinstance(d, int) for d in value.type.shape):
            raise QCompilerError(f"the {backend} backend needs static i8/f32 model inputs and outputs, got "
                                 f"'{value.name}' of type {value.type.element} {value.type.shape}")


def assemble(graph: Graph, prefix: str, placement: Placement, pack: WeightPack, steps: list[Step],
             calls: list[dict[str, Any]], layers: list[LayerRow], sources: set[str], headers: tuple[str, ...],
             alignment: int) -> tuple[dict[str, Any], BackendReport]:
    """The template context of a C library (interface, arena, calls, weights, kernels) and its report: what the
    MCU and Hexagon emitters share once their steps are rendered into ``calls`` and ``layers``."""
    inputs = _interface(list(graph.inputs), [v.name or f"input{i}" for i, v in enumerate(graph.inputs)])
    outputs = _interface(list(graph.outputs), list(graph.output_names))
    context = {"name": prefix, "macro": prefix.upper(), "arena_size": placement.plan.size, "calls": calls,
               "inputs": inputs, "outputs": outputs, "weights": pack.arrays, "alignment": alignment,
               "kernels": sorted(s for s in sources if not s.endswith(".h")), "headers": headers,
               "lower_bound": placement.plan.lower_bound, "weight_bytes": pack.nbytes,
               "macs": sum(s.macs for s in steps)}
    report = BackendReport(prefix, placement.plan.size, placement.plan.lower_bound,
                           sum(e["bytes"] for e in inputs + outputs), pack.nbytes, context["macs"], layers)
    return context, report


def report_files(context: dict[str, Any], report: BackendReport, target: Optional[str] = None) -> dict[str, str]:
    """report.json, report.txt and interface.json of a library (``target`` goes into the interface when given,
    so that tools tell a Hexagon library from an MCU one)."""
    interface = {"name": context["name"], **({"target": target} if target else {}),
                 "inputs": context["inputs"], "outputs": context["outputs"]}
    return {"report.json": json.dumps(report.to_json(), indent=1, sort_keys=True) + "\n",
            "report.txt": report.to_text(),
            "interface.json": json.dumps(interface, indent=1, sort_keys=True) + "\n"}


def generate(graph: Graph, name: str = "model", compress: bool = True) -> Library:
    """The C library for a quantized ``graph`` (after lower-quantized), its files named after ``name``; with
    ``compress`` each layer's weights take their smallest storage (plain, packed codebook indices or sparse)."""
    prefix = c_identifier(name, "model")
    steps, direct = _interface_steps(graph, build_schedule(graph, RULES, "mcu"))
    choices = [compress_step(step) if compress else (step, None) for step in steps]
    steps = [step for step, _ in choices]
    check_interface(graph, "MCU")
    pack = WeightPack(prefix)
    placement = Placement(graph, steps, direct, pack)
    calls, layers, sources = [], [], set()
    for index, step in enumerate(steps):
        label = _label(step)
        fields = {k: v for k, v in step.params.items() if k not in ("slot", "bytes")}
        for parameter, array in step.arrays.items():
            symbol = CName(pack.add(array, f"{c_identifier(label, 'op')}_{parameter.replace('.', '_')}",
                                    f"{label} {parameter}"))
            outer, _, member = parameter.partition(".")  # "weights.stream": a member of a nested struct
            fields[outer] = {**fields.get(outer, {}), member: symbol} if member else symbol
        function, struct = KERNELS[step.kernel]
        written = placement.written(step)
        reads = [placement.of(v) for v in step.inputs]
        sources.update(step.sources)
        calls.append({"index": index, "comment": comment_text(f"{step.op.kind} {label}"), "kernel": step.kernel,
                      "function": function, "struct": struct, "alias": step.alias,
                      "fields": [(k, c_initializer(v)) for k, v in fields.items()],
                      "inputs": [_ref(loc, v, True) for loc, v in zip(reads, step.inputs)],
                      "output": _ref(written, step.outputs[0], False), "bytes": step.params.get("bytes", 0)})
        storage = choices[index][1]
        layers.append(LayerRow(index, step.op.kind, comment_text(label), "view" if step.alias else step.kernel,
                               step.macs,
                               [_placement(v, loc) for v, loc in zip(step.inputs, reads)],
                               [_placement(step.outputs[0], written)], index in placement.in_place_steps,
                               *((storage.kind, storage.bytes, storage.dense_bytes) if storage else ())))
    context, report = assemble(graph, prefix, placement, pack, steps, calls, layers, sources, COMMON_HEADERS,
                               ALIGNMENT)
    context["layer_weights"] = [sum(c.bytes for _, c in choices if c), sum(c.dense_bytes for _, c in choices if c)]
    inputs, outputs = context["inputs"], context["outputs"]
    files = {
        **render_templates(context, {
            f"{prefix}.h": "mcu/model.h.j2", f"{prefix}.c": "mcu/model.c.j2",
            f"{prefix}_weights.c": "mcu/weights.c.j2", "Makefile": "mcu/Makefile.j2",
            "CMakeLists.txt": "mcu/CMakeLists.txt.j2", "README.md": "mcu/README.md.j2",
            "harness/main.c": "harness/main.c.j2"}),
        "harness/cm4_startup.c": template_file("harness/cm4_startup.c"),
        "harness/cm4.ld": template_file("harness/cm4.ld"),
        **report_files(context, report),
        **kernel_files(COMMON_HEADERS, sources, lambda name: "mcu"),
    }
    return Library(prefix, files, report, placement.plan, {"inputs": inputs, "outputs": outputs})


def _placement(value: Value, location: Location) -> TensorPlacement:
    offset = location.offset if location.where == "arena" else location.index
    where = location.where if location.where != "const" else "flash"
    return TensorPlacement(comment_text(value.name or ""), where, offset, _nbytes(value))


def write_library(graph: Graph, folder: str, name: str = "model") -> Library:
    """Generate the library for ``graph`` and write it into ``folder``; returns it (files and report)."""
    library = generate(graph, name)
    library.write(folder)
    return library
