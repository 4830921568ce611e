"""``legalize``: lower onnx.* ops to core ops with explicit layout and explicit attributes.

Image ops keep ONNX's NCHW layout (``layout = "NCHW"``, OIHW weights); ``to-nhwc`` changes it. Ops that
cannot be legalized (an op type without a core equivalent, a dynamic shape, a non-constant attribute
operand) stay onnx.*: backends report what they cannot take, or ``strict=true`` makes that an error here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from qcompiler.errors import UnsupportedOpError
from qcompiler.ir import Graph
from qcompiler.pass_manager import Pass, register_pass
from qcompiler.passes import legalize_elementwise, legalize_nn, legalize_shape
from qcompiler.rewrite import RewritePattern, apply_patterns


def legalize_patterns() -> list[RewritePattern]:
    """Every onnx -> core pattern, by family."""
    return legalize_elementwise.PATTERNS + legalize_nn.PATTERNS + legalize_shape.PATTERNS


@register_pass
@dataclass
class Legalize(Pass):
    """Lower onnx.* ops to core ops with explicit layout (NCHW kept; to-nhwc changes it).

    ONNX attributes become explicit: auto_pad resolved into padding, Gemm's alpha/beta/transB folded into a
    [N, K] weight and a bias, Flatten/Squeeze/Unsqueeze into static reshapes, grouped Conv with group == C_in
    into depthwise_conv2d, Clip with constant bounds into relu/relu6/relu_n1_to_1/clamp. With ``strict``,
    any op left in the onnx dialect is an error that lists them all with their locations.
    """

    name: ClassVar[str] = "legalize"
    strict: bool = False

    def run(self, graph: Graph) -> bool:
        """Apply the patterns to a fixed point; then, if strict, fail on what is left."""
        changed = apply_patterns(graph, legalize_patterns())
        if self.strict:
            left = [op for op in graph if op.dialect == "onnx"]
            if left:
                listed = ", ".join(f"{op.kind} at '{op.loc}'" if op.loc else op.kind for op in left)
                raise UnsupportedOpError(f"legalize: {len(left)} op(s) have no core form: {listed}", left[0].loc)
        return changed
