"""Helpers shared by the tests of legalize, to-nhwc and fuse-activations: run pipelines, feed models, build
one-node ONNX models, and check that a pass keeps a graph's outputs."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import onnx
from onnx import helper

from qcompiler import interpreter
from qcompiler.ir import Graph
from qcompiler.onnx_import import import_onnx
from qcompiler.pass_manager import PassManager, parse_pipeline


def run_pipeline(graph: Graph, pipeline: str) -> Graph:
    """Run a pipeline string on ``graph`` (verifying after each pass) and return it."""
    PassManager(parse_pipeline(pipeline), verify_each=True).run(graph)
    return graph


def digits_feeds(graph: Graph, digits: Mapping[str, np.ndarray], count: int = 3) -> list[dict[str, np.ndarray]]:
    """Feeds of ``count`` test digits, preprocessed as the shared models' README says for the input's shape."""
    value = graph.inputs[0]
    feeds = []
    for image in digits["x_test"][:count].astype(np.float32):
        if value.type.shape == (1, 1, 16, 16):
            array = np.repeat(np.repeat(image, 2, 0), 2, 1)[None, None]
        elif value.type.shape == (1, 1, 8, 8):
            array = image[None, None]
        else:
            array = image[None]
        feeds.append({value.name: np.ascontiguousarray(array)})
    return feeds


def random_feeds(graph: Graph, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """One feed of uniform random floats for every (static, float) input."""
    rng = np.random.default_rng(seed)
    return [{v.name: rng.random(v.type.shape, dtype=np.float32) for v in graph.inputs}]


def randomize_weights(graph: Graph, seed: int = 0) -> None:
    """Replace every float constant of more than one element by random values of a sane scale (the light
    models' weights are constant fills, which would hide layout mistakes): matrices and filters scaled by
    1/sqrt(fan-in), vectors in [0.5, 1.5] (valid as batch-norm variances too)."""
    rng = np.random.default_rng(seed)
    for op in graph:
        if op.kind != "const":
            continue
        value = op.attrs["value"]
        if value.dtype.kind != "f" or value.size <= 1:
            continue
        if value.ndim >= 2:
            fan_in = int(np.prod(value.shape[1:]))
            array = rng.standard_normal(value.shape) / np.sqrt(fan_in)
        else:
            array = rng.uniform(0.5, 1.5, value.shape)
        op.attrs["value"] = array.astype(value.dtype)


def assert_close(got: np.ndarray, expected: np.ndarray, what: str, rtol: float = 1e-4) -> None:
    """Float comparison with a tolerance scaled by the magnitude of ``expected``."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale + 1e-6, err_msg=what)


def transform_keeps_outputs(graph: Graph, pipeline: str, feeds: Sequence[Mapping[str, np.ndarray]],
                            feed_transform=None, rtol: float = 1e-4) -> Graph:
    """Run ``pipeline`` on ``graph`` and check that it computes what it computed before on ``feeds``
    (``feed_transform(name, array)`` adapts a feed to a changed input layout). Returns the graph."""
    before = [interpreter.run(graph, feed) for feed in feeds]
    run_pipeline(graph, pipeline)
    for feed, expected in zip(feeds, before):
        if feed_transform is not None:
            feed = {name: feed_transform(name, array) for name, array in feed.items()}
        got = interpreter.run(graph, feed)
        for name in expected:
            assert_close(got[name], expected[name], f"output {name} after {pipeline}", rtol)
    return graph


def onnx_model(nodes: Sequence[onnx.NodeProto], inputs: Mapping[str, Sequence[int]],
               initializers: Optional[Mapping[str, np.ndarray]] = None, opset: int = 17,
               outputs: Sequence[str] = ("y",)) -> onnx.ModelProto:
    """A float ONNX model from nodes, input shapes and initializers; outputs typed by inference."""
    graph = helper.make_graph(
        list(nodes), "test",
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(shape)) for name, shape in inputs.items()],
        [helper.make_value_info(name, onnx.TypeProto()) for name in outputs],
        [onnx.numpy_helper.from_array(np.asarray(a), name) for name, a in (initializers or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def onnxruntime_outputs(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The model's outputs computed by onnxruntime (the oracle)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(feeds))


def import_model(model: onnx.ModelProto) -> Graph:
    """Import an in-memory ONNX model."""
    return import_onnx(model)


def kinds(graph: Graph) -> list[str]:
    """The kinds of the graph's non-constant ops, in order."""
    return [op.kind for op in graph if op.kind != "const"]


def inner_transposes(graph: Graph) -> list:
    """The core.transpose ops that are neither right after a graph input nor only right before outputs."""
    found = []
    for op in graph.ops_of_kind("core.transpose"):
        after_input = op.operand(0).is_graph_input
        before_output = all(use.op.kind == "return" for use in op.result.uses)
        if not (after_input or before_output):
            found.append(op)
    return found
