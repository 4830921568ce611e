"""ONNX's backend node test cases run through our importer and reference interpreter.

Every case whose nodes all use op types in ``supported_onnx_ops()`` is imported with ``import_onnx``, run
with ``qcompiler.interpreter.run`` and compared with the expected outputs the case carries (rtol/atol as
ONNX's backend tests use them, exact for integers, booleans and strings). The pass rate over the claimed
cases must stay high: an op that cannot be supported honestly is dropped from the claimed set instead.
"""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import onnx
import pytest

from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.onnx_convert import element_from_onnx
from qcompiler.onnx_import import MIN_OPSET, import_onnx
from qcompiler.ops.onnx_dialect import supported_onnx_ops

DEFAULT_DOMAINS = ("", "ai.onnx")
REQUIRED_PASS_RATE = 0.95


def collect_cases() -> list:
    """ONNX's node test cases, generated in process (no files on disk)."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return [case for case in collect_testcases(None) if case.kind == "node"]


def is_claimed(model: onnx.ModelProto) -> bool:
    """Whether the importer claims the model: a supported opset, tensors of IR element types only, and
    every node in the default domain, of a supported op type, without subgraphs."""
    opsets = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    if not opsets or opsets[0] < MIN_OPSET:
        return False
    for value in list(model.graph.input) + list(model.graph.output):
        if not _is_ir_tensor_type(value.type):
            return False
    supported = supported_onnx_ops()
    for node in model.graph.node:
        if node.domain not in DEFAULT_DOMAINS:
            return False
        if node.op_type != "Constant" and node.op_type not in supported:
            return False
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            return False
    return True


def _is_ir_tensor_type(type_proto: onnx.TypeProto) -> bool:
    """Whether a graph input or output is a tensor of an element type the IR has (not float8, int4, ...)."""
    if not type_proto.HasField("tensor_type"):
        return False
    try:
        element_from_onnx(type_proto.tensor_type.elem_type)
    except QCompilerError:
        return False
    return True


def _array(value) -> np.ndarray:
    """A data-set entry as an array (cases store some of them as TensorProto)."""
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    return np.asarray(value)


def compare(name: str, actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> Optional[str]:
    """None when ``actual`` matches ``expected``, else a short reason."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        return f"{name}: shape {actual.shape} != expected {expected.shape}"
    if expected.dtype.kind in "OUS":
        return None if actual.tolist() == expected.tolist() else f"{name}: strings differ"
    if actual.dtype != expected.dtype:
        return f"{name}: dtype {actual.dtype} != expected {expected.dtype}"
    if not (np.issubdtype(expected.dtype, np.integer) or expected.dtype == np.bool_):
        # floats, including ml_dtypes' bfloat16 / float8 / int4 kinds, compared through float64
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        if not close.all():
            worst = np.nanmax(np.abs(a - e)[~close])
            return f"{name}: {int((~close).sum())} of {close.size} values differ (max abs error {worst:.3g})"
        return None
    if not np.array_equal(actual, expected):
        return f"{name}: {int((actual != expected).sum())} of {expected.size} values differ"
    return None


def run_case(case) -> Optional[str]:
    """Import and run one case on each of its data sets; None when every output matches, else why not."""
    try:
        graph = import_onnx(case.model)
    except QCompilerError as error:
        return f"import: {error}"
    initializers = {i.name for i in case.model.graph.initializer}
    input_names = [i.name for i in case.model.graph.input if i.name not in initializers]
    output_names = [o.name for o in case.model.graph.output]
    for inputs, expected_outputs in case.data_sets:
        feeds = {n: _array(x) for n, x in zip(input_names, inputs) if n in {v.name for v in graph.inputs}}
        try:
            with np.errstate(all="ignore"):
                outputs = run(graph, feeds)
        except QCompilerError as error:
            return f"run: {error}"
        for name, expected in zip(output_names, expected_outputs):
            reason = compare(name, outputs[name], _array(expected), case.rtol, case.atol)
            if reason is not None:
                return reason
    return None


def run_claimed_cases(cases) -> tuple[int, dict[str, str]]:
    """Run every claimed case: the number claimed and the failures (case name to reason)."""
    claimed, failures = 0, {}
    for case in cases:
        if not is_claimed(case.model):
            continue
        claimed += 1
        try:
            reason = run_case(case)
        except Exception as error:  # a traceback is a defect too: record it as a failure with its type
            reason = f"crash: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        if reason is not None:
            failures[case.name] = reason[:200]
    return claimed, failures


@pytest.fixture(scope="module")
def node_cases() -> list:
    """The node cases, collected once for this module."""
    return collect_cases()


def test_backend_node_cases_pass_rate(node_cases):
    """At least 95% of the claimed ONNX node cases match their expected outputs."""
    claimed, failures = run_claimed_cases(node_cases)
    passed = claimed - len(failures)
    print(f"\nONNX node cases: {passed}/{claimed} claimed cases pass ({passed / max(claimed, 1):.1%})")
    for name, reason in sorted(failures.items()):
        print(f"  FAIL {name}: {reason}")
    assert claimed > 1000, "far fewer node cases claimed than expected"
    assert passed / claimed >= REQUIRED_PASS_RATE


@pytest.mark.parametrize("op_type", ["Loop", "SequenceConstruct", "RandomNormal"])
def test_unsupported_ops_are_not_claimed(op_type):
    """Ops with subgraphs, sequences or randomness are outside the claimed set, so the importer rejects them."""
    assert op_type not in supported_onnx_ops()


def test_unclaimed_cases_are_rejected_with_a_clear_error(node_cases):
    """Every case outside the claimed set fails to import with a one-line ``QCompilerError``, not a crash
    and not a silent acceptance."""
    outcomes = {}
    for case in node_cases:
        if is_claimed(case.model):
            continue
        try:
            import_onnx(case.model)
            outcomes[case.name] = "accepted"
        except QCompilerError as error:
            assert "\n" not in str(error), f"{case.name}: multi-line error {error!s}"
        except Exception as error:  # noqa: BLE001 - any other exception is the defect this test looks for
            outcomes[case.name] = f"crash: {type(error).__name__}: {error}"
    assert not outcomes, outcomes
