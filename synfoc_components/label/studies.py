"""A MONAI Label datastore (``--studies`` folder) filled from a prepared dataset's ``datalist.json``.

MONAI Label's local datastore takes the images in the folder and their labels from ``labels/final/<same name>``.
Our prepared labels are class-id PNGs (0 background, 1 the first structure, ...), which is what it expects.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

__all__ = ["LABELS", "study_name", "write_studies"]

logger = logging.getLogger(__name__)

LABELS = Path("labels") / "final"


def study_name(relative_image: str) -> str:
    """A flat, unique file name for a datalist image: ``images/BIDMC/test/00_000.png`` -> ``BIDMC_test_00_000.png``."""
    parts = Path(relative_image).parts
    return "_".join(parts[1:] if parts and parts[0] == "images" else parts)


def write_studies(datalist: str | os.PathLike, out: str | os.PathLike, labeled: int = 8, unlabeled: int = 4) -> Path:
    """Copy images of a prepared dataset into a MONAI Label studies folder.

    Args:
        datalist: a ``datalist.json`` written by ``python -m synfoc_components.data prepare`` (or the demo).
        out: the studies folder (created; files of the same name are overwritten).
        labeled: how many images of the ``labeled`` split to copy with their labels (into ``labels/final``).
        unlabeled: how many images of the ``test`` split to copy without labels (to annotate or segment).

    Returns:
        The studies folder.

    Raises:
        ValueError: naming the datalist when a split has fewer items than asked for.
    """
    datalist, out = Path(datalist), Path(out)
    document = json.loads(datalist.read_text())
    (out / LABELS).mkdir(parents=True, exist_ok=True)
    for split, count, with_label in (("labeled", labeled, True), ("test", unlabeled, False)):
        items = document.get(split) or []
        if len(items) < count:
            raise ValueError(f"{datalist}: the {split!r} split has {len(items)} items, {count} asked for")
        for item in items[:count]:
            name = study_name(item["image"])
            shutil.copyfile(datalist.parent / item["image"], out / name)
            if with_label:
                shutil.copyfile(datalist.parent / item["label"], out / LABELS / name)
    logger.info("wrote %d labeled and %d unlabeled images to the MONAI Label studies %s", labeled, unlabeled, out)
    return out
