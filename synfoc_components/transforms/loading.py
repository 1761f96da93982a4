"""Loading canonical PNGs: image as float [0, 1] channel-first at ``image_size``, label as class ids (nearest).

Tensors follow MONAI's ``PILReader`` convention (``reverse_indexing=True``): spatial axes are (x, y), i.e. a PNG of
W columns and H rows loads as C x W x H, the order of the datalist's ``spacing``; MONAI's PIL writer reverses it.
"""

from __future__ import annotations

import torch
from monai.data import PILReader
from monai.transforms import (
    DeleteItemsd,
    EnsureChannelFirstd,
    EnsureTyped,
    LoadImaged,
    MapTransform,
    Resized,
    ScaleIntensityRanged,
)

__all__ = ["IMAGE", "LABEL", "IMAGE_STRONG", "load_transforms", "label_to_ids"]

IMAGE, LABEL, IMAGE_STRONG = "image", "label", "image_strong"


def load_transforms(
    image_size: int | None, label_size: int | None = None, with_label: bool = True, label_optional: bool = False
) -> list[MapTransform]:
    """Deterministic loading steps (cacheable by ``CacheDataset``).

    Args:
        image_size: side of the square image (bilinear, anti-aliased when shrinking); None keeps the file's size.
        label_size: side of the square label (nearest); None keeps the file's size.
        with_label: load ``label``; otherwise the key is dropped (unlabeled data never sees its mask).
        label_optional: load ``label`` where present (inference lists without labels).

    Returns:
        The list of transforms.
    """
    keys = [IMAGE, LABEL] if with_label else [IMAGE]
    steps: list[MapTransform] = [] if with_label else [DeleteItemsd(keys=LABEL)]
    steps += [
        LoadImaged(keys=keys, reader=PILReader, image_only=True, allow_missing_keys=label_optional),
        EnsureChannelFirstd(keys=keys, allow_missing_keys=label_optional),
        ScaleIntensityRanged(keys=IMAGE, a_min=0.0, a_max=255.0, b_min=0.0, b_max=1.0),
    ]
    if image_size:
        steps.append(Resized(keys=IMAGE, spatial_size=(image_size, image_size), mode="bilinear", anti_aliasing=True))
    if with_label and label_size:
        steps.append(
            Resized(
                keys=LABEL,
                spatial_size=(label_size, label_size),
                mode="nearest-exact",
                allow_missing_keys=label_optional,
            )
        )
    return steps


def label_to_ids(track_meta: bool | None = None, label_optional: bool = False) -> EnsureTyped:
    """Cast ``label`` to int64 class ids (after any float-valued geometric transform)."""
    return EnsureTyped(keys=LABEL, dtype=torch.int64, track_meta=track_meta, allow_missing_keys=label_optional)
