"""Inference on new images: load PNG or NIfTI as they are, scale to [0, 1], and save masks like the inputs.

Palette, gray+alpha, bilevel and CMYK PNGs are converted to gray or RGB on loading (with a warning naming the file);
16-bit images are scaled by their percentiles; NaN or Inf intensities are refused with an error naming the file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor, PILReader
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImaged,
    MapTransform,
    SaveImage,
    ScaleIntensityRangePercentiles,
)

from synfoc_components.data.errors import DataError
from synfoc_components.data.loading.inputs import INPUT_SUFFIXES
from synfoc_components.io import check_writable
from synfoc_components.transforms.loading import IMAGE

__all__ = ["ScaleToUnitd", "MatchChannelsd", "SaveMaskd", "inference_transforms", "plain_pil_mode"]

logger = logging.getLogger(__name__)

_CONVERTED = {"P": "RGB", "PA": "RGB", "LA": "L", "1": "L", "CMYK": "RGB", "YCbCr": "RGB", "RGBa": "RGB", "La": "L"}


def plain_pil_mode(image: Any) -> Any:
    """Convert a PIL image whose pixel values are not intensities (palette, gray+alpha, ...) to gray or RGB.

    Args:
        image: a PIL image as ``PILReader`` opened it.

    Returns:
        The image, converted where needed (a warning names the file).
    """
    target = _CONVERTED.get(image.mode)
    if target is None:
        return image
    logger.warning("%s: %s image converted to %s", getattr(image, "filename", "<image>"), image.mode, target)
    return image.convert(target)


class ScaleToUnitd(MapTransform):
    """Intensities to [0, 1] as training saw them: 8-bit images / 255; anything else (NIfTI, 16-bit) by its
    0.5 and 99.5 percentiles, as the prepare step scales volumes before writing 8-bit slices.

    Args:
        keys: image keys; load them with ``LoadImaged(dtype=None)`` so the stored type is still known.
    """

    def __init__(self, keys: KeysCollection = IMAGE) -> None:
        super().__init__(keys)
        self.percentiles = ScaleIntensityRangePercentiles(lower=0.5, upper=99.5, b_min=0.0, b_max=1.0, clip=True)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        """Scale every key.

        Raises:
            DataError: naming the file, for NaN or Inf intensities.
        """
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            if image.dtype.is_floating_point and not bool(torch.isfinite(image).all()):
                name = image.meta.get("filename_or_obj", key) if isinstance(image, MetaTensor) else key
                raise DataError(name, "image contains NaN or Inf values")
            if image.dtype == torch.uint8:
                d[key] = image.float() / 255.0
            else:
                d[key] = self.percentiles(image.float())
        return d


class MatchChannelsd(MapTransform):
    """Give channel-first images the networks' channel count: RGB(A) to gray by averaging, gray to RGB by copying.

    Args:
        keys: image keys.
        channels: 1 or 3.
    """

    def __init__(self, keys: KeysCollection = IMAGE, channels: int = 1) -> None:
        super().__init__(keys)
        if channels not in (1, 3):
            raise ValueError(f"MatchChannelsd: channels must be 1 or 3, got {channels}")
        self.channels = channels

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key][:3]  # drop an alpha channel
            if image.shape[0] != self.channels:
                image = image.float().mean(0, keepdim=True) if self.channels == 1 else image[:1].expand(3, *image.shape[1:])
            d[key] = image
        return d


def inference_transforms(channels: int = 1) -> Compose:
    """Load one PNG (C x W x H, MONAI's PIL convention) or NIfTI volume (C x H x W x D), scale and match channels."""
    return Compose(
        [
            LoadImaged(keys=IMAGE, reader=PILReader(converter=plain_pil_mode), image_only=True, dtype=None),
            EnsureChannelFirstd(keys=IMAGE),
            MatchChannelsd(keys=IMAGE, channels=channels),
            ScaleToUnitd(keys=IMAGE),
        ]
    )


class SaveMaskd(MapTransform):
    """Write each predicted class map to ``output_dir`` with its input's file name, format and geometry.

    PNG inputs give 8-bit PNG masks of the same size; NIfTI inputs give NIfTI masks with the input's affine.

    Args:
        keys: prediction keys (class maps 1 x spatial, as after ``AsDiscreted(argmax=True)``).
        output_dir: the output folder (created when missing).
        meta_key: key whose ``filename_or_obj`` names the input; the image key by default.

    Raises:
        OSError: naming ``output_dir`` when it cannot be created or written (checked before any image is read).
    """

    def __init__(self, keys: KeysCollection, output_dir: str | os.PathLike, meta_key: str = IMAGE) -> None:
        super().__init__(keys)
        self.output_dir, self.meta_key = os.fspath(output_dir), meta_key
        check_writable(self.output_dir)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        source = d[self.meta_key].meta["filename_or_obj"] if isinstance(d[self.meta_key], MetaTensor) else None
        if source is None:
            raise ValueError("SaveMaskd: the image carries no file name (load it with LoadImaged)")
        name = os.path.basename(str(source))
        suffix = next((s for s in INPUT_SUFFIXES if name.lower().endswith(s)), os.path.splitext(name)[1])
        os.makedirs(self.output_dir, exist_ok=True)
        for key in self.key_iterator(d):
            with tempfile.TemporaryDirectory(dir=self.output_dir, prefix=".writing-") as staging:
                saver = SaveImage(
                    output_dir=staging,
                    output_postfix="",
                    output_ext=suffix,
                    output_dtype=np.uint8,
                    resample=False,
                    separate_folder=False,
                    print_log=False,
                )
                saver(d[key].to(torch.uint8), meta_data=d[self.meta_key].meta)
                (written,) = os.listdir(staging)  # then moved into place: a mask file is never half written
                os.replace(os.path.join(staging, written), os.path.join(self.output_dir, name))
            logger.info("wrote %s", os.path.join(self.output_dir, name))
        return d
