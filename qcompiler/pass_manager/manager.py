"""The pass manager: runs a pipeline on a graph with MLIR-like instrumentation.

Instrumentation: print the IR before/after named passes or all passes, dump numbered ``.qir`` files into a
folder, time each pass (``pm.timings`` and an MLIR-style report), and verify the IR after each pass, naming
the pass that broke it.
"""

from __future__ import annotations

import contextvars
import os
import sys
import time
from typing import Callable, Iterable, Optional, Sequence, TextIO, Union

from qcompiler.errors import QCompilerError, VerificationError
from qcompiler.ir import Graph
from qcompiler.pass_manager.groups import FixedPoint
from qcompiler.pass_manager.pipeline import parse_pipeline, pipeline_text
from qcompiler.pass_manager.registry import Pass, PassGroup, get_pass, lookup_pipeline

Printer = Callable[[Graph], str]

_PASS_OUTPUT: contextvars.ContextVar[Optional[TextIO]] = contextvars.ContextVar("qcompiler_pass_output",
                                                                                 default=None)


def pass_output() -> TextIO:
    """The stream for a running pass's messages to the user: the running ``PassManager``'s ``out``
    (stderr when it has none, or when no manager is running)."""
    out = _PASS_OUTPUT.get()
    return out if out is not None else sys.stderr


def default_printer(graph: Graph) -> str:
    """The textual IR of ``graph`` (``qcompiler.text.print_graph``, imported when first needed)."""
    from qcompiler.text import print_graph

    return print_graph(graph)


def _names(names: Union[str, Iterable[str]]) -> frozenset[str]:
    """Pass names from a list, or from one comma-separated string."""
    if isinstance(names, str):
        names = names.split(",")
    return frozenset(n.strip() for n in names if n.strip())


def ir_dump_header(when: str, pass_name: str) -> str:
    """The MLIR-style banner above a printed IR: ``// -----// IR Dump After dce //----- //``."""
    return f"// -----// IR Dump {when} {pass_name} //----- //"


