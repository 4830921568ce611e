"""Pass registration, pipeline strings and their errors, the instrumented PassManager, and plugins."""

from __future__ import annotations

import io
import sys
import textwrap
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import ClassVar, Literal, Optional, Sequence

import numpy as np
import pytest

from qcompiler.errors import QCompilerError, VerificationError
from qcompiler.interpreter import run
from qcompiler.ir import Graph
from qcompiler.pass_manager import (FixedPoint, Pass, PassManager, PipelineError, get_pass, load_entry_point_passes,
                                    load_pass_plugin, parse_pipeline, pipeline_text, register_pass,
                                    register_pipeline, registered_passes, registered_pipelines)
from qcompiler.pass_manager import parse_value
from qcompiler.pass_manager import registry as pass_registry
from qcompiler.types import TensorType

F32 = TensorType((2, 3), "f32")


class Mode(Enum):
    """Test enum option."""

    FAST = "fast"
    EXACT = "exact"


@register_pass
@dataclass
class Configurable(Pass):
    """A test pass with one option of every supported type."""

    name: ClassVar[str] = "test-configurable"
    flag: bool = False
    count: int = 1
    ratio: float = 0.5
    label: str = "x"
    exclude: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    limit: Optional[int] = None
    mode: Literal["int8", "int16x8"] = "int8"
    speed: Mode = Mode.FAST

    def run(self, graph: Graph) -> bool:
        return False


@register_pass("test-threshold")
def threshold_pass(graph: Graph, threshold: float = 0.1, names: list[str] = ["a"]) -> bool:  # noqa: B006
    """A function pass: records its options on the graph."""
    graph.attrs["seen"] = (threshold, list(names))
    return True


@register_pass
def sample_bare_pass(graph: Graph) -> bool:
    """Named after the function."""
    return False


@register_pass
@dataclass
class NegateAll(Pass):
    """Counts its runs on the graph and changes it a fixed number of times."""

    name: ClassVar[str] = "test-countdown"

    def run(self, graph: Graph) -> bool:
        left = graph.attrs.get("countdown", 0)
        graph.attrs["runs"] = graph.attrs.get("runs", 0) + 1
        if left > 0:
            graph.attrs["countdown"] = left - 1
            return True
        return False


@register_pass
@dataclass
class BreakIR(Pass):
    """Deliberately breaks the IR: makes the graph output a value of an erased op."""

    name: ClassVar[str] = "test-break-ir"

    def run(self, graph: Graph) -> bool:
        op = graph.first
        graph.set_outputs([op.result], ["y"])
        graph._unlink(op)  # leaves the op's result referenced: the verifier must notice
        op.graph = None
        return True


@register_pass
@dataclass
class FailWithLoc(Pass):
    """Raises a user error located at the first op."""

    name: ClassVar[str] = "test-fail"

    def run(self, graph: Graph) -> bool:
        raise QCompilerError("cannot handle this", graph.first.loc)


register_pipeline("test-named", "test-configurable{count=2},dce", doc="a named test pipeline")
register_pipeline("test-repeat", "test-countdown,dce", doc="repeat", fixed_point=True, max_iterations=5)


def small_graph() -> Graph:
    graph = Graph()
    x = graph.add_input("x", F32)
    a = graph.create("onnx.Neg", [x], loc="node_a", result_types=[F32]).result
    graph.create("onnx.Abs", [a], loc="dead", result_types=[F32])
    graph.set_outputs([a], ["y"])
    return graph


def fake_printer(graph: Graph) -> str:
    return "ops: " + " ".join(op.kind for op in graph)


# -- registration -------------------------------------------------------------------------------
def test_class_and_function_registration() -> None:
    passes = registered_passes()
    assert passes["test-configurable"] is Configurable
    assert passes["test-threshold"] is threshold_pass.pass_class
    assert "sample-bare-pass" in passes
    assert "dce" in passes and "fixed-point" in passes
    assert get_pass("test-threshold").summary() == "A function pass: records its options on the graph."
    assert [o.name for o in get_pass("test-threshold").options()] == ["threshold", "names"]
    graph = small_graph()
    assert threshold_pass(graph, 0.3) and graph.attrs["seen"] == (0.3, ["a"])  # still a plain function


