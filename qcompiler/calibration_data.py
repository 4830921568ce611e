"""Calibration data sources: where the samples that calibration runs the float graph on come from.

A source is a samples file (an ``.npz`` or a folder of ``<input>.npy``, read and validated by
``qcompiler.samples``), a mapping of sample arrays by input name (first axis = samples), or any Python
iterable of feed dicts (one array per input, one sample each). Every sample is validated against the graph's
inputs before it runs, so bad data fails with a one-line ``SamplesError`` naming the input.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator, Mapping, Optional, Union

import numpy as np

from qcompiler.ir import Graph
from qcompiler.samples import SamplesError, iter_samples, load_samples, num_samples, single_sample, validate_samples

Feed = dict[str, np.ndarray]
CalibrationSource = Union[str, os.PathLike, Mapping[str, np.ndarray], Iterable[Mapping[str, Any]]]


class CalibrationFeeds:
    """The validated feed dicts of a calibration source, in order; ``len`` is known for files and mappings
    (None for iterables, which are read lazily and validated one sample at a time)."""

    def __init__(self, source: CalibrationSource, graph: Graph) -> None:
        self.graph = graph
        self.count: Optional[int] = None
        self._samples: Optional[dict[str, np.ndarray]] = None
        self._iterable: Optional[Iterable[Mapping[str, Any]]] = None
        if isinstance(source, (str, os.PathLike)):
            self._samples = load_samples(source, graph)
        elif isinstance(source, Mapping):
            self._samples = validate_samples(source, graph, source="the calibration arrays")
        elif isinstance(source, Iterable):
            self._iterable = source
            if hasattr(source, "__len__"):
                self.count = len(source)  # type: ignore[arg-type]
        else:
            raise SamplesError(f"calibration data must be a samples file or folder, a mapping of arrays or an "
                               f"iterable of feed dicts, got {type(source).__name__}")
        if self._samples is not None:
            self.count = num_samples(self._samples)

    def __iter__(self) -> Iterator[Feed]:
        """Yield one validated feed dict per sample; raise ``SamplesError`` when the source holds none."""
        if self._samples is not None:
            yield from iter_samples(self._samples, self.graph)
            return
        assert self._iterable is not None
        seen = 0
        for index, feed in enumerate(self._iterable):
            if not isinstance(feed, Mapping):
                raise SamplesError(f"calibration sample {index} is a {type(feed).__name__}, not a dict of arrays "
                                   f"by input name")
            try:
                samples = single_sample(feed, self.graph)
            except SamplesError as error:
                raise SamplesError(f"calibration sample {index}: {error.message}") from None
            seen += 1
            yield from iter_samples(samples, self.graph)
        if seen == 0:
            raise SamplesError("the calibration data holds zero samples")


def calibration_feeds(source: CalibrationSource, graph: Graph) -> CalibrationFeeds:
    """The validated feeds of ``source`` for ``graph`` (files are read and checked at once, iterables lazily)."""
    return CalibrationFeeds(source, graph)
