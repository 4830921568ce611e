"""Running a .tflite model in LiteRT by signature names: the oracle the backend's tests (and the q dialect's
kernel tests) compare our interpreter against."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from qcompiler.errors import QCompilerError


def run_tflite(model: bytes, feeds: Mapping[str, np.ndarray], *,
               reference_kernels: bool = True) -> dict[str, np.ndarray]:
    """Run ``model`` once on ``feeds`` (arrays by signature input name) and return its outputs by name.

    ``reference_kernels`` selects LiteRT's reference kernels (BUILTIN_REF), whose integer results are the ones
    our interpreter must match bit for bit; otherwise the default optimized kernels run (XNNPACK for float).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.BUILTIN_REF if reference_kernels else OpResolverType.AUTO
    try:
        interpreter = Interpreter(model_content=bytes(model), experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
        runner = interpreter.get_signature_runner()
        return {name: np.array(array) for name, array in runner(**{k: np.asarray(v) for k, v in feeds.items()}).items()}
    except (RuntimeError, ValueError) as error:
        raise QCompilerError(f"LiteRT cannot run the model: {' '.join(str(error).split())}") from None
