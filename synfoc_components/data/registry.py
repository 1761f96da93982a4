"""Name -> function tables that modules fill with a decorator: the source readers and the demo writers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["registering"]

F = TypeVar("F", bound=Callable)


def registering(table: dict[str, F]) -> Callable[[str], Callable[[F], F]]:
    """A decorator factory for ``table``: ``@registering(table)(name)`` puts the function it decorates under ``name``.

    Args:
        table: the registry, e.g. ``READERS``.

    Returns:
        ``register(name)``, the decorator that registers a function as ``name`` and returns it unchanged.
    """

    def register(name: str) -> Callable[[F], F]:
        def add(function: F) -> F:
            table[name] = function
            return function

        return add

    return register
