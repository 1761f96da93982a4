"""Fundus optic cup / disc (4 domains): the DoFE-style ROI crops the MiDSS authors share (docs/method.md 4.2).

Layout ``Fundus/Domain{1..4}/{train,test}/ROIs/{image,mask}/<name>.png`` (``--source`` may be the ``Fundus`` folder
or its parent): RGB images (800x800 in the release), masks 0 = cup, 128 = disc rim, 255 = background, usually stored
as RGB with equal channels. Class ids: cup 1, rim 2 (the disc is cup + rim). Every file is its own case.

Masks are read as gray (``convert('L')`` as upstream) and every value snaps to the nearest of 0/128/255 (JPEG noise,
anti-aliased outlines); values far from all three on more than a few pixels make the file an error
(``readers.masks``). Upstream thresholds instead (0 cup, 1..128 rim, > 128 background); both agree on clean masks.
"""

from __future__ import annotations

from synfoc_components.data.preparation.labels import value_map
from synfoc_components.data.preparation.readers.layout import read_paired_layout
from synfoc_components.data.preparation.readers.masks import snapped_gray_mask
from synfoc_components.data.preparation.readers.registry import register_reader
from synfoc_components.data.preparation.source import SourceDataset

__all__ = ["ENCODING", "read_fundus"]

ENCODING = {0: 1, 128: 2, 255: 0}
"""Stored mask value -> class id (cup 1, rim 2, background 0)."""


@register_reader("fundus")
def read_fundus(source: str) -> SourceDataset:
    """Read the four fundus domains from ``source``, the ``Fundus`` folder or its parent.

    Returns and raises as ``read_paired_layout``; a mask far from the 0/128/255 encoding is a ``DataError`` too.
    """
    encoder, masks = value_map(ENCODING), snapped_gray_mask(ENCODING.keys())
    return read_paired_layout(
        "fundus", source, "Fundus", encoder, "ROIs/image", "ROIs/mask", group_slices=False, mask_reader=masks
    )
