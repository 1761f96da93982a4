"""M&Ms cardiac cine MRI (4 vendors): the MiDSS authors' PNG slices (docs/method.md 4.3).

Layout ``mnms/vendor{A,B,C,D}/{train,test}/{image,mask}/<case>_<slice>.png`` (``--source`` may be the ``mnms``
folder or its parent): 8-bit gray images of the vendor's native size, RGB masks with one structure per channel:
R = LV (class 1), G = MYO (2), B = RV (3). Names ``<case>_<slice>`` are slices of one case.

Each channel value snaps to the nearest of 0 / 255 (noise); values far from both on more than a few pixels make the
file an error (``readers.masks``). Where channels overlap the later one wins (RV over MYO over LV), as upstream's
``mask[..., 0] == 255 -> 1; [..., 1] -> 2; [..., 2] -> 3`` does.
"""

from __future__ import annotations

import os

import numpy as np

from synfoc_components.data.descriptions import describe
from synfoc_components.data.preparation.conversions import Conversions
from synfoc_components.data.preparation.labels import class_ids
from synfoc_components.data.preparation.readers.layout import read_paired_layout
from synfoc_components.data.preparation.readers.masks import read_rgb_mask, snap_to_levels
from synfoc_components.data.preparation.readers.registry import register_reader
from synfoc_components.data.preparation.source import SourceDataset

__all__ = ["CHANNEL_CLASSES", "read_mnms", "rgb_to_classes"]

CHANNEL_CLASSES = (1, 2, 3)
"""Class id of the mask's R, G and B channel (LV, MYO, RV)."""


def rgb_to_classes(path: str | os.PathLike, conversions: Conversions) -> np.ndarray:
    """Read an M&Ms RGB mask as class ids 0..3.

    Raises:
        DataError: unreadable or gray file, channel values far from 0 and 255.
    """
    channels = snap_to_levels(read_rgb_mask(path, conversions), (0, 255), path, conversions)
    labels = np.zeros(channels.shape[:2], np.uint8)
    for channel, class_id in enumerate(CHANNEL_CLASSES):
        labels[channels[..., channel] == 255] = class_id
    return labels


@register_reader("mnms")
def read_mnms(source: str) -> SourceDataset:
    """Read the four M&Ms vendors from ``source``, the ``mnms`` folder or its parent.

    Returns and raises as ``read_paired_layout``; a gray mask or one far from the 0/255 channel encoding is a
    ``DataError`` too.
    """
    encoder = class_ids(describe("mnms").num_classes)
    return read_paired_layout("mnms", source, "mnms", encoder, mask_reader=rgb_to_classes)
