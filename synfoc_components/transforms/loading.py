"""Loading canonical PNGs: image as float [0, 1] channel-first at ``image_size`` (``network_input``'s resize), label
as class ids (nearest-exact).

Tensors follow MONAI's ``PILReader`` convention (``reverse_indexing=True``): spatial axes are (x, y), i.e. a PNG of
W columns and H rows loads as C x W x H, the order of the datalist's ``spacing``; MONAI's PIL writer reverses it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
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
from monai.utils import convert_to_dst_type, convert_to_tensor

from synfoc_components.resize import network_input

__all__ = ["IMAGE", "LABEL", "IMAGE_STRONG", "NetworkInputd", "load_transforms", "label_to_ids"]

IMAGE, LABEL, IMAGE_STRONG = "image", "label", "image_strong"


class NetworkInputd(MapTransform):
    """Resize channel-first 2D images to a square ``size`` with :func:`synfoc_components.resize.network_input`, the
    resize every network input goes through (in training, evaluation and inference; docs/method.md 3.1).

    A MetaTensor keeps its metadata (file name) but not an updated affine: these images feed networks, not writers.

    Args:
        keys: image keys.
        size: the square side.
        allow_missing_keys: skip absent keys.
    """

    def __init__(self, keys: KeysCollection, size: int, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.size = int(size)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = convert_to_tensor(d[key], track_meta=False, dtype=torch.float32)
            d[key] = convert_to_dst_type(network_input(image[None], self.size)[0], d[key], dtype=torch.float32)[0]
        return d


def load_transforms(
    image_size: int | None, label_size: int | None = None, with_label: bool = True, label_optional: bool = False
) -> list[MapTransform]:
    """Deterministic loading steps (cacheable by ``CacheDataset``).

    Args:
        image_size: side of the square image (:class:`NetworkInputd`: bilinear, antialiased); None keeps the file's
            size.
        label_size: side of the square label (nearest-exact); None keeps the file's size.
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
        steps.append(NetworkInputd(keys=IMAGE, size=image_size))
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
