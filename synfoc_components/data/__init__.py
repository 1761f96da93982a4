"""Data side of SynFoC: dataset descriptions, source readers, the prepare step, datalists and demo data.

``python -m synfoc_components.data prepare <dataset> --source S --out D`` writes ``D/images``, ``D/labels`` and
``D/datalist.json`` (keys ``labeled``, ``unlabeled``, ``val``, ``test``; load one with
``monai.data.load_decathlon_datalist(D + "/datalist.json", True, "labeled")``). Bundles call
``ensure_demo_dataset(dataset_dir)``.

Training and inference loading (``load_datalist``, ``CheckedDataset``, ``ResumableDataLoader``, ``SeededDataset``,
``ResumableSampler``, ``SkippingDataset``) need torch and MONAI; they are imported on first use, so the data CLI
starts without them.
"""

from __future__ import annotations

import importlib
from typing import Any

from synfoc_components.data.demo import ensure_demo_dataset, write_demo
from synfoc_components.data.descriptions import DATASETS, DatasetDescription, describe
from synfoc_components.data.errors import DataError
from synfoc_components.data.inputs import INPUT_SUFFIXES, image_list
from synfoc_components.data.prepare import prepare
from synfoc_components.data.readers import READERS, get_reader, register_reader
from synfoc_components.data.splits import SPLITS
from synfoc_components.data.writer import DATALIST

_LAZY = {
    "CheckedDataset": "checked_dataset",
    "ResumableDataLoader": "resumable_loader",
    "ResumableSampler": "resumable_sampler",
    "SeededDataset": "seeded_dataset",
    "SkippingDataset": "skipping_dataset",
    "load_datalist": "datalist",
}

__all__ = [
    "CheckedDataset",
    "ResumableDataLoader",
    "ResumableSampler",
    "SeededDataset",
    "SkippingDataset",
    "load_datalist",
    "DATALIST",
    "DATASETS",
    "DataError",
    "INPUT_SUFFIXES",
    "DatasetDescription",
    "READERS",
    "SPLITS",
    "describe",
    "ensure_demo_dataset",
    "get_reader",
    "image_list",
    "prepare",
    "register_reader",
    "write_demo",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
