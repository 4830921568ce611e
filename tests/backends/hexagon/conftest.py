"""Fixtures of the Hexagon backend tests: the tools (tests skip with the reason when one is missing)."""

from __future__ import annotations

import pytest

from qcompiler.backends.hexagon.toolchain import Tools, find_tools


@pytest.fixture(scope="session")
def tools() -> Tools:
    """The toolchain, skipping the test when clang-hexagon or qemu-hexagon is missing."""
    found = find_tools()
    reason = found.missing_for_hexagon()
    if reason is not None:
        pytest.skip(reason)
    return found
