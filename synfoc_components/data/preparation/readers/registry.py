"""The registry of source readers, keyed by dataset name: adding a dataset is one reader file."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.source import SourceDataset
from synfoc_components.data.registry import registering

__all__ = ["Reader", "READERS", "register_reader", "get_reader", "read_source"]

Reader = Callable[..., SourceDataset]
"""``reader(source: str, **options) -> SourceDataset``; options are the CLI's extra ``--name value`` flags."""

READERS: dict[str, Reader] = {}

register_reader = registering(READERS)
"""Decorator registering a reader for ``python -m synfoc_components.data prepare <name>``."""


def get_reader(name: str) -> Reader:
    """Return the reader of dataset ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in READERS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(READERS))}")
    return READERS[name]


def read_source(name: str, source: str, **options: Any) -> SourceDataset:
    """Read the source of dataset ``name`` with the reader's own ``options``.

    Raises:
        ValueError: unknown dataset.
        DataError: an option the reader does not take, or any problem with the source.
    """
    reader = get_reader(name)
    accepted = [p for p in inspect.signature(reader).parameters if p != "source"]
    for option in options:
        if option not in accepted:
            takes = ", ".join(f"--{p}" for p in accepted) or "none"
            raise DataError(f"--{option}", f"not an option of the {name} reader (its options: {takes})")
    return reader(source, **options)