def test_registering_a_name_twice_fails_unless_same_object() -> None:
    register_pass(Configurable)  # same object: fine
    with pytest.raises(QCompilerError, match="'test-configurable' is already registered"):
        @register_pass
        @dataclass
        class Other(Pass):
            """Clashes."""

            name: ClassVar[str] = "test-configurable"


def test_bad_registrations() -> None:
    with pytest.raises(QCompilerError, match="type annotation"):
        register_pass("test-unannotated")(lambda graph, x=1: False)
    with pytest.raises(QCompilerError, match="name"):
        register_pass("bad name!")(lambda graph: False)
    with pytest.raises(QCompilerError, match="cannot spell"):
        @register_pass
        @dataclass
        class BadOption(Pass):
            """Unparseable option type."""

            name: ClassVar[str] = "test-bad-option"
            table: dict = field(default_factory=dict)
    assert "test-bad-option" not in registered_passes()


# -- pipeline parsing -----------------------------------------------------------------------------
def test_options_parse_by_type() -> None:
    (p,) = parse_pipeline("test-configurable{flag=true count=0x10 ratio=2.5e-1 label=hello exclude=a,b "
                          "sizes={1,2,3} limit=7 mode=int16x8 speed=exact}")
    assert p == Configurable(True, 16, 0.25, "hello", ["a", "b"], [1, 2, 3], 7, "int16x8", Mode.EXACT)
    (p,) = parse_pipeline("test-configurable{flag=0 limit=none per_channel_alias_is_not_here=1}".replace(
        " per_channel_alias_is_not_here=1", ""))
    assert p.flag is False and p.limit is None
    (p,) = parse_pipeline("test-configurable{label='with space, and comma' exclude={}}")
    assert p.label == "with space, and comma" and p.exclude == []


def test_function_pass_options_and_underscore_spelling() -> None:
    (p,) = parse_pipeline("test-threshold{threshold=0.75 names=p,q}")
    graph = small_graph()
    assert p.run(graph) and graph.attrs["seen"] == (0.75, ["p", "q"])


def test_pipeline_text_round_trips() -> None:
    text = "test-configurable{flag=true exclude=a,b mode=int16x8},dce,fixed-point{max-iterations=3}(dce,test-threshold)"
    passes = parse_pipeline(text)
    assert parse_pipeline(pipeline_text(passes)) == passes
    assert pipeline_text(passes).startswith("test-configurable{flag=true exclude=a,b mode=int16x8},dce,fixed-point")


def test_nested_groups_and_named_pipelines() -> None:
    passes = parse_pipeline(" dce , fixed-point{max-iterations=4}( test-named , fixed-point(dce) ), test-repeat ")
    assert [p.name for p in passes] == ["dce", "fixed-point", "fixed-point"]
    outer = passes[1]
    assert outer.max_iterations == 4
    assert [p.name for p in outer.passes] == ["test-configurable", "dce", "fixed-point"]
    assert outer.passes[0].count == 2
    repeat = passes[2]
    assert isinstance(repeat, FixedPoint) and repeat.max_iterations == 5
    assert [p.name for p in repeat.passes] == ["test-countdown", "dce"]
    assert registered_pipelines()["test-named"].doc == "a named test pipeline"
    assert parse_pipeline("") == []


