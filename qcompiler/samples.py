"""The samples format: model inputs for many samples (to run, evaluate or calibrate on), and their outputs.

A samples file is an ``.npz`` with one array per graph input, named after the input, or a folder holding
one ``<input>.npy`` per input. The first axis of every array indexes the samples; each sample has the
input's shape, or that shape without its leading batch axis of 1. This module is the one place that reads,
validates and writes that format, so that ``qcompiler run``, the demo and calibration agree on it.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path
from typing import Iterator, Mapping, Sequence, Union

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.fileio import atomic_write_bytes, refuse_overwriting_input
from qcompiler.ir import Graph, Value

PathLike = Union[str, os.PathLike]


class SamplesError(QCompilerError):
    """Sample data that does not fit the model: a wrong input name, shape or sample count, or non-finite values."""


def read_arrays(path: PathLike) -> dict[str, np.ndarray]:
    """Read the arrays of an ``.npz`` file or of a folder of ``<name>.npy`` files, by name, without validating them."""
    path = Path(path)
    if not path.exists():
        raise SamplesError(f"cannot read samples {path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".npy" and p.is_file())
        if not files:
            raise SamplesError(f"samples folder {path} holds no .npy files (expected one <input>.npy per input)")
        return {p.stem: read_npy(p) for p in files}
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a lone .npy array has no input names
            raise SamplesError(f"samples {path} must be an .npz file or a folder of .npy files")
        with loaded as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise SamplesError(f"cannot read samples {path}: {_reason(err)}") from None


def read_npy(path: PathLike) -> np.ndarray:
    """Read one ``.npy`` array, turning a missing or malformed file into a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise SamplesError(f"cannot read {path}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise SamplesError(f"cannot read {path}: {_reason(err)}") from None
    if not isinstance(array, np.ndarray):
        raise SamplesError(f"{path} is not an .npy array")
    return array


def _reason(err: BaseException) -> str:
    """The first line of an exception's message (its ``strerror`` for OS errors)."""
    text = getattr(err, "strerror", None) or str(err)
    return text.splitlines()[0] if text else type(err).__name__


def shape_text(shape: Sequence) -> str:
    """A shape as users write it: ``1x3x224x224`` (``scalar`` for no dims)."""
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def _matches(shape: Sequence[int], expected: Sequence) -> bool:
    """Whether a concrete shape fits a type's shape (symbolic dims fit any size)."""
    return len(shape) == len(expected) and all(not isinstance(e, int) or e == s for s, e in zip(shape, expected))


def _drops_batch_axis(value: Value, sample_shape: Sequence[int]) -> bool:
    """Whether samples of ``sample_shape`` are the input's shape without its leading batch axis of 1.

    Raises when the shape is neither the input's shape nor that shape without such an axis.
    """
    expected = value.type.shape
    if expected is None or _matches(sample_shape, expected):
        return False
    batch_axis = len(expected) >= 1 and (expected[0] == 1 or not isinstance(expected[0], int))
    if batch_axis and _matches(sample_shape, expected[1:]):
        return True
    raise SamplesError(
        f"samples for input '{value.name}' have shape {shape_text(sample_shape)} per sample; "
        f"expected {shape_text(expected)}"
        + (f" or {shape_text(expected[1:])}" if len(expected) >= 1 and expected[0] == 1 else ""))


def validate_samples(arrays: Mapping[str, np.ndarray], graph: Graph, source: str = "samples") -> dict[str, np.ndarray]:
    """Check sample arrays against the graph's inputs and return them cast to the inputs' element types.

    Every input needs an array and every array an input; all arrays hold the same number (at least one)
    of samples, each with the input's shape (with or without a leading batch axis of 1), and float
    samples are finite.
    """
    expected_names = [v.name for v in graph.inputs]
    listing = ", ".join(expected_names) if expected_names else "(none)"
    for name in arrays:
        if name not in expected_names:
            raise SamplesError(f"{source} has an array '{name}', but the model has no input of that name; "
                               f"its inputs are: {listing}")
    missing = [name for name in expected_names if name not in arrays]
    if missing:
        raise SamplesError(f"{source} has no array for input(s) {', '.join(missing)}; "
                           f"expected one array per input: {listing}")
    counts = {}
    result = {}
    for value in graph.inputs:
        array = np.asarray(arrays[value.name])
        if array.ndim == 0:
            raise SamplesError(f"samples for input '{value.name}' must have a first axis indexing the samples")
        if array.shape[0] == 0:
            raise SamplesError(f"{source} holds zero samples for input '{value.name}'")
        counts[value.name] = array.shape[0]
        _drops_batch_axis(value, array.shape[1:])
        result[value.name] = _cast(value, array)
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"'{name}' has {count}" for name, count in counts.items())
        raise SamplesError(f"the inputs have different numbers of samples: {detail}")
    return result