class PassManager:
    """Runs passes in order on a graph, with optional printing, dumping, timing and verification.

    ``passes`` is a list of ``Pass`` instances or a pipeline string. ``print_ir_before``/``print_ir_after`` name
    passes whose input/output is printed to ``out``; ``dump_dir`` receives ``000_input.qir``,
    ``001_after_<pass>.qir``, ...; with ``timing`` a report is printed to ``out`` after the run and kept in
    ``timings`` as ``(name, seconds)`` per pass, nested passes of groups indented by two spaces.
    """

    def __init__(self, passes: Union[str, Sequence[Pass]], *, verify_each: bool = False,
                 print_ir_before: Iterable[str] = (), print_ir_after: Iterable[str] = (),
                 print_before_all: bool = False, print_after_all: bool = False,
                 dump_dir: Optional[Union[str, os.PathLike]] = None, timing: bool = False,
                 printer: Optional[Printer] = None, out: Optional[TextIO] = None) -> None:
        self.passes: list[Pass] = parse_pipeline(passes) if isinstance(passes, str) else list(passes)
        for p in self.passes:
            if not isinstance(p, Pass):
                raise TypeError(f"PassManager takes Pass instances or a pipeline string, got {p!r}")
        self.verify_each = verify_each
        self.print_ir_before = _names(print_ir_before)
        self.print_ir_after = _names(print_ir_after)
        for name in self.print_ir_before | self.print_ir_after:
            if lookup_pipeline(name) is None:
                get_pass(name)  # unknown names fail now, with close matches, not silently never print
        self.print_before_all = print_before_all
        self.print_after_all = print_after_all
        self.dump_dir = None if dump_dir is None else os.fspath(dump_dir)
        self.timing = timing
        self.printer: Printer = printer or default_printer
        self.out = out
        self.timings: list[tuple[str, float]] = []
        self._timing_slots: dict[int, int] = {}
        self._dump_index = 0
        self._depth = 0
        self._instrumentation_seconds = 0.0

    @staticmethod
    def until_fixed_point(passes: Union[str, Sequence[Pass]], max_iterations: int = 10) -> FixedPoint:
        """A group that repeats ``passes`` until a whole round changes nothing (at most ``max_iterations``
        rounds, then ``ConvergenceError``); put it in a manager's pass list to have its passes instrumented.
        Pipeline strings spell it ``fixed-point{max-iterations=N}(p1,p2)``, and a named pipeline registered
        with ``fixed_point=True`` expands to it."""
        nested = parse_pipeline(passes) if isinstance(passes, str) else list(passes)
        return FixedPoint(passes=nested, max_iterations=max_iterations)

    @property
    def pipeline(self) -> str:
        """The pipeline string this manager runs."""
        return pipeline_text(self.passes)

    def run(self, graph: Graph) -> bool:
        """Run every pass on ``graph`` in order; return whether any changed it.

        A ``QCompilerError`` raised by a pass propagates unchanged (it carries the op's location); with
        ``verify_each`` a ``VerificationError`` names the pass after which the IR broke.
        """
        self.timings = []
        self._timing_slots = {}
        self._dump_index = 0
        if self.dump_dir is not None:
            try:
                os.makedirs(self.dump_dir, exist_ok=True)
            except OSError as error:
                raise QCompilerError(f"cannot create the dump folder {self.dump_dir}: {error.strerror}") from None
            self._dump(graph, "input")
        if self.verify_each:
            self._verify(graph, "before any pass (in the input)")
        changed = False
        token = _PASS_OUTPUT.set(self._stream())
        try:
            for p in self.passes:
                changed |= self._run_one(p, graph)
        finally:
            _PASS_OUTPUT.reset(token)
        if self.timing:
            self._stream().write(self.timing_report())
        return changed

    def _stream(self) -> TextIO:
        return self.out if self.out is not None else sys.stderr

    def _run_one(self, p: Pass, graph: Graph) -> bool:
        """Run one pass (a group through its nested passes) between its instrumentation.

        Its timing row excludes instrumentation (printing, dumping, verifying), nested passes' included.
        """
        name = p.display_name
        if self.print_before_all or p.name in self.print_ir_before or name in self.print_ir_before:
            self._timed_instrumentation(self._print, graph, "Before", name)
        slot = self._timing_slot(p)
        overhead_before = self._instrumentation_seconds
        start = time.perf_counter()
        if isinstance(p, PassGroup):
            self._depth += 1
            try:
                changed = bool(p.run_nested(graph, self._run_one))
            finally:
                self._depth -= 1
        else:
            changed = bool(p.run(graph))
        elapsed = time.perf_counter() - start - (self._instrumentation_seconds - overhead_before)
        row, seconds = self.timings[slot]
        self.timings[slot] = (row, seconds + elapsed)
        if self.verify_each:
            self._timed_instrumentation(self._verify, graph, f"after pass '{name}'")
        if self.print_after_all or p.name in self.print_ir_after or name in self.print_ir_after:
            self._timed_instrumentation(self._print, graph, "After", name)
        if self.dump_dir is not None:
            self._timed_instrumentation(self._dump, graph, f"after_{name}")
        return changed

    def _timed_instrumentation(self, action: Callable[..., None], *args: object) -> None:
        start = time.perf_counter()
        try:
            action(*args)
        finally:
            self._instrumentation_seconds += time.perf_counter() - start

    def _timing_slot(self, p: Pass) -> int:
        slot = self._timing_slots.get(id(p))
        if slot is None:
            slot = self._timing_slots[id(p)] = len(self.timings)
            self.timings.append(("  " * self._depth + p.display_name, 0.0))
        return slot

    def _verify(self, graph: Graph, when: str) -> None:
        from qcompiler.verifier import verify

        try:
            verify(graph)
        except VerificationError as error:
            raise VerificationError(f"IR is invalid {when}: {error.message}", error.location) from None

    def _print(self, graph: Graph, when: str, pass_name: str) -> None:
        text = self.printer(graph)
        stream = self._stream()
        stream.write(ir_dump_header(when, pass_name) + "\n")
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.write("\n")

    def _dump(self, graph: Graph, label: str) -> None:
        from qcompiler.fileio import atomic_write_text

        assert self.dump_dir is not None
        path = os.path.join(self.dump_dir, f"{self._dump_index:03d}_{label}.qir")
        self._dump_index += 1
        text = self.printer(graph)
        atomic_write_text(path, text if text.endswith("\n") else text + "\n")

    def timing_report(self) -> str:
        """An MLIR-style execution time report of the last run: wall time and share of the total per pass
        (nested passes indented under their group; instrumentation time left out)."""
        total = sum(seconds for name, seconds in self.timings if not name.startswith(" "))
        rule = "===" + "-" * 73 + "==="
        lines = [rule, "Execution time report".center(len(rule)).rstrip(), rule,
                 f"  Total Execution Time: {total:.4f} seconds", "", "  ----Wall Time----  ----Name----"]
        for name, seconds in self.timings:
            share = 100.0 * seconds / total if total > 0 else 0.0
            lines.append(f"  {seconds:8.4f} ({share:5.1f}%)  {name}")
        lines.append(f"  {total:8.4f} (100.0%)  Total")
        return "\n".join(lines) + "\n"
