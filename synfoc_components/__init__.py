"""SynFoC components: the shared code behind the SynFoC MONAI bundles.

A foundation model (MedSAM / LiteMedSAM adapted with LoRA) and a U-Net trained from scratch teach each other on
mixed-domain unlabeled images. Sub-packages: ``networks``, ``losses``, ``engines``, ``handlers``, ``transforms``,
``data``, ``metrics`` and ``zoo``; each is imported on first use, so bundle configs need only
``$import synfoc_components``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBPACKAGES = (
    "data", "engines", "error_report", "handlers", "io", "losses", "metrics", "networks", "transforms", "zoo"
)  # fmt: skip


def __getattr__(name: str) -> ModuleType:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