@pytest.mark.parametrize("text, message", [
    ("dcee", r"unknown pass 'dcee'; did you mean 'dce'"),
    ("test-configurabel{count=1}", r"did you mean 'test-configurable'"),
    ("test-configurable{cont=1}", r"has no option 'cont' \(its options: flag: bool, count: int, ratio: float"),
    ("test-configurable{count=many}", r"option 'count' expects int, got 'many'"),
    ("test-configurable{flag=maybe}", r"option 'flag' expects bool, got 'maybe'"),
    ("test-configurable{ratio=x}", r"option 'ratio' expects float"),
    ("test-configurable{sizes=1,b}", r"option 'sizes' expects list\[int\]"),
    ("test-configurable{mode=int4}", r"option 'mode' expects one of int8\|int16x8"),
    ("test-configurable{limit=lots}", r"option 'limit' expects int or none"),
    ("test-configurable{count=1 count=2}", r"option 'count' of 'test-configurable' is given twice"),
    ("test-configurable{count}", r"option 'count' of 'test-configurable' needs a value"),
    ("test-configurable{count=1", r"missing '}' after the options"),
    ("dce,,dce", r"column 5: expected a pass name, found ','"),
    ("dce dce", r"expected ',' or the end, found 'd'"),
    ("dce(dce)", r"pass 'dce' does not take nested passes"),
    ("fixed-point", r"pass 'fixed-point' needs nested passes"),
    ("fixed-point(dce", r"expected ',' or '\)', found the end"),
    ("test-named{x=1}", r"'test-named' is a named pipeline; it takes no options"),
    ("test-configurable{label='open}", r"unterminated '-quoted value"),
])
def test_pipeline_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as info:
        parse_pipeline(text)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, QCompilerError)


def test_named_pipeline_cycle_is_an_error() -> None:
    register_pipeline("test-cycle-a", "dce,test-cycle-b")
    register_pipeline("test-cycle-b", "test-cycle-a")
    with pytest.raises(PipelineError, match="refers to itself"):
        parse_pipeline("test-cycle-a")


def test_required_option() -> None:
    @register_pass("test-required")
    def needs(graph: Graph, level: int) -> bool:
        """Needs a level."""
        return False

    with pytest.raises(PipelineError, match="needs the option\\(s\\) level"):
        parse_pipeline("test-required")
    assert parse_pipeline("test-required{level=3}")[0].level == 3


# -- the pass manager ----------------------------------------------------------------------------
def test_run_changes_and_keeps_meaning() -> None:
    graph = small_graph()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    before = run(graph, {"x": x})
    pm = PassManager("dce", verify_each=True)
    assert pm.run(graph)
    assert [op.kind for op in graph] == ["onnx.Neg"]
    np.testing.assert_array_equal(run(graph, {"x": x})["y"], before["y"])
    assert not pm.run(graph)


def test_print_after_all_and_before_named() -> None:
    out = io.StringIO()
    pm = PassManager([get_pass("dce")()], print_after_all=True, print_ir_before=["dce"], printer=fake_printer,
                     out=out)
    pm.run(small_graph())
    assert out.getvalue() == (
        "// -----// IR Dump Before dce //----- //\nops: onnx.Neg onnx.Abs\n\n"
        "// -----// IR Dump After dce //----- //\nops: onnx.Neg\n\n")


def test_print_names_are_checked() -> None:
    with pytest.raises(PipelineError, match="did you mean 'dce'"):
        PassManager("dce", print_ir_after=["dec"])


def test_dump_dir_numbered_files(tmp_path: Path) -> None:
    pm = PassManager("test-configurable,dce,fixed-point(dce)", dump_dir=tmp_path / "dumps", printer=fake_printer)
    pm.run(small_graph())
    files = sorted(p.name for p in (tmp_path / "dumps").iterdir())
    assert files == ["000_input.qir", "001_after_test-configurable.qir", "002_after_dce.qir",
                     "003_after_dce.qir", "004_after_fixed-point.qir"]
    assert (tmp_path / "dumps" / "000_input.qir").read_text() == "ops: onnx.Neg onnx.Abs\n"
    assert (tmp_path / "dumps" / "002_after_dce.qir").read_text() == "ops: onnx.Neg\n"


def test_timing_table_and_timings() -> None:
    out = io.StringIO()
    pm = PassManager("dce,fixed-point(test-countdown,dce)", timing=True, out=out)
    graph = small_graph()
    graph.attrs["countdown"] = 2
    pm.run(graph)
    assert [name for name, _ in pm.timings] == ["dce", "fixed-point", "  test-countdown", "  dce"]
    assert all(seconds >= 0 for _, seconds in pm.timings)
    report = out.getvalue()
    assert "Execution time report" in report and "Total Execution Time:" in report
    assert "----Wall Time----  ----Name----" in report
    lines = report.splitlines()
    assert lines[-1].endswith("(100.0%)  Total")
    assert any(line.endswith("%)    test-countdown") for line in lines)


