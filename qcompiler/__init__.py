"""qcompiler: a model-optimization compiler from ONNX to TFLite and C, built on a typed graph IR."""

from qcompiler.errors import QCompilerError
from qcompiler.ir import Graph, Op, Value
from qcompiler.types import QuantParams, TensorType

__all__ = ["Graph", "Op", "Value", "TensorType", "QuantParams", "QCompilerError"]
__version__ = "0.1.0"
