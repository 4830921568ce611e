"""Shared pieces of the Hexagon backend tests: where the C test drivers live."""

from __future__ import annotations

from pathlib import Path

#: The C test drivers (one per kernel, plus the runtime's hello program).
DRIVERS = Path(__file__).parent / "drivers"
