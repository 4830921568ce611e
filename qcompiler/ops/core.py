"""The core dialect: what every backend lowers from. Its ops mirror TensorFlow Lite's builtin operators,
with explicit layout and explicit attributes (no ONNX defaults to resolve). Importing this module registers
every core op; the definitions live in the ``core_*`` modules by family."""

from qcompiler.ops import core_elementwise, core_nn  # noqa: F401  (registers the ops)
from qcompiler.ops.core_common import ACTIVATION_BOUNDS, LAYOUTS  # noqa: F401
