"""The synthetic prostate demo dataset, generated once into a folder, for the loader and inference benchmarks."""

from __future__ import annotations

import os
import time
from pathlib import Path

from synfoc_components.data import ensure_demo_dataset

__all__ = ["demo_dataset", "CONFIGS"]

#: The prostate bundle's configs.
CONFIGS = Path(__file__).resolve().parents[1] / "bundles" / "prostate" / "configs"


def demo_dataset(root: str | os.PathLike, data_dir: str | None = None) -> str:
    """A prepared dataset folder: ``data_dir`` if given (prepared already), else the demo generated in ``root/data``.

    Returns:
        The dataset folder (with ``datalist.json``, ``images/``, ``labels/``).
    """
    if data_dir:
        return data_dir
    target = Path(root) / "data"
    start = time.perf_counter()
    ensure_demo_dataset(str(target), "prostate")
    print(f"demo dataset ready in {target} ({time.perf_counter() - start:.1f} s)", flush=True)
    return str(target)
