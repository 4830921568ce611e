"""``calibrate``: run the float graph over calibration samples and record each float tensor's range in the IR
(``qcompiler.value_ranges`` says where), for ``insert-qdq`` to turn into quantization parameters."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from qcompiler.calibration_data import CalibrationSource, calibration_feeds
from qcompiler.errors import QCompilerError
from qcompiler.interpreter import run
from qcompiler.ir import Graph, Value
from qcompiler.observers import Observer, make_observer
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.value_ranges import Range, is_float_tensor, set_range

Method = Literal["minmax", "moving-average", "percentile", "mse", "entropy"]


def calibrate(graph: Graph, samples: CalibrationSource, method: str = "minmax", *, percentile: float = 99.99,
              bins: int = 2048, bits: int = 8, averaging_constant: float = 0.01,
              progress: bool = False) -> dict[Value, Range]:
    """Run ``graph`` (float) in the reference interpreter on every sample, observe each float tensor with a
    ``method`` observer and store the ranges in the IR; return them by value.

    ``samples`` is a samples file or folder, a mapping of sample arrays, or an iterable of feed dicts; each
    sample is validated against the graph's inputs. Graph inputs and every op result that holds floats get
    a range (constants do not: their arrays are their range). A progress bar shows on stderr when it is a
    terminal, or always with ``progress``.
    """
    options = dict(percentile=percentile, bins=bins, bits=bits, averaging_constant=averaging_constant)
    make_observer(method, **options)  # bad options fail before any sample runs
    observers: dict[int, tuple[Value, Observer]] = {}

    def observe(value: Value, array: np.ndarray) -> None:
        entry = observers.get(id(value))
        if entry is None:
            if not is_float_tensor(value):
                return
            entry = observers[id(value)] = (value, make_observer(method, **options))
        entry[1].update(array)

    feeds = calibration_feeds(samples, graph)
    from tqdm import tqdm

    bar = tqdm(feeds, total=feeds.count, unit="sample", desc="calibrate", file=sys.stderr, leave=False,
               disable=False if progress else None)
    try:
        for feed in bar:
            run(graph, feed, observe=observe)
    finally:
        bar.close()
    ranges: dict[Value, Range] = {}
    for value, observer in observers.values():
        try:
            ranges[value] = observer.range()
        except QCompilerError as error:
            where = value.producer.loc if value.producer is not None else None
            raise QCompilerError(f"tensor %{value.name or '?'}: {error.message}", where) from None
    for value, value_range in ranges.items():
        set_range(graph, value, value_range)
    return ranges


@register_pass
@dataclass
class Calibrate(Pass):
    """Run the float graph over calibration samples and store each float tensor's [min, max] in the IR
    (attribute ``range`` on its op; graph inputs in the graph attribute ``input_ranges``).

    ``data`` is an .npz with one array per input or a folder of <input>.npy (first axis = samples).
    ``method``: minmax, moving-average (``averaging-constant``), percentile (``percentile``), mse or entropy
    (``bits``-bit levels); the histogram methods use ``bins`` bins.
    """

    name: ClassVar[str] = "calibrate"
    data: str = ""
    method: Method = "minmax"
    percentile: float = 99.99
    bins: int = 2048
    bits: int = 8
    averaging_constant: float = 0.01
    progress: bool = False

    def run(self, graph: Graph) -> bool:
        """Calibrate on the samples named by ``data``."""
        if not self.data:
            raise QCompilerError("pass 'calibrate' needs calibration data: calibrate{data=<file.npz or folder>}")
        ranges = calibrate(graph, self.data, self.method, percentile=self.percentile, bins=self.bins,
                           bits=self.bits, averaging_constant=self.averaging_constant, progress=self.progress)
        return bool(ranges)
