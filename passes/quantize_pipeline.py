"""Named pipelines of the quantization flow: ``quantize-prepare`` (import to NHWC core ops with fused
activations, the form calibration and ``insert-qdq`` expect) and the modes that need no calibration data
(``quantize-dynamic``, ``quantize-weight-only``, ``quantize-float16``). Full-integer modes need data, so
they run through ``qcompiler.quantize.quantize`` or an explicit ``calibrate{data=...}`` pipeline."""

from __future__ import annotations

from qcompiler.pass_manager import register_pipeline

#: From an imported (or pre-quantized) ONNX graph to core ops in NHWC with fused activations.
PREPARE = "import-qdq,cleanup,legalize,to-nhwc,fuse-activations"


for _mode in ("dynamic", "weight-only", "float16"):
    register_pipeline(f"quantize-{_mode}", f"insert-qdq{{mode={_mode}}},lower-quantized",
                      doc=f"Quantize a prepared graph's weights ({_mode} mode); no calibration data needed.")

register_pipeline("quantize-prepare", PREPARE,
                  doc="Import pre-quantized QDQ nodes, clean up, legalize to core ops, NHWC, fuse activations.")
