"""Fundus optic cup / disc (4 domains): the DoFE-style ROI crops the MiDSS authors share (method.md 4.2).

Layout ``Fundus/Domain{1..4}/{train,test}/ROIs/{image,mask}/<name>.png`` (``--source`` may be the ``Fundus`` folder
or its parent): RGB images (800x800 in the release), masks 0 = cup, 128 = disc rim, 255 = background, usually stored
as RGB with equal channels. Class ids: cup 1, rim 2 (the disc is cup + rim). Every file is its own case.

Masks are read as gray (``convert('L')`` as upstream) and every value snaps to the nearest of 0/128/255 (JPEG noise,
anti-aliased outlines); values far from all three on more than a few pixels make the file an error
(``readers.masks``). Upstream thresholds instead (0 cup, 1..128 rim, > 128 background); both agree on clean masks.
"""

from __future__ import annotations

import os

import numpy as np

from synfoc_components.data.conversions import Conversions
from synfoc_components.data.descriptions import describe
from synfoc_components.data.labels import value_map
from synfoc_components.data.readers.layout import image_slice, is_synthetic, locate_root, paired_files
from synfoc_components.data.readers.masks import read_gray_mask, snap_to_levels
from synfoc_components.data.readers.registry import register_reader
from synfoc_components.data.source import SourceDataset

__all__ = ["ENCODING", "read_fundus"]

ENCODING = {0: 1, 128: 2, 255: 0}
"""Stored mask value -> class id (cup 1, rim 2, background 0)."""


def _read_mask(path: str | os.PathLike, conversions: Conversions) -> np.ndarray:
    return snap_to_levels(read_gray_mask(path, conversions), tuple(ENCODING), path, conversions)


@register_reader("fundus")
def read_fundus(source: str) -> SourceDataset:
    """Read the four fundus domains.

    Args:
        source: the ``Fundus`` folder or its parent.

    Returns:
        The four domains' images; ``synthetic`` when the source is the demo data.

    Raises:
        DataError: a missing domain or folder, an image without a mask, an unreadable file, a mask far from the
            0/128/255 encoding or of another size than its image.
    """
    description = describe("fundus")
    root = locate_root(source, "Fundus", description.domains)
    encoder = value_map(ENCODING)
    slices = [
        image_slice(domain, split, image, mask, encoder, channels=3, group_slices=False, mask_reader=_read_mask)
        for domain in description.domains
        for split, image, mask in paired_files(root / domain, image_dir="ROIs/image", mask_dir="ROIs/mask")
    ]
    return SourceDataset.described(description, slices, synthetic=is_synthetic(root))
