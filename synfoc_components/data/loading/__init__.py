"""Loading at training and inference time, with torch and MONAI: the datalist, the datasets, loader and sampler.

Each public name is imported from its module on first use, so ``synfoc_components.data`` (and with it the data CLI)
starts without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "CheckedDataset": "checked_dataset",
    "INPUT_SUFFIXES": "inputs",
    "ResumableDataLoader": "resumable_loader",
    "ResumableSampler": "resumable_sampler",
    "SeededDataset": "seeded_dataset",
    "SkippingDataset": "skipping_dataset",
    "image_list": "inputs",
    "load_datalist": "datalist",
}
"""Public name -> the module of this room that defines it."""

__all__ = list(_MODULES)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
