"""Writing the canonical dataset: ``images/<domain>/<split>/<case>_<slice>.png``, ``labels/...`` and ``datalist.json``.

``<split>`` is the source's split (``train``, ``test``, or ``val`` where a release has one): a release may reuse a
case name in its train and test folders for different patients, so the split is part of every file name.

Everything is first written into a staging folder inside ``out``; only when every slice has been read and
validated are ``images/`` and ``labels/`` swapped in and the datalist written (atomically, last). A bad source file,
a full disk or an interruption therefore leaves an existing dataset in ``out`` untouched, and a datalist that looks
complete always describes the images next to it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from synfoc_components.data.preparation.conversions import Conversions
from synfoc_components.data.preparation.source import SourceDataset
from synfoc_components.data.preparation.splits import SPLITS
from synfoc_components.io import atomic_write

__all__ = ["DATALIST", "write_atomic", "write_png", "write_dataset"]

logger = logging.getLogger(__name__)

DATALIST = "datalist.json"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`synfoc_components.io.atomic_write`)."""
    atomic_write(path, lambda f: f.write(data), binary=True)


def write_png(path: Path, array: np.ndarray, compress_level: int = 6) -> None:
    """Write a uint8 rows x columns [x 3] array as PNG (zlib level ``compress_level``), atomically."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=compress_level)
    write_atomic(path, buffer.getvalue())


def _labels_metadata(source: SourceDataset, num_classes: int) -> dict[str, str]:
    names = list(source.class_names) or [f"class{i}" for i in range(1, num_classes)]
    return {str(i): name for i, name in enumerate(["background"] + names)}


def _install(staging: Path, out: Path, datalist_text: str) -> Path:
    """Swap the staged ``images/`` and ``labels/`` into ``out`` (the old ones go to ``staging``), then the datalist."""
    datalist = out / DATALIST
    if datalist.exists():
        logger.info("%s: replacing the existing dataset", datalist)
        datalist.unlink()  # no datalist while the folders are swapped
    for name in ("images", "labels"):
        if (out / name).exists():
            os.replace(out / name, staging / f"previous-{name}")
        os.replace(staging / name, out / name)
    write_atomic(datalist, datalist_text.encode())
    return datalist


def write_dataset(out: str | os.PathLike, source: SourceDataset, splits: dict, header: dict[str, Any]) -> Path:
    """Read, validate and write every slice, then the datalist.

    Args:
        out: the dataset folder.
        source: what the reader found.
        splits: ``{slice.key: split}`` from ``assign_splits``.
        header: top-level datalist fields (dataset, domains, labeled_domain, ...).

    Returns:
        The path of ``datalist.json``.

    Raises:
        synfoc_components.data.errors.DataError: any unusable source file (``out`` is left as it was).
        OSError: ``out`` cannot be written (``out`` is left as it was).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".prepare-", dir=out))
    try:
        return _write_staged(staging, out, source, splits, header)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_staged(staging: Path, out: Path, source: SourceDataset, splits: dict, header: dict[str, Any]) -> Path:
    """Write every slice into ``staging``, then install the dataset into ``out``; returns the datalist path."""
    rank = {domain: i for i, domain in enumerate(source.domains)}
    ordered = sorted(source.slices, key=lambda s: (rank[s.domain], s.split, s.case, s.index))
    logger.info("writing %d slices of %s to %s", len(ordered), source.name, out)
    conversions, items, largest = Conversions(), {split: [] for split in SPLITS}, 0
    for piece in tqdm(ordered, desc=f"prepare {source.name}", unit="slice", disable=None):
        image, label = piece.load(conversions)
        name = Path(piece.domain, piece.split, f"{piece.case}_{piece.index:03d}.png")
        image_path, label_path = "images" / name, "labels" / name
        write_png(staging / image_path, image)
        write_png(staging / label_path, label)
        largest = max(largest, int(label.max()))
        split = splits[piece.key]
        item = {"image": image_path.as_posix(), "label": label_path.as_posix(), "domain": piece.domain}
        item.update(case=piece.case, slice=piece.index, split=split)
        if piece.spacing is not None:
            item["spacing"] = [round(float(v), 6) for v in piece.spacing]  # NIfTI zooms are float32
        items[split].append(item)
    conversions.summary()
    num_classes = source.num_classes or largest + 1
    everything = [item for split in SPLITS for item in items[split]]
    if 0 < sum("spacing" in item for item in everything) < len(everything):
        logger.warning("spacing is known for only some slices; it is left out of the datalist for all")
        for item in everything:
            item.pop("spacing", None)
    document = dict(header, num_classes=num_classes, labels=_labels_metadata(source, num_classes), **items)
    datalist = _install(staging, out, json.dumps(document, indent=1) + "\n")
    counts = Counter((item["domain"], item["split"]) for item in everything)
    for domain in source.domains:
        logger.info("%s: %s", domain, ", ".join(f"{s} {counts[domain, s]}" for s in SPLITS))
    logger.info("wrote %s", datalist)
    return datalist
