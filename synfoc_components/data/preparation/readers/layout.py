"""Walking the common public layouts: ``<root>/<domain>/{train,test}/<image dir>/<name>`` with masks alongside."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from synfoc_components.data.descriptions import describe
from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.conversions import Conversions
from synfoc_components.data.preparation.formats.images import read_image, read_mask
from synfoc_components.data.preparation.labels import LabelEncoder
from synfoc_components.data.preparation.source import SPLITS_IN_SOURCE, SourceDataset, SourceSlice

__all__ = [
    "SYNTHETIC_MARKER",
    "is_synthetic",
    "locate_root",
    "stem",
    "case_and_index",
    "paired_files",
    "image_slice",
    "read_paired_layout",
]

logger = logging.getLogger(__name__)

MaskReader = Callable[[Path, Conversions], np.ndarray]
"""``read(path, conversions) -> stored mask values`` (before the label encoder maps them to class ids)."""

SYNTHETIC_MARKER = "SYNTHETIC_DATA.txt"
"""A file of this name at a source root marks generated demo data; the datalist then says ``"synthetic": true``."""

_SLICE_NAME = re.compile(r"^(?P<case>.+)_(?P<index>\d+)$")


def is_synthetic(root: Path) -> bool:
    """Whether ``root`` holds the synthetic demo marker."""
    return (root / SYNTHETIC_MARKER).is_file()


def locate_root(source: str, folder: str, domains: tuple[str, ...]) -> Path:
    """Find the dataset root: ``source/folder`` if it exists, else ``source`` if it holds domain folders.

    Raises:
        DataError: when neither is found.
    """
    path = Path(source)
    if not path.is_dir():
        raise DataError(path, "source folder not found")
    if (path / folder).is_dir():
        return path / folder
    if any((path / d).is_dir() for d in domains):
        return path
    raise DataError(path, f"neither a {folder}/ folder nor domain folders ({', '.join(domains)}) found here")


def stem(path: Path) -> str:
    """File name without its (double) extension: ``Case01.nii.gz`` -> ``Case01``."""
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def case_and_index(name: str) -> tuple[str, int]:
    """Split a slice file stem ``<case>_<slice>`` into ``(case, slice)``; other names are one-slice cases."""
    match = _SLICE_NAME.match(name)
    return (match["case"], int(match["index"])) if match else (name, 0)


def _listing(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(suffixes))
    return {stem(p): p for p in files}


def paired_files(
    domain_dir: Path, image_dir: str = "image", mask_dir: str = "mask", suffixes: tuple[str, ...] = (".png",)
) -> list[tuple[str, Path, Path]]:
    """List ``(split, image, mask)`` under ``domain_dir/{train,test}/{image_dir,mask_dir}``, matched by file stem.

    Raises:
        DataError: missing domain, split or image folder, an empty split, or an image without a mask.
    """
    if not domain_dir.is_dir():
        raise DataError(domain_dir, "domain folder not found")
    pairs = []
    for split in SPLITS_IN_SOURCE:
        images_at, masks_at = domain_dir / split / image_dir, domain_dir / split / mask_dir
        for folder in (images_at, masks_at):
            if not folder.is_dir():
                raise DataError(folder, "folder not found (expected <domain>/{train,test}/{image,mask}/)")
        images, masks = _listing(images_at, suffixes), _listing(masks_at, suffixes)
        if not images:
            raise DataError(images_at, f"no images ({', '.join(suffixes)}); this domain's {split} split is empty")
        for name, image in images.items():
            if name not in masks:
                raise DataError(image, f"no mask named {name}.* in {masks_at}")
            pairs.append((split, image, masks[name]))
        orphans = sorted(set(masks) - set(images))
        if orphans:
            logger.warning("%s: %d mask(s) without an image ignored, e.g. %s", masks_at, len(orphans), orphans[0])
    return pairs


def image_slice(
    domain: str,
    split: str,
    image: Path,
    mask: Path | Sequence[Path],
    encoder: LabelEncoder,
    channels: int,
    group_slices: bool = True,
    mask_reader: MaskReader = read_mask,
) -> SourceSlice:
    """Describe a 2D image and its mask file(s) as one slice.

    Args:
        domain: domain name.
        split: ``"train"`` or ``"test"``.
        image: image file.
        mask: mask file, or several (e.g. one per lesion): their class ids are merged by pixel-wise maximum.
        encoder: stored mask value -> class id.
        channels: image channels to produce (1 or 3).
        group_slices: read ``<case>_<slice>`` names as slices of one case; otherwise every file is its own case.
        mask_reader: reads a mask file's stored values (default ``read_mask``: gray values, colour is an error).
    """
    masks = [mask] if isinstance(mask, (str, Path)) else list(mask)

    def load(conversions: Conversions) -> tuple[np.ndarray, np.ndarray]:
        pixels = read_image(image, channels, conversions)
        labels = None
        for path in masks:
            encoded = encoder(mask_reader(path, conversions), path)
            if encoded.shape != pixels.shape[:2]:
                size = "{1}x{0}".format
                raise DataError(
                    path, f"mask size {size(*encoded.shape[:2])} differs from image size {size(*pixels.shape[:2])}"
                )
            labels = encoded if labels is None else np.maximum(labels, encoded)
        return pixels, labels

    case, index = case_and_index(stem(image)) if group_slices else (stem(image), 0)
    return SourceSlice(domain, split, case, index, str(image), load)


def read_paired_layout(
    dataset: str,
    source: str,
    folder: str,
    encoder: LabelEncoder,
    image_dir: str = "image",
    mask_dir: str = "mask",
    group_slices: bool = True,
    mask_reader: MaskReader = read_mask,
) -> SourceDataset:
    """Read a release laid out as ``<folder>/<domain>/{train,test}/{image_dir,mask_dir}/<name>.png``.

    Args:
        dataset: the dataset's name; its description gives the domains and the image channels.
        source: ``folder`` or its parent.
        folder: the release's top folder.
        encoder: stored mask value -> class id.
        image_dir: image folder below each split (may be nested, e.g. ``ROIs/image``).
        mask_dir: mask folder below each split.
        group_slices: read ``<case>_<slice>`` names as slices of one case; otherwise every file is its own case.
        mask_reader: reads a mask file's stored values.

    Returns:
        Every domain's images, each with its mask as one slice; ``synthetic`` when the source is the demo data.

    Raises:
        DataError: a missing domain or folder, an image without a mask; when the slices are loaded, an unreadable
            file, a mask that ``mask_reader`` or ``encoder`` rejects or of another size than its image.
    """
    description = describe(dataset)
    root = locate_root(source, folder, description.domains)
    slices = [
        image_slice(domain, split, image, mask, encoder, description.in_channels, group_slices, mask_reader)
        for domain in description.domains
        for split, image, mask in paired_files(root / domain, image_dir, mask_dir)
    ]
    return SourceDataset.described(description, slices, synthetic=is_synthetic(root))
