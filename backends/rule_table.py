"""The registering decorator every backend's lowering uses: rules (or variants) kept in a table by op kind."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def registrar(table: dict[str, F]) -> Callable[..., Callable[[F], F]]:
    """A decorator factory over ``table``: ``@deco("kind", ...)`` stores the decorated function under each kind
    and returns it unchanged (the TFLite, MCU and Hexagon lowerings register their rules this one way)."""

    def by_kinds(*kinds: str) -> Callable[[F], F]:
        def register(function: F) -> F:
            for kind in kinds:
                table[kind] = function
            return function

        return register

    return by_kinds
