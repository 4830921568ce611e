"""The ``cleanup`` named pipeline: folding, batch-norm folding, canonicalization, CSE and DCE repeated until
the graph stops changing (fuse-activations joins when the core dialect provides it)."""

from __future__ import annotations

import importlib.util

from qcompiler.pass_manager import register_pipeline

CLEANUP_PASSES = ["fold-constants", "fold-batchnorm", "canonicalize", "cse", "dce"]


def cleanup_pipeline_text() -> str:
    """The pipeline ``cleanup`` expands to: the cleanup passes, plus fuse-activations when it exists."""
    passes = list(CLEANUP_PASSES)
    if importlib.util.find_spec("qcompiler.passes.fuse_activations") is not None:
        passes.append("fuse-activations")
    return ",".join(passes)


register_pipeline(
    "cleanup", cleanup_pipeline_text(),
    doc="Fold constants and batch norms, canonicalize, CSE and DCE, repeated until nothing changes.",
    fixed_point=True)
