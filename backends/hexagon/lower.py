"""The HVX variants of the MCU schedule's steps: for each step an HVX kernel runs, the kernel call and the
constants packed for it (``packing``); steps without a variant (or outside an HVX kernel's limits) keep the MCU
scalar kernel. The integer parameters are the MCU lowering's (TFLite's Prepare, in the q ops' definitions):
this module only rearranges them for the vector kernels."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

import numpy as np

from qcompiler.backends.c_common.schedule import Step
from qcompiler.backends.hexagon import packing
from qcompiler.backends.rule_table import registrar

#: Bytes of the stack buffer the convolution and dense kernels gather a row into (QC_HVX_ROW_BYTES).
ROW_BYTES = 8192
#: Largest average-pool window whose int16 sums cannot overflow.
MAX_AVG_WINDOW = 256

#: HVX C function, parameter struct and kernel sources of each HVX step kind.
KERNELS = {
    "hvx_conv2d": ("qc_hvx_conv2d_s8", "qc_hvx_conv2d_params_t", ("qc_hvx_conv2d_s8", "qc_hvx_gemm")),
    "hvx_fully_connected": ("qc_hvx_fully_connected_s8", "qc_hvx_fully_connected_params_t",
                            ("qc_hvx_fully_connected_s8", "qc_hvx_gemm")),
    "hvx_depthwise_conv2d": ("qc_hvx_depthwise_conv2d_s8", "qc_hvx_depthwise_conv2d_params_t",
                             ("qc_hvx_depthwise_conv2d_s8",)),
    "hvx_add": ("qc_hvx_add_s8", "qc_hvx_add_params_t", ("qc_hvx_add_s8",)),
    "hvx_max_pool": ("qc_hvx_max_pool_s8", "qc_pool_params_t", ("qc_hvx_pool_s8",)),
    "hvx_avg_pool": ("qc_hvx_avg_pool_s8", "qc_pool_params_t", ("qc_hvx_pool_s8",)),
    "hvx_requantize": ("qc_hvx_requantize_s8", "qc_hvx_requantize_params_t", ("qc_hvx_requantize_s8",)),
    "hvx_mean": ("qc_hvx_mean_s8", "qc_hvx_mean_params_t", ("qc_hvx_mean_s8",)),
}

Variant = Callable[[Step], Optional[Step]]
_VARIANTS: dict[str, Variant] = {}


#: Decorator registering the HVX variant of MCU step kinds: ``@variant("conv2d", ...)``.
variant = registrar(_VARIANTS)


def hvx_step(step: Step) -> Optional[Step]:
    """The HVX variant of ``step`` (same op, inputs and outputs; an HVX kernel and its packed constants), or
    None when the scalar kernel must run it."""
    make = _VARIANTS.get(step.kernel)
    return None if make is None or step.alias else make(step)


@dataclass(frozen=True)
class ArrayField:
    """A pointer field of an HVX parameter struct: the step's packed array ``name``, cast to ``ctype``."""

    name: str
    ctype: str


def scalar_fields(step: Step) -> dict[str, Any]:
    """The MCU kernel's struct fields of ``step`` without its arrays (the HVX structs embed them as geometry)."""
    return {key: value for key, value in step.params.items() if key not in ("slot", "bytes")}


def requant_record(multiplier: Any, shift: Any) -> dict[str, list[int]]:
    """A ``qc_hvx_requant_t`` initializer with the same constants in every lane (per-tensor rescaling)."""
    lanes = packing.requant_lanes(np.full(packing.LANES, int(multiplier)), np.full(packing.LANES, int(shift)))[0]
    return {field: [int(v) for v in row] for field, row in zip(packing.REQUANT_FIELDS, lanes)}


