"""The ``cleanup`` named pipeline: folding, batch-norm folding, canonicalization, CSE, DCE and activation
fusion, repeated until the graph stops changing."""

from __future__ import annotations

from qcompiler.pass_manager import register_pipeline

#: The passes of one cleanup round, in order.
CLEANUP_PASSES = ["fold-constants", "fold-batchnorm", "canonicalize", "cse", "dce", "fuse-activations"]

register_pipeline(
    "cleanup", ",".join(CLEANUP_PASSES),
    doc="Fold constants and batch norms, canonicalize, CSE, DCE and fuse activations, repeated until nothing "
        "changes.",
    fixed_point=True)
