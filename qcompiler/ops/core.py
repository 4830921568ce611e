"""The core dialect: what every backend lowers from. Its ops mirror TensorFlow Lite's builtin operators,
with explicit layout and explicit attributes (no ONNX defaults to resolve). Importing this module registers
every core op; the definitions live in the ``core_*`` modules by family:

- ``core_elementwise``: add/sub/mul/div (fused activation), maximum/minimum, activations, math functions;
- ``core_nn``: fully_connected, batch_matmul, softmax, layer_norm, reductions (mean, sum, reduce_max, ...);
- ``core_image``: conv2d, depthwise_conv2d, max_pool2d, avg_pool2d, local_response_norm (layout NHWC|NCHW);
- ``core_shape``: reshape, transpose, concat, pad, slice, gather, split, broadcast_to.
"""

from qcompiler.ops import core_elementwise, core_image, core_nn, core_shape  # noqa: F401  (registers the ops)
