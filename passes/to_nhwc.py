"""``to-nhwc``: convert NCHW core image ops to NHWC, re-laying their weights at compile time, then sink and
cancel the transposes this puts around them, so that a CNN keeps no transpose inside its graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from qcompiler.ir import Graph, Op
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.passes.transpose_sinking import replace_keeping_names, sinking_patterns
from qcompiler.rewrite import RewritePattern, Rewriter, apply_patterns, rewriter_for

#: NCHW -> NHWC and back, as transpose perms.
TO_NHWC = [0, 2, 3, 1]
TO_NCHW = [0, 3, 1, 2]

#: How each image op's weight is re-laid from its NCHW form to its NHWC form (a transpose perm).
WEIGHT_PERMS = {
    "core.conv2d": [0, 2, 3, 1],            # OIHW -> OHWI
    "core.depthwise_conv2d": [1, 2, 3, 0],  # (C, 1, KH, KW) -> 1HWC
}

#: Core ops with a ``layout`` attribute.
IMAGE_OPS = ("core.conv2d", "core.depthwise_conv2d", "core.max_pool2d", "core.avg_pool2d",
             "core.local_response_norm")


class ImageOpToNhwc(RewritePattern):
    """An NCHW image op -> transpose to NHWC, the NHWC op (constant weights re-laid, others transposed),
    transpose back to NCHW. The sinking patterns then cancel the transposes between neighbours."""

    root = IMAGE_OPS

    def match_and_rewrite(self, op: Op, rw: Rewriter) -> bool:
        if op.attr("layout") != "NCHW":
            return False
        operands = [rw.create("core.transpose", [op.operand(0)], {"perm": TO_NHWC}).result]
        weight = op.operand(1)
        if weight is not None:
            perm = WEIGHT_PERMS[op.kind]
            array = weight.const_value
            if array is not None and weight.type.quant is None:
                operands.append(rw.const(np.ascontiguousarray(array.transpose(perm)), name=weight.name))
            else:
                operands.append(rw.create("core.transpose", [weight], {"perm": perm}).result)
        operands += list(op.operands[len(operands):])
        image = rw.create(op.kind, operands, {**op.attrs, "layout": "NHWC"})
        replace_keeping_names(rw, op, [rw.create("core.transpose", [image.result], {"perm": TO_NCHW}).result])
        return True


@register_pass
@dataclass
class ToNhwc(Pass):
    """Convert NCHW core image ops to NHWC and cancel the transposes (weights re-laid at compile time).

    With io-layout=nchw the graph's inputs and outputs keep their layout, and a transpose may remain right
    after an input or right before an output; with io-layout=nhwc the 4-D inputs and outputs themselves
    become NHWC (their types change) and no transpose needs to remain.
    """

    name: ClassVar[str] = "to-nhwc"
    io_layout: Literal["nchw", "nhwc"] = "nchw"

    def run(self, graph: Graph) -> bool:
        """Re-lay the graph's interface if asked, convert the image ops, then sink and cancel transposes."""
        changed = False
        if self.io_layout == "nhwc":
            changed = relayout_interface(graph)
        changed |= apply_patterns(graph, [ImageOpToNhwc()] + sinking_patterns())
        return changed


def relayout_interface(graph: Graph) -> bool:
    """Make every 4-D graph input and output NHWC: an input's users get a transpose back to NCHW and an output
    gets a transpose to NHWC, which the sinking patterns then cancel against the image ops' own transposes."""
    rw = rewriter_for(graph)
    changed = False
    with rw.inserting_before(graph.first):
        for value in graph.inputs:
            if value.type.rank != 4 or not value.uses:
                continue
            shape = value.type.shape
            value.type = value.type.with_shape([shape[i] for i in TO_NHWC])
            back = rw.create("core.transpose", [value], {"perm": TO_NCHW}, loc=value.name)
            for use in list(value.uses):
                if use.op is not back:
                    use.op.set_operand(use.index, back.result)
            changed = True
    outputs = list(graph.outputs)
    with rw.inserting_before(None):
        for index, value in enumerate(outputs):
            if value.type.rank == 4:
                outputs[index] = rw.create("core.transpose", [value], {"perm": TO_NHWC}, loc=value.name).result
                changed = True
    graph.set_outputs(outputs, graph.output_names)
    return changed
