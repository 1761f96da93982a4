"""Reading NIfTI volumes and cutting them into validated 8-bit 2D slices."""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable
from typing import Any

import nibabel as nib
import numpy as np

from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.conversions import Conversions
from synfoc_components.data.preparation.formats.images import to_uint8
from synfoc_components.data.preparation.labels import LabelEncoder, as_label_values
from synfoc_components.data.preparation.source import SourceSlice

__all__ = ["VolumeCache", "read_volume", "volume_slices"]

logger = logging.getLogger(__name__)

_NIFTI_ERRORS = (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError)


class VolumeCache:
    """Keeps the last case's decoded volumes, so that slices read in order decode each volume once."""

    def __init__(self) -> None:
        self._key: Any = None
        self._value: Any = None

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        """Return the cached value for ``key``, computing it with ``make()`` (and evicting the last) if new."""
        if key != self._key:
            self._key, self._value = None, None  # drop the old volumes first (memory; a failing make())
            self._value = make()
            self._key = key
        return self._value


def _load(path: str | os.PathLike) -> nib.spatialimages.SpatialImage:
    try:
        return nib.load(str(path))
    except _NIFTI_ERRORS as err:
        raise DataError(path, f"unreadable NIfTI ({err})") from None


def _shape3d(shape: tuple[int, ...], path: str | os.PathLike) -> tuple[int, int, int]:
    core = tuple(shape)
    while len(core) > 3 and core[-1] == 1:
        core = core[:-1]
    if len(core) == 2:
        core = core + (1,)
    if len(core) != 3:
        raise DataError(path, f"expected a 2D or 3D volume, got shape {tuple(shape)}")
    return core  # type: ignore[return-value]


def _zooms(img: nib.spatialimages.SpatialImage) -> tuple[float, float, float]:
    """Voxel spacing of the first three axes (1.0 for missing ones)."""
    return (tuple(float(z) for z in img.header.get_zooms()[:3]) + (1.0,) * 3)[:3]  # type: ignore[return-value]


def read_volume(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Read a NIfTI file as a 3D array (x, y, z) and its voxel spacing.

    Raises:
        DataError: unreadable or truncated file, not 2D/3D.
    """
    img = _load(path)
    shape = _shape3d(img.shape, path)
    try:
        data = np.asanyarray(img.dataobj).reshape(shape)
    except _NIFTI_ERRORS as err:
        raise DataError(path, f"unreadable NIfTI data ({err})") from None
    return data, _zooms(img)


def _slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """The 2D slice ``index`` along ``axis``, in PIL orientation (rows = the second remaining axis)."""
    return np.ascontiguousarray(np.take(volume, index, axis=axis).T)


def _labels(mask_path: str | os.PathLike, encoder: LabelEncoder) -> np.ndarray:
    """The validated class-id volume of a mask file."""
    return encoder(as_label_values(read_volume(mask_path)[0], mask_path), mask_path)


def volume_slices(
    image_path: str | os.PathLike,
    mask_path: str | os.PathLike,
    *,
    domain: str,
    split: str,
    case: str,
    encoder: LabelEncoder,
    cache: VolumeCache,
    axis: int = -1,
    keep_empty: bool = False,
    channels: int = 1,
) -> list[SourceSlice]:
    """Describe the slices of one image/mask volume pair.

    The mask is read now (to find the slices that contain a structure); images are read when a slice is loaded:
    intensities are scaled per volume to 8 bits by their 0.5/99.5 percentiles.

    Args:
        image_path: image volume.
        mask_path: label volume of the same shape.
        domain: domain name.
        split: ``"train"`` or ``"test"``.
        case: case name.
        encoder: stored mask value -> class id.
        cache: shared one-case cache of decoded volumes.
        axis: slicing axis (default the last).
        keep_empty: keep slices without any foreground (default: drop them, as the public slice releases do).
        channels: 1, or 3 to repeat the gray image into RGB.

    Returns:
        One ``SourceSlice`` per kept slice, with the in-plane spacing.

    Raises:
        DataError: unreadable files, shape mismatch, foreign mask values.
    """
    image = _load(image_path)
    image_shape = _shape3d(image.shape, image_path)
    labels = _labels(mask_path, encoder)
    if image_shape != labels.shape:
        raise DataError(mask_path, f"mask shape {labels.shape} differs from image shape {image_shape} ({image_path})")
    axis = axis % 3
    has_foreground = np.moveaxis(labels, axis, 0).reshape(labels.shape[axis], -1).any(axis=1)
    indices = [i for i in range(labels.shape[axis]) if keep_empty or has_foreground[i]]
    if not indices:
        logger.warning("%s: no slice contains a structure; case %s skipped", mask_path, case)
    in_plane = tuple(z for i, z in enumerate(_zooms(image)) if i != axis)

    def decode() -> tuple[np.ndarray, np.ndarray]:
        return to_uint8(read_volume(image_path)[0], image_path), _labels(mask_path, encoder)

    def loader(index: int) -> Callable[[Conversions], tuple[np.ndarray, np.ndarray]]:
        def load(conversions: Conversions) -> tuple[np.ndarray, np.ndarray]:
            image_u8, label_ids = cache.get((str(image_path), str(mask_path)), decode)
            image_slice = _slice(image_u8, axis, index)
            if channels == 3:
                image_slice = np.repeat(image_slice[..., None], 3, axis=-1)
            return image_slice, _slice(label_ids, axis, index)

        return load

    return [
        SourceSlice(domain, split, case, i, f"{image_path}[{i}]", loader(i), in_plane)  # type: ignore[arg-type]
        for i in indices
    ]
