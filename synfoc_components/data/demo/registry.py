"""The registry of demo writers, keyed by dataset name: a dataset's phantom is one module that registers its writer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from synfoc_components.data.registry import registering

__all__ = ["DEMOS", "DemoWriter", "register_demo", "write_demo"]

logger = logging.getLogger(__name__)

DemoWriter = Callable[..., Path]
"""``writer(out: str, seed: int = 0, ...) -> root of the written public layout``."""

DEMOS: dict[str, DemoWriter] = {}
"""Demo writers by dataset name (``python -m synfoc_components.data demo <name>``)."""

register_demo = registering(DEMOS)
"""Decorator registering a dataset's demo writer: ``@register_demo("prostate")``."""


def write_demo(name: str, out: str, seed: int = 0) -> str:
    """Write the synthetic demo source of dataset ``name`` into ``out`` (deterministic for a given ``seed``).

    Returns:
        The folder to pass to ``prepare`` as ``source``.

    Raises:
        ValueError: no demo for ``name``.
    """
    if name not in DEMOS:
        raise ValueError(f"no demo data for dataset {name!r}; demos exist for: {', '.join(sorted(DEMOS))}")
    DEMOS[name](out, seed=seed)
    logger.info("wrote the synthetic %s demo source to %s", name, out)
    return str(out)