def test_verify_each_names_the_breaking_pass() -> None:
    pm = PassManager("dce,test-break-ir,dce", verify_each=True)
    with pytest.raises(VerificationError, match="IR is invalid after pass 'test-break-ir'"):
        pm.run(small_graph())
    # without verification the broken pass goes unnoticed by the manager
    PassManager("test-break-ir").run(small_graph())


def test_verify_each_checks_the_input() -> None:
    graph = small_graph()
    graph.first.set_operand(0, graph.first.result)  # uses itself: not in topological order
    with pytest.raises(VerificationError, match="before any pass"):
        PassManager("dce", verify_each=True).run(graph)


def test_pass_errors_propagate_with_their_location() -> None:
    with pytest.raises(QCompilerError) as info:
        PassManager("dce,test-fail").run(small_graph())
    assert info.value.location == "node_a"
    assert str(info.value) == "node_a: cannot handle this"


def test_fixed_point_runs_until_nothing_changes() -> None:
    graph = small_graph()
    graph.attrs["countdown"] = 3
    assert PassManager("test-repeat").run(graph)
    assert graph.attrs["runs"] == 4  # three changing rounds and one quiet round


def test_fixed_point_non_convergence() -> None:
    graph = small_graph()
    graph.attrs["countdown"] = 100
    with pytest.raises(QCompilerError, match=r"did not converge in 2 iteration\(s\); still changing the graph: "
                                             r"test-countdown"):
        PassManager("fixed-point{max-iterations=2}(test-countdown,dce)").run(graph)
    graph.attrs["countdown"] = 100
    with pytest.raises(QCompilerError, match="did not converge"):
        FixedPoint(passes=[NegateAll()], max_iterations=3).run(graph)  # also outside the manager


# -- plugins --------------------------------------------------------------------------------------
PLUGIN = '''
"""A user's plugin: one class pass and one function pass."""
from dataclasses import dataclass
from typing import ClassVar
from qcompiler.pass_manager import Pass, register_pass

@register_pass
@dataclass
class Mark(Pass):
    """Marks the graph."""
    name: ClassVar[str] = "{prefix}-mark"
    value: int = 1
    def run(self, graph) -> bool:
        graph.attrs["mark"] = self.value
        return True

@register_pass("{prefix}-scale")
def scale(graph, factor: float = 2.0) -> bool:
    """Records a factor."""
    graph.attrs["factor"] = factor
    return True
'''