def _derived(step: Step, kind: str, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> Step:
    return replace(step, kernel=kind, sources=KERNELS[kind][2], params=params, arrays=arrays)


def _gemm(step: Step, filter_2d: np.ndarray, bias: Optional[np.ndarray], multiplier: Optional[np.ndarray],
          shift: Optional[np.ndarray]) -> Optional[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """The qc_hvx_gemm_t initializer and arrays of a layer with an ``[out, taps]`` filter, or None past the
    limits of the kernels' row buffer; without ``multiplier`` the gemm has no requant lanes (the kernel
    rescales by itself)."""
    out_c, taps = filter_2d.shape
    groups = -(-taps // 4)
    if groups * 4 > ROW_BYTES:
        return None
    p = step.params
    fields = {"out_c": out_c, "groups": groups, "filter": ArrayField("packed_filter", "const int8_t *"),
              "start": ArrayField("start", "const int32_t *"),
              "output_offset": p["output_offset"], "act_min": p["act_min"], "act_max": p["act_max"]}
    arrays = {"packed_filter": packing.gemm_filter(filter_2d),
              "start": packing.gemm_accumulator_start(filter_2d, bias, p["input_offset"])}
    if multiplier is not None and shift is not None:
        fields["requant"] = ArrayField("requant", "const qc_hvx_requant_t *")
        arrays["requant"] = packing.requant_lanes(np.broadcast_to(multiplier, (out_c,)),
                                                  np.broadcast_to(shift, (out_c,)))
    return fields, arrays


@variant("conv2d")
def conv2d_variant(step: Step) -> Optional[Step]:
    """CONV_2D on the vrmpy core (any kernel size)."""
    filter_ = step.arrays["filter"]
    gemm = _gemm(step, filter_.reshape(filter_.shape[0], -1), step.arrays.get("bias"), step.arrays["multiplier"],
                 step.arrays["shift"])
    if gemm is None:
        return None
    return _derived(step, "hvx_conv2d", {"shape": scalar_fields(step), "gemm": gemm[0]}, gemm[1])


@variant("fully_connected")
def fully_connected_variant(step: Step) -> Optional[Step]:
    """FULLY_CONNECTED on the vrmpy core, rescaled per output by the scalar kernel's rule (symmetric weights
    only: the core folds no filter offset)."""
    if step.params["filter_offset"] != 0:
        return None
    gemm = _gemm(step, step.arrays["filter"], step.arrays.get("bias"), None, None)
    if gemm is None:
        return None
    fields, arrays = gemm
    shape = {**scalar_fields(step), "scale": ArrayField("scale", "const double *")}
    arrays["scale"] = step.arrays["scale"]
    return _derived(step, "hvx_fully_connected", {"shape": shape, "gemm": fields}, arrays)


@variant("depthwise_conv2d")
def depthwise_conv2d_variant(step: Step) -> Optional[Step]:
    """DEPTHWISE_CONV_2D with depth multiplier 1, 64 channels per step."""
    if step.params["depth_multiplier"] != 1:
        return None
    filter_ = step.arrays["filter"]
    channels = filter_.shape[-1]
    widened, order = packing.depthwise_filter(filter_.reshape(-1, channels))
    lanes = order.size
    bias = np.zeros(lanes, dtype=np.int32)
    if "bias" in step.arrays:
        bias[:channels] = step.arrays["bias"]
    multiplier = np.zeros(lanes, dtype=np.int64)
    shift = np.zeros(lanes, dtype=np.int64)
    multiplier[:channels], shift[:channels] = step.arrays["multiplier"], step.arrays["shift"]
    arrays = {"widened_filter": widened, "lane_bias": bias[order].astype(np.int32),
              "lane_requant": packing.requant_lanes(multiplier[order].reshape(-1), shift[order].reshape(-1))}
    params = {"shape": scalar_fields(step), "filter": ArrayField("widened_filter", "const int16_t *"),
              "bias": ArrayField("lane_bias", "const int32_t *"),
              "requant": ArrayField("lane_requant", "const qc_hvx_requant_t *")}
    return _derived(step, "hvx_depthwise_conv2d", params, arrays)


@variant("add")
def add_variant(step: Step) -> Optional[Step]:
    """ADD (and SUB) of operands of the output's shape."""
    shape = step.params["shape"]
    dims = shape["dims"]
    contiguous = [int(np.prod(dims[d + 1:])) for d in range(4)]
    if any(shape["lhs_strides"][d] != contiguous[d] or shape["rhs_strides"][d] != contiguous[d]
           for d in range(4) if dims[d] > 1):
        return None
    p = step.params
    params = {"shape": scalar_fields(step), "lhs": requant_record(p["lhs_multiplier"], p["lhs_shift"]),
              "rhs": requant_record(p["rhs_multiplier"], p["rhs_shift"]),
              "output": requant_record(p["output_multiplier"], p["output_shift"])}
    return _derived(step, "hvx_add", params, {})


@variant("max_pool", "avg_pool")
def pool_variant(step: Step) -> Optional[Step]:
    """MAX_POOL_2D and AVERAGE_POOL_2D (windows of at most 256 cells for the int16 sums)."""
    if step.kernel == "avg_pool" and step.params["k_h"] * step.params["k_w"] > MAX_AVG_WINDOW:
        return None
    return _derived(step, f"hvx_{step.kernel}", scalar_fields(step), {})


@variant("requantize")
def requantize_variant(step: Step) -> Optional[Step]:
    """int8 -> int8 QUANTIZE."""
    params = {"shape": scalar_fields(step), "requant": requant_record(step.params["multiplier"],
                                                                        step.params["shift"])}
    return _derived(step, "hvx_requantize", params, {})


@variant("mean")
def mean_variant(step: Step) -> Optional[Step]:
    """MEAN keeping a contiguous innermost axis (channels), 128 of them per step."""
    if step.params["kept_dims"][3] < 2 or step.params["kept_strides"][3] != 1:
        return None
    params = {"shape": scalar_fields(step), "requant": requant_record(step.params["multiplier"],
                                                                        step.params["shift"])}
    return _derived(step, "hvx_mean", params, {})
