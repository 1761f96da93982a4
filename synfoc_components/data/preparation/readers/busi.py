"""BUSI breast ultrasound (2 domains: benign, malignant): the original Cairo University / Kaggle release
(docs/method.md 4.4).

Layout ``Dataset_BUSI_with_GT/{benign,malignant}/<name>.png`` with ``<name>_mask.png`` and, for images with several
lesions, ``<name>_mask_1.png``, ``<name>_mask_2.png``... (``--source`` may be the ``Dataset_BUSI_with_GT`` folder or
its parent). Masks: lesion 255, background 0 (values snap to the nearest, see ``readers.masks``); the masks of one
image are merged (union). The ``normal`` folder (no lesion) is not read. Images are read as gray.

Split (the release has none; the paper's loader, reproduced): per domain, the images sorted by file name (Python
string order, e.g. ``benign (1)``, ``benign (10)``, ``benign (100)``, ``benign (101)``...), the last
``floor(0.2 * N)`` (at least one) are test, the rest train: benign 437 -> 350 / 87, malignant 210 -> 168 / 42.
Labeled (default): the first ``floor(1/8 * all training images)`` = 64 of benign (``--lb_ratio 0.25`` gives 129;
``--lb_domain malignant`` labels malignant instead). Every image is its own case.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from synfoc_components.data.descriptions import describe
from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.labels import value_map
from synfoc_components.data.preparation.readers.layout import image_slice, is_synthetic, locate_root
from synfoc_components.data.preparation.readers.masks import snapped_gray_mask
from synfoc_components.data.preparation.readers.registry import register_reader
from synfoc_components.data.preparation.source import SourceDataset, SourceSlice

__all__ = ["TEST_FRACTION", "read_busi", "group_masks", "split_images"]

logger = logging.getLogger(__name__)

TEST_FRACTION = 0.2
_MASK_NAME = re.compile(r"^(?P<image>.+)_mask(_\d+)?$")
_ENCODING = {0: 0, 255: 1}


def group_masks(folder: Path) -> dict[str, tuple[Path, list[Path]]]:
    """Group a BUSI class folder's PNG files into ``{image stem: (image, [mask, ...])}``.

    Raises:
        DataError: a missing folder, no images, an image without a mask.
    """
    if not folder.is_dir():
        raise DataError(folder, "domain folder not found (expected <class>/<name>.png with <name>_mask.png)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")
    masks = [(p, _MASK_NAME.match(p.stem)) for p in files]
    images = {p.stem: (p, []) for p, match in masks if match is None}
    if not images:
        raise DataError(folder, "no images (<name>.png) found")
    orphans = []
    for path, match in masks:
        if match is not None:
            (images[match["image"]][1] if match["image"] in images else orphans).append(path)
    if orphans:
        logger.warning("%s: %d mask(s) without an image ignored, e.g. %s", folder, len(orphans), orphans[0].name)
    for name, (image, found) in images.items():
        if not found:
            raise DataError(image, f"no mask {name}_mask.png next to it")
    return images


def split_images(names: list[str], test_fraction: float = TEST_FRACTION) -> tuple[list[str], list[str]]:
    """Split image file names, sorted: train first, test the last ``floor(test_fraction * N)`` (at least one).

    Raises:
        ValueError: for fewer than two images.
    """
    names = sorted(names)
    if len(names) < 2:
        raise ValueError(f"{len(names)} image(s); at least 2 are needed for a train/test split")
    n_test = max(1, int(len(names) * test_fraction))
    return names[:-n_test], names[-n_test:]


@register_reader("busi")
def read_busi(source: str) -> SourceDataset:
    """Read the benign and malignant images of BUSI.

    Args:
        source: the ``Dataset_BUSI_with_GT`` folder or its parent.

    Returns:
        Both domains' images; ``synthetic`` when the source is the demo data.

    Raises:
        DataError: a missing class folder, an image without a mask, fewer than two images in a class, an unreadable
            file, a mask far from the 0/255 encoding or of another size than its image.
    """
    description = describe("busi")
    root = locate_root(source, "Dataset_BUSI_with_GT", description.domains)
    encoder, mask_reader = value_map(_ENCODING), snapped_gray_mask(_ENCODING.keys())
    slices: list[SourceSlice] = []
    for domain in description.domains:
        groups = {image.name: (image, masks) for image, masks in group_masks(root / domain).values()}
        try:
            train, test = split_images(list(groups))  # by file name, as upstream sorts the globbed files
        except ValueError as err:
            raise DataError(root / domain, str(err)) from None
        for split, names in (("train", train), ("test", test)):
            for name in names:
                image, masks = groups[name]
                slices.append(
                    image_slice(domain, split, image, masks, encoder, 1, group_slices=False, mask_reader=mask_reader)
                )
    if (root / "normal").is_dir():
        logger.info("%s: not read (images without lesion; the paper leaves them out)", root / "normal")
    return SourceDataset.described(description, slices, synthetic=is_synthetic(root))
