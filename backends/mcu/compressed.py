"""Compressed weights in the MCU library: a conv / depthwise / fully-connected step whose int8 weights are
smaller as packed codebook indices or in sparse form (backends/c_common/weight_storage.py chooses per tensor)
becomes a call of the packed kernel variant, which decodes them tap by tap; other steps are left as they are.
The packed kernels read the same input elements and write the output in the same order as the dense ones, so
the memory plan does not change."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from qcompiler.backends.c_common.schedule import Step
from qcompiler.backends.c_common.weight_storage import PackedWeights, choose_storage

#: Dense kernel -> its packed variant.
PACKED_KERNELS = {"conv2d": "conv2d_packed", "depthwise_conv2d": "conv2d_packed",
                  "fully_connected": "fully_connected_packed"}
#: The header every packed kernel includes (emitted only with them).
PACKED_HEADER = "qc_packed_weights.h"


@dataclass(frozen=True)
class StorageChoice:
    """How one layer's weights are stored: ``kind`` (dense, codebook, sparse, sparse-codebook), codebook
    layout and bytes, against the bytes of plain int8."""

    kind: str
    bytes: int
    dense_bytes: int
    bits: int = 8
    per_channel: bool = False


def weight_rows(step: Step) -> Optional[np.ndarray]:
    """The step's int8 weights as [output channel, taps] in the packed kernels' visiting order, or None when
    the step has no layer weights."""
    if step.kernel not in PACKED_KERNELS:
        return None
    weights = step.arrays["filter"]
    if step.kernel == "depthwise_conv2d":  # [k_h][k_w][channels] -> channel rows of k_h * k_w taps
        return np.ascontiguousarray(weights.reshape(-1, weights.shape[-1]).T)
    return weights.reshape(weights.shape[0], -1)


def compress_step(step: Step) -> tuple[Step, Optional[StorageChoice]]:
    """``step`` with its weights in their smallest storage (the packed kernel when not dense), and the
    choice (None for steps without layer weights)."""
    rows = weight_rows(step)
    if rows is None:
        return step, None
    packed = choose_storage(rows)
    choice = StorageChoice(packed.kind, packed.nbytes, int(rows.size), packed.bits, packed.per_channel)
    if packed.kind == "dense":
        return step, choice
    params = dict(step.params)
    if step.kernel == "depthwise_conv2d":
        multiplier = params.pop("depth_multiplier")
        params.update(out_c=params["in_c"] * multiplier, groups=params["in_c"])
    elif step.kernel == "conv2d":
        params["groups"] = 1
    params["weights"] = {"bits": packed.bits, "table_size": packed.table_size,
                         "per_channel": int(packed.per_channel)}
    arrays = {k: v for k, v in step.arrays.items() if k not in ("filter", "filter_sums")}
    arrays.update(_weight_arrays(packed))
    kernel = PACKED_KERNELS[step.kernel]
    return replace(step, kernel=kernel, sources=(f"qc_{kernel}_s8", PACKED_HEADER), params=params,
                   arrays=arrays), choice


def _weight_arrays(packed: PackedWeights) -> dict[str, np.ndarray]:
    """The constant arrays of a packed weight, as nested fields ``weights.<member>`` of the kernel's struct."""
    arrays = {"weights.stream": packed.stream}
    if packed.mask is not None:
        arrays["weights.mask"] = packed.mask
    if packed.table is not None:
        arrays["weights.table"] = packed.table
    return arrays