def write_plugin(folder: Path, prefix: str, body: str = PLUGIN, filename: str = "passes.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(textwrap.dedent(body).replace("{prefix}", prefix))
    return path


def test_plugin_may_import_modules_next_to_it(tmp_path: Path) -> None:
    write_plugin(tmp_path / "sib", "", body="FACTOR = 3\n", filename="qc_test_sibling_helper.py")
    path = write_plugin(tmp_path / "sib", "sib", body=PLUGIN.replace(
        "value: int = 1", "value: int = __import__('qc_test_sibling_helper').FACTOR"), filename="uses_helper.py")
    load_pass_plugin(path)
    assert get_pass("sib-mark")().value == 3
    assert str(tmp_path / "sib") not in sys.path


def test_until_fixed_point_helper() -> None:
    group = PassManager.until_fixed_point("test-countdown,dce", max_iterations=4)
    graph = small_graph()
    graph.attrs["countdown"] = 2
    pm = PassManager([group], timing=True, out=io.StringIO())
    assert pm.run(graph) and graph.attrs["runs"] == 3
    assert [name for name, _ in pm.timings] == ["fixed-point", "  test-countdown", "  dce"]


def test_print_names_may_be_one_comma_separated_string() -> None:
    out = io.StringIO()
    PassManager("test-configurable,dce", print_ir_after="dce, test-configurable", printer=fake_printer,
                out=out).run(small_graph())
    assert out.getvalue().count("IR Dump After") == 2


def test_plugin_passes_are_first_class(tmp_path: Path) -> None:
    path = write_plugin(tmp_path / "one", "plug")
    module = load_pass_plugin(path)
    assert load_pass_plugin(str(path)) is module  # loading again is a no-op
    assert {"plug-mark", "plug-scale"} <= set(registered_passes())
    out = io.StringIO()
    graph = small_graph()
    pm = PassManager("plug-mark{value=7},plug-scale{factor=0.5}", print_after_all=True, timing=True,
                     printer=fake_printer, out=out)
    assert pm.run(graph)
    assert graph.attrs["mark"] == 7 and graph.attrs["factor"] == 0.5
    assert "// -----// IR Dump After plug-scale //----- //" in out.getvalue()
    assert [name for name, _ in pm.timings] == ["plug-mark", "plug-scale"]
    assert get_pass("plug-mark").summary() == "Marks the graph."


def test_two_plugins_with_the_same_file_name_do_not_collide(tmp_path: Path) -> None:
    first = load_pass_plugin(write_plugin(tmp_path / "a", "plug-a"))
    second = load_pass_plugin(write_plugin(tmp_path / "b", "plug-b"))
    assert first is not second and first.__name__ != second.__name__
    assert {"plug-a-mark", "plug-b-mark"} <= set(registered_passes())


def test_plugin_registering_a_taken_name_fails(tmp_path: Path) -> None:
    load_pass_plugin(write_plugin(tmp_path / "c", "plug-c"))
    clash = write_plugin(tmp_path / "d", "plug-c")
    with pytest.raises(QCompilerError, match=r"passes\.py: pass 'plug-c-mark' is already registered"):
        load_pass_plugin(clash)


@pytest.mark.parametrize("body, message", [
    ("def broken(:\n", r"syntax error at line 1"),
    ("raise RuntimeError('boom')\n", r"failed to import: RuntimeError: boom"),
    ("import no_such_module_for_qcompiler\n", r"failed to import: ModuleNotFoundError"),
])
def test_plugin_errors_name_the_file(tmp_path: Path, body: str, message: str) -> None:
    path = write_plugin(tmp_path, "x", body, filename="bad_plugin.py")
    with pytest.raises(QCompilerError, match=message) as info:
        load_pass_plugin(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_plugin_file(tmp_path: Path) -> None:
    with pytest.raises(QCompilerError, match=r"nothere\.py: no such file"):
        load_pass_plugin(tmp_path / "nothere.py")


class FakeEntryPoint:
    """Stands in for ``importlib.metadata.EntryPoint`` (name, value, load)."""

    def __init__(self, name: str, value: str, target: object) -> None:
        self.name, self.value, self.group = name, value, "qcompiler.passes"
        self._target = target

    def load(self) -> object:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


class FakeEntryPoints(list):
    def select(self, group: str) -> list:
        return [ep for ep in self if ep.group == group]


def test_entry_point_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = load_pass_plugin(write_plugin(tmp_path / "ep", "ep"))

    def ep_function(graph: Graph, level: int = 1) -> bool:
        """An entry point that is a plain function."""
        graph.attrs["level"] = level
        return True

    @dataclass
    class EpClass(Pass):
        """An entry point that is an unregistered pass class."""

        name: ClassVar[str] = "ep-class"

        def run(self, graph: Graph) -> bool:
            return False

    points = FakeEntryPoints([FakeEntryPoint("ep-func", "pkg:ep_function", ep_function),
                              FakeEntryPoint("ep-module", "pkg.passes", module),
                              FakeEntryPoint("ep-class", "pkg:EpClass", EpClass)])
    monkeypatch.setattr("importlib.metadata.entry_points", lambda: points)
    try:
        assert load_entry_point_passes() == ["ep-class", "ep-func", "ep-module"]
        assert load_entry_point_passes() == ["ep-class", "ep-func", "ep-module"]  # idempotent
        graph = small_graph()
        PassManager("ep-func{level=4},ep-class,ep-mark").run(graph)
        assert graph.attrs["level"] == 4 and graph.attrs["mark"] == 1
    finally:
        pass_registry.unregister("ep-func")
        pass_registry.unregister("ep-class")


def test_entry_point_that_fails_to_load(monkeypatch: pytest.MonkeyPatch) -> None:
    points = FakeEntryPoints([FakeEntryPoint("broken", "broken_pkg:passes", ImportError("no module broken_pkg"))])
    monkeypatch.setattr("importlib.metadata.entry_points", lambda: points)
    with pytest.raises(QCompilerError, match=r"pass entry point 'broken' \(broken_pkg:passes\) failed to load: "
                                             r"ImportError: no module broken_pkg"):
        load_entry_point_passes()


def test_dump_dir_with_the_real_printer_parses_back(tmp_path: Path) -> None:
    from qcompiler.text import parse_graph

    graph = small_graph()
    PassManager("dce", dump_dir=tmp_path).run(graph)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for name, kinds in (("000_input.qir", ["onnx.Neg", "onnx.Abs"]), ("001_after_dce.qir", ["onnx.Neg"])):
        dumped = parse_graph((tmp_path / name).read_text())
        assert [op.kind for op in dumped] == kinds
        np.testing.assert_array_equal(run(dumped, {"x": x})["y"], -x)


def test_dump_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(QCompilerError, match="cannot create the dump folder"):
        PassManager("dce", dump_dir=blocker / "sub").run(small_graph())


def test_named_fixed_point_pipeline_shows_its_name() -> None:
    passes = parse_pipeline("test-repeat,dce")
    assert passes[0].label == "test-repeat" and pipeline_text(passes) == "test-repeat,dce"
    assert parse_pipeline(pipeline_text(passes)) == passes
    out = io.StringIO()
    graph = small_graph()
    graph.attrs["countdown"] = 1
    pm = PassManager(passes, print_ir_after=["test-repeat"], timing=True, printer=fake_printer, out=out)
    pm.run(graph)
    assert [name for name, _ in pm.timings] == ["test-repeat", "  test-countdown", "  dce", "dce"]
    assert out.getvalue().count("// -----// IR Dump After test-repeat //----- //") == 1
    graph.attrs["countdown"] = 100
    with pytest.raises(QCompilerError, match=r"^test-repeat\(test-countdown,dce\) did not converge in 5"):
        PassManager("test-repeat").run(graph)


def test_group_timing_leaves_instrumentation_out(tmp_path: Path) -> None:
    graph = small_graph()
    graph.attrs["countdown"] = 3
    pm = PassManager("fixed-point(test-countdown,dce)", timing=True, verify_each=True, dump_dir=tmp_path,
                     print_after_all=True, printer=fake_printer, out=io.StringIO())
    pm.run(graph)
    (_, group), (_, countdown), (_, dce) = pm.timings
    assert group + 1e-9 >= countdown + dce
    assert len(list(tmp_path.iterdir())) == 1 + 4 * 2 + 1  # input, 4 rounds of two passes, the group


@pytest.mark.parametrize("tp, text, expected", [
    (Sequence[str], "a, b", ["a", "b"]),
    (tuple[int, ...], "1,0x2", (1, 2)),
    (list, "p,q", ["p", "q"]),
    (Optional[list[str]], "none", None),
    (Optional[list[str]], "x", ["x"]),
    (list[float], "", []),
    (Optional[float], "1.5", 1.5),
    (bool, "Off", False),
])
def test_parse_value_by_type(tp: object, text: str, expected: object) -> None:
    assert parse_value(text, tp) == expected


def test_nested_lists_cannot_be_options() -> None:
    def nested(graph: Graph, table: list[list[int]] = []) -> bool:  # noqa: B006
        """Unspellable option."""
        return False

    with pytest.raises(QCompilerError, match="option 'table' has type list\\[list\\[int\\]\\]"):
        register_pass("test-nested-list")(nested)