def _cast(value: Value, array: np.ndarray) -> np.ndarray:
    """The array with the input's element type, refusing non-finite floats and lossy conversions."""
    dtype = value.type.dtype
    if array.dtype.kind in "fc":
        if not np.isfinite(array).all():
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise SamplesError(f"samples for input '{value.name}' contain {bad} NaN or infinite value(s)")
        if dtype.kind in "fc":
            return array.astype(dtype, copy=False)
    elif array.dtype == dtype:
        return array
    elif array.dtype.kind in "iub" and dtype.kind in "iub" and np.can_cast(array.dtype, dtype, "safe"):
        return array.astype(dtype)
    elif array.dtype.kind in "iu" and dtype.kind == "f":
        return array.astype(dtype)
    raise SamplesError(f"samples for input '{value.name}' hold {array.dtype} values; the input takes {value.type.element}")


def load_samples(path: PathLike, graph: Graph) -> dict[str, np.ndarray]:
    """Read and validate samples (an ``.npz`` or a folder of ``<input>.npy``) for ``graph``'s inputs."""
    return validate_samples(read_arrays(path), graph, source=str(path))


def single_sample(arrays: Mapping[str, np.ndarray], graph: Graph) -> dict[str, np.ndarray]:
    """Validate one sample (one array per input, no sample axis) and return it as samples of count one."""
    return validate_samples({name: np.asarray(a)[None] for name, a in arrays.items()}, graph, source="the inputs")


def num_samples(samples: Mapping[str, np.ndarray]) -> int:
    """How many samples validated ``samples`` hold."""
    return next(iter(samples.values())).shape[0] if samples else 0


def iter_samples(samples: Mapping[str, np.ndarray], graph: Graph) -> Iterator[dict[str, np.ndarray]]:
    """Yield one feed dict per sample, with the batch axis of 1 restored where the samples left it out."""
    restore = {v.name: _drops_batch_axis(v, samples[v.name].shape[1:]) for v in graph.inputs}
    for index in range(num_samples(samples)):
        yield {name: (array[index][None] if restore[name] else array[index]) for name, array in samples.items()}


def stack_outputs(per_sample: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack per-sample output dicts along a new first (sample) axis, keeping the output order."""
    if not per_sample:
        return {}
    return {name: np.stack([outputs[name] for outputs in per_sample]) for name in per_sample[0]}


def save_outputs(path: PathLike, outputs: Mapping[str, np.ndarray]) -> None:
    """Write arrays by name into an ``.npz`` file atomically (the same format samples are read from)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(array) for name, array in outputs.items()})
    atomic_write_bytes(path, buffer.getvalue())


def npy_file_name(name: str) -> str:
    """A file name ``<name>.npy`` for an array name, with characters unsafe in file names replaced by ``_``."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip(".") or "_"
    return f"{safe}.npy"


def save_output_dir(folder: PathLike, outputs: Mapping[str, np.ndarray],
                    inputs: Sequence[PathLike] = ()) -> list[Path]:
    """Write one ``<output>.npy`` per array into ``folder`` (created if needed), atomically; return the paths.

    Refuses to overwrite any of ``inputs``.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise QCompilerError(f"output folder {folder} exists and is not a folder")
    paths = [folder / npy_file_name(name) for name in outputs]
    if len(set(paths)) != len(paths):
        raise QCompilerError("two outputs map to the same file name in the output folder; use -o outputs.npz")
    for path in paths:
        refuse_overwriting_input(path, *inputs)
    folder.mkdir(parents=True, exist_ok=True)
    for path, array in zip(paths, outputs.values()):
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array), allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
    return paths


def run_samples(graph: Graph, samples: Mapping[str, np.ndarray], *, progress: bool = False) -> dict[str, np.ndarray]:
    """Run the reference interpreter on every sample and return the outputs stacked along a sample axis.

    ``progress`` shows a progress bar on stderr when it is a terminal.
    """
    from tqdm import tqdm

    from qcompiler.interpreter import run

    feeds = iter_samples(samples, graph)
    if progress:
        feeds = tqdm(feeds, total=num_samples(samples), unit="sample", disable=None, leave=False)
    return stack_outputs([run(graph, feed) for feed in feeds])
