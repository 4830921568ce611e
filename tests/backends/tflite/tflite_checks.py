"""Helpers of the TFLite backend tests: build small core graphs, export them, run them in LiteRT and compare
with our reference interpreter; read fields of the written flatbuffer."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from qcompiler import interpreter
from qcompiler.backends.tflite import export_tflite
from qcompiler.backends.tflite.runtime import run_tflite
from qcompiler.ir import Graph, Value
from qcompiler.types import TensorType
from qcompiler.verifier import verify

Body = Callable[[Graph, list[Value]], Sequence[Value]]


def build_graph(input_shapes: Sequence[Sequence[int]], body: Body, element: str = "f32") -> Graph:
    """A verified graph with float inputs x0, x1, ... whose outputs y0, y1, ... are what ``body`` returns."""
    graph = Graph()
    inputs = [graph.add_input(f"x{i}", TensorType(tuple(shape), element)) for i, shape in enumerate(input_shapes)]
    outputs = list(body(graph, inputs))
    graph.set_outputs(outputs, [f"y{i}" for i in range(len(outputs))])
    verify(graph)
    return graph


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal float inputs for every graph input."""
    rng = np.random.default_rng(seed)
    return {v.name: rng.standard_normal(v.type.shape).astype(v.type.dtype) for v in graph.inputs}


def assert_litert_matches(graph: Graph, feeds: Mapping[str, np.ndarray] | None = None, rtol: float = 1e-5,
                          io_type: str = "float", reference_kernels: bool = True) -> bytes:
    """Export ``graph``, run it in LiteRT (reference kernels unless told otherwise) and check every output
    against our interpreter within float tolerance; returns the model bytes."""
    feeds = dict(feeds) if feeds is not None else random_feeds(graph)
    model = export_tflite(graph, io_type=io_type)
    expected = interpreter.run(graph, feeds)
    got = run_tflite(model, feeds, reference_kernels=reference_kernels)
    assert sorted(got) == sorted(expected)
    for name, want in expected.items():
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        assert got[name].shape == want.shape, f"{name}: {got[name].shape} != {want.shape}"
        np.testing.assert_allclose(got[name], want, rtol=rtol, atol=rtol * scale + 1e-6, err_msg=name)
    return model


def read_model(data: bytes) -> schema.ModelT:
    """The schema object tree of .tflite bytes."""
    return schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))


def operator_codes(data: bytes) -> list[int]:
    """The builtin code of every operator of subgraph 0, in order."""
    model = read_model(data)
    return [model.operatorCodes[op.opcodeIndex].builtinCode for op in model.subgraphs[0].operators]


def buffer_data_offsets(data: bytes) -> list[int]:
    """The byte offset inside ``data`` where each non-empty buffer's contents start."""
    model = schema.Model.GetRootAs(data, 0)
    offsets = []
    for index in range(model.BuffersLength()):
        buffer = model.Buffers(index)
        if buffer.DataLength():
            table = buffer._tab  # the generated reader keeps the flatbuffer position here
            offsets.append(table.Vector(table.Offset(4)))
    return offsets


def random_integer_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Uniform random integers over the whole storage range of every (integer) graph input."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for value in graph.inputs:
        info = np.iinfo(value.type.dtype)
        feeds[value.name] = rng.integers(info.min, info.max, value.type.shape, endpoint=True).astype(value.type.dtype)
    return feeds


def assert_litert_exact(graph: Graph, feeds: Mapping[str, np.ndarray] | None = None, io_type: str = "float") -> bytes:
    """Export ``graph``, run it in LiteRT's reference kernels and check every output equals our interpreter's
    bit for bit; returns the model bytes."""
    feeds = dict(feeds) if feeds is not None else random_integer_feeds(graph)
    model = export_tflite(graph, io_type=io_type)
    expected = interpreter.run(graph, feeds)
    got = run_tflite(model, feeds)
    for name, want in expected.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    return model


def digits_inputs(input_shape, images: np.ndarray) -> np.ndarray:
    """Digits (N x 8 x 8) preprocessed for a shared model's input shape, as the models' README says:
    16x16 models take each pixel repeated 2x2 with a channel axis, the MLP takes a channel axis, the
    transformer the images as they are."""
    images = images.astype(np.float32)
    if tuple(input_shape) == (1, 1, 16, 16):
        return np.repeat(np.repeat(images, 2, 1), 2, 2)[:, None]
    if tuple(input_shape) == (1, 1, 8, 8):
        return images[:, None]
    return images


def digit_feeds(graph: Graph, images: np.ndarray) -> list[dict[str, np.ndarray]]:
    """One feed per image, preprocessed for the graph's (single) input."""
    value = graph.inputs[0]
    return [{value.name: np.ascontiguousarray(x[None])} for x in digits_inputs(value.type.shape, images)]


def randomize_weights(graph: Graph, seed: int = 0) -> Graph:
    """A copy of ``graph`` whose float constants of 16 or more elements hold seeded normal values (scaled by
    1/sqrt of their fan-in), so that no two weights share a buffer as the light models' constant fills do."""
    from qcompiler.ir import CONST

    graph = graph.clone()
    rng = np.random.default_rng(seed)
    for op in graph:
        value = op.results[0].const_value if op.kind == CONST else None
        if value is not None and value.dtype == np.float32 and value.size >= 16:
            fan_in = int(np.prod(value.shape[1:])) if value.ndim > 1 else value.size
            op.attrs["value"] = (rng.standard_normal(value.shape) / np.sqrt(fan_in)).astype(np.float32)
    return graph


def probe_model(graph: Graph) -> tuple[bytes, list[Value]]:
    """The int8 model with an int8 interface (what TFLite Micro runs) whose outputs are every quantized tensor
    an op computes, named ``probe_<i>`` in execution order; returns its bytes and those values (of a copy)."""
    from qcompiler.backends.tflite.interface import make_quantized_interface
    from qcompiler.ir import CONST, RETURN

    probe = graph.clone()
    make_quantized_interface(probe)
    values = [op.result for op in probe if op.kind not in (CONST, RETURN) and len(op.results) == 1
              and op.result.type.quant is not None]
    probe.set_outputs(values, [f"probe_{i}" for i in range(len(values))])
    return export_tflite(probe, hybrid=False), values


def run_tflite_micro(model: bytes, feed: np.ndarray, outputs: int = 1) -> list[np.ndarray]:
    """Run ``model`` once in TFLite Micro's Python runtime on its (single) input; its first ``outputs`` outputs."""
    from tflite_micro.python.tflite_micro import runtime

    micro = runtime.Interpreter.from_bytes(model)
    micro.set_input(feed, 0)
    micro.invoke()
    return [micro.get_output(i) for i in range(outputs)]
