"""The op definitions of every built-in dialect; importing this package registers them."""

from qcompiler.ops import builtin, core, onnx_dialect  # noqa: F401
from qcompiler.ops import quant, quant_linear, quant_nonlinear  # noqa: F401
from qcompiler.ops.registry import OpDef, REQUIRED, get_op_def, lookup_op_def, op  # noqa: F401
