"""Data side of SynFoC, in three rooms: ``preparation`` (offline, no torch), ``loading`` (torch), ``demo``.

``python -m synfoc_components.data prepare <dataset> --source S --out D`` writes ``D/images``, ``D/labels`` and
``D/datalist.json`` (keys ``labeled``, ``unlabeled``, ``val``, ``test``; load one with
``monai.data.load_decathlon_datalist(D + "/datalist.json", True, "labeled")``). Bundles call
``ensure_demo_dataset(dataset_dir)``.

The names of the ``loading`` room (``load_datalist``, ``CheckedDataset``, ``ResumableDataLoader``, ...) need torch and
MONAI; that room imports each on first use, so the data CLI starts without them.
"""

from __future__ import annotations

from typing import Any

from synfoc_components.data import loading
from synfoc_components.data.demo import ensure_demo_dataset, write_demo
from synfoc_components.data.descriptions import DATASETS, DatasetDescription, describe
from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation import DATALIST, READERS, SPLITS, get_reader, prepare, register_reader

__all__ = [
    *loading.__all__,
    "DATALIST",
    "DATASETS",
    "DataError",
    "DatasetDescription",
    "READERS",
    "SPLITS",
    "describe",
    "ensure_demo_dataset",
    "get_reader",
    "prepare",
    "register_reader",
    "write_demo",
]


def __getattr__(name: str) -> Any:
    if name in loading.__all__:
        return getattr(loading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
