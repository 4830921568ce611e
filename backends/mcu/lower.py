"""Lowering the ops of a quantized graph (q dialect, data-movement core ops on int8 values, quantize/dequantize
at the edges) to calls of the MCU kernels: one ``Step`` per op with the kernel's parameter struct fields, its
constant arrays and its MAC count. The integer parameters come from the q ops' own definitions
(``integer_attrs``: TFLite's Prepare in one place); this module only arranges them for the C kernels."""

from __future__ import annotations

from qcompiler.backends.c_common.schedule import Rule
from qcompiler.backends.mcu.operands import ITEMSIZES
from qcompiler.backends.rule_table import registrar

#: Lowering rules by op kind.
RULES: dict[str, Rule] = {}

#: C function and parameter struct of each kernel call.
KERNELS = {
    "conv2d": ("qc_conv2d_s8", "qc_conv2d_params_t"),
    "depthwise_conv2d": ("qc_depthwise_conv2d_s8", "qc_depthwise_conv2d_params_t"),
    "fully_connected": ("qc_fully_connected_s8", "qc_fully_connected_params_t"),
    "conv2d_packed": ("qc_conv2d_packed_s8", "qc_conv2d_packed_params_t"),
    "fully_connected_packed": ("qc_fully_connected_packed_s8", "qc_fully_connected_packed_params_t"),
    "add": ("qc_add_s8", "qc_add_params_t"),
    "mul": ("qc_mul_s8", "qc_mul_params_t"),
    "avg_pool": ("qc_avg_pool_s8", "qc_pool_params_t"),
    "max_pool": ("qc_max_pool_s8", "qc_pool_params_t"),
    "mean": ("qc_mean_s8", "qc_mean_params_t"),
    "softmax": ("qc_softmax_s8", "qc_softmax_params_t"),
    "concat": ("qc_concat", "qc_concat_params_t"),
    "pad": ("qc_pad_s8", "qc_pad_params_t"),
    "quantize": ("qc_quantize_f32_s8", "qc_quantize_params_t"),
    "dequantize": ("qc_dequantize_s8_f32", "qc_quantize_params_t"),
    "requantize": ("qc_requantize_s8", "qc_quantize_params_t"),
    "transpose": ("qc_transpose_s8", "qc_transpose_params_t"),
    "gather": ("qc_gather", "qc_gather_params_t"),
    "lookup": ("qc_lookup_s8", "qc_lookup_params_t"),
    "squared_difference": ("qc_squared_difference_s8", "qc_squared_difference_params_t"),
    "batch_matmul": ("qc_batch_matmul_s8", "qc_batch_matmul_params_t"),
    "copy": ("memcpy", ""),
}

#: Elementwise int8 q ops the MCU runs as a 256-entry table of their exact integer results.
LOOKUP_KINDS = ("q.gelu", "q.rsqrt", "q.logistic", "q.tanh", "q.exp", "q.hard_swish", "q.leaky_relu", "q.relu",
                "q.relu6", "q.relu_n1_to_1")

#: Decorator registering a lowering rule for op kinds: ``@rule("q.conv2d", ...)``.
rule = registrar(RULES)


# The rule modules register themselves with ``rule`` (imported last: they import it from here).
from qcompiler.backends.mcu import lower_compute, lower_movement  # noqa: E402,F401

__all__ = ["ITEMSIZES", "KERNELS", "LOOKUP_KINDS", "RULES", "rule"]
