"""Emitting the Hexagon library: the MCU backend's schedule, placement and weight packing (with 128-byte
alignment for HVX), each step rendered as its HVX kernel call under ``#if QC_HVX`` and its MCU scalar kernel
call otherwise, plus the Hexagon runtime, harness and Makefile."""

from __future__ import annotations

from typing import Any

from qcompiler.backends.c_common.identifiers import c_identifier, comment_text
from qcompiler.backends.c_common.report import LayerRow
from qcompiler.backends.c_common.schedule import Step, build_schedule
from qcompiler.backends.c_common.weights import WeightPack
from qcompiler.backends.hexagon.lower import KERNELS as HVX_KERNELS
from qcompiler.backends.hexagon.lower import ArrayField, hvx_step
from qcompiler.backends.mcu.emit import (COMMON_HEADERS, CName, Library, Placement, _interface_steps, _label,
                                         _placement, _ref, assemble, c_initializer, check_interface,
                                         kernel_files, render_templates, report_files, template_file)
from qcompiler.backends.mcu.lower import KERNELS, RULES
from qcompiler.ir import Graph

#: Byte alignment of the arena, its buffers and the constant arrays: one HVX vector.
ALIGNMENT = 128
#: Hexagon kernel headers every library gets.
HVX_HEADERS = ("qc_hvx.h",)
#: Runtime files of the freestanding build and of the host harness.
RUNTIME_FILES = ("qc_hexagon_start.S", "qc_io_hexagon.c", "qc_hexagon_builtins.c", "qc_io.h", "qc_io.c",
                 "qc_io_host.c", "freestanding/string.h")


def _resolve(value: Any, step: Step, pack: WeightPack, label: str) -> Any:
    """An HVX struct initializer with its ArrayFields replaced by the packed arrays' names (cast)."""
    if isinstance(value, ArrayField):
        symbol = pack.add(step.arrays[value.name], f"{c_identifier(label, 'op')}_{value.name}",
                          f"{label} {value.name}")
        return CName(f"({value.ctype}){symbol}")
    if isinstance(value, dict):
        return {key: _resolve(item, step, pack, label) for key, item in value.items()}
    return value


def _fields(step: Step, pack: WeightPack, label: str) -> list[tuple[str, str]]:
    """The scalar kernel's struct fields: parameters, then its arrays packed for flash."""
    fields: dict[str, Any] = {k: v for k, v in step.params.items() if k not in ("slot", "bytes")}
    for parameter, array in step.arrays.items():
        fields[parameter] = CName(pack.add(array, f"{c_identifier(label, 'op')}_{parameter}", f"{label} {parameter}"))
    return [(key, c_initializer(value)) for key, value in fields.items()]


def generate(graph: Graph, name: str = "model") -> Library:
    """The Hexagon C library for a quantized ``graph`` (after lower-quantized), named after ``name``: one
    source for the HVX build and for the scalar builds (Hexagon with QC_SCALAR_ONLY, the host)."""
    prefix = c_identifier(name, "model")
    steps, direct = _interface_steps(graph, build_schedule(graph, RULES, "hexagon"))
    check_interface(graph, "Hexagon")
    pack = WeightPack(prefix)
    placement = Placement(graph, steps, direct, pack, ALIGNMENT)
    calls, layers, sources = [], [], set()
    for index, step in enumerate(steps):
        label = _label(step)
        function, struct = KERNELS[step.kernel]
        written = placement.written(step)
        reads = [placement.of(v) for v in step.inputs]
        inputs = [_ref(loc, v, True) for loc, v in zip(reads, step.inputs)]
        output = _ref(written, step.outputs[0], False)
        comment = comment_text(f"{step.op.kind} {label}")
        call = {"index": index, "comment": comment, "kernel": step.kernel, "function": function, "struct": struct,
                "alias": step.alias, "fields": _fields(step, pack, label), "inputs": inputs, "output": output,
                "bytes": step.params.get("bytes", 0), "hvx": None}
        sources.update(step.sources)
        variant = None if step.alias else hvx_step(step)
        if variant is not None:
            hvx_function, hvx_struct, hvx_sources = HVX_KERNELS[variant.kernel]
            params = _resolve(variant.params, variant, pack, label)
            call["hvx"] = {"index": index, "comment": comment, "function": hvx_function, "struct": hvx_struct,
                           "fields": [(k, c_initializer(v)) for k, v in params.items()], "inputs": inputs,
                           "output": output}
            sources.update(hvx_sources)
        calls.append(call)
        kernel = "view" if step.alias else (variant.kernel if variant is not None else step.kernel)
        layers.append(LayerRow(index, step.op.kind, comment_text(label), kernel, step.macs,
                               [_placement(v, loc) for v, loc in zip(step.inputs, reads)],
                               [_placement(step.outputs[0], written)], index in placement.in_place_steps))
    context, report = assemble(graph, prefix, placement, pack, steps, calls, layers, sources,
                               COMMON_HEADERS + HVX_HEADERS, ALIGNMENT)
    files = {
        **render_templates(context, {
            f"{prefix}.h": "mcu/model.h.j2", f"{prefix}.c": "hexagon/model.c.j2",
            f"{prefix}_weights.c": "mcu/weights.c.j2", "Makefile": "hexagon/Makefile.j2",
            "README.md": "hexagon/README.md.j2", "harness/main.c": "hexagon/harness/main.c.j2"}),
        **report_files(context, report, "hexagon"),
        **{f"runtime/{runtime}": template_file(f"hexagon/runtime/{runtime}") for runtime in RUNTIME_FILES},
        **kernel_files(COMMON_HEADERS + HVX_HEADERS, sources,
                       lambda name: "hexagon" if name.startswith("qc_hvx") else "mcu"),
    }
    return Library(prefix, files, report, placement.plan, {"inputs": context["inputs"], "outputs": context["outputs"]})


def write_library(graph: Graph, folder: str, name: str = "model") -> Library:
    """Generate the Hexagon library for ``graph`` and write it into ``folder``; returns it."""
    library = generate(graph, name)
    library.write(folder)
    return library
