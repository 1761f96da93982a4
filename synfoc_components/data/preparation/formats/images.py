"""Reading and validating 2D image and mask files (PNG, JPEG, BMP, TIFF) into 8-bit arrays.

Arrays are in PIL orientation (rows x columns [x 3]); ``PILReader`` with MONAI's default ``reverse_indexing`` later
presents them as (x, y), the order of the ``spacing`` field.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.conversions import Conversions
from synfoc_components.data.preparation.labels import as_label_values

__all__ = ["open_image", "read_image", "read_mask", "to_uint8"]

_HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file.

    Raises:
        DataError: when the file is missing, truncated or not an image.
    """
    try:
        with Image.open(path) as img:
            img.load()
            return img
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(path, f"unreadable image ({err})") from None


def to_uint8(array: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """Scale an array of any depth to 8 bits by its 0.5 and 99.5 percentiles (clipped).

    Raises:
        DataError: for NaN/Inf values or a constant array.
    """
    array = np.asarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise DataError(path, "image contains NaN or Inf values")
    low, high = np.percentile(array, (0.5, 99.5))
    if high <= low:
        low, high = array.min(), array.max()
    if high <= low:
        raise DataError(path, f"image is constant ({low:g}); nothing to segment")
    return np.round(np.clip((array - low) / (high - low), 0.0, 1.0) * 255.0).astype(np.uint8)


def read_image(path: str | os.PathLike, channels: int, conversions: Conversions) -> np.ndarray:
    """Read an image as uint8 rows x columns (1 channel) or rows x columns x 3.

    16-bit and float images are rescaled (``to_uint8``); palette, RGBA, gray/RGB mismatches are converted; each
    conversion is reported through ``conversions``.

    Args:
        path: image file.
        channels: 1 (gray) or 3 (RGB).
        conversions: where conversions are noted.

    Raises:
        DataError: unreadable file, NaN/Inf values.
    """
    img = open_image(path)
    if img.mode in _HIGH_DEPTH_MODES:
        array = np.asarray(img)
        if array.dtype.kind in "ui" and array.min() >= 0 and array.max() <= 255:
            conversions.note(path, f"{img.mode} image with values in 0..255 stored as 8 bits")
            array = array.astype(np.uint8)
        else:
            conversions.note(path, f"{img.mode} image rescaled to 8 bits (0.5/99.5 percentiles)")
            array = to_uint8(array, path)
        return array if channels == 1 else np.repeat(array[..., None], 3, axis=-1)
    target = "L" if channels == 1 else "RGB"
    if img.mode != target:
        conversions.note(path, f"{img.mode} image converted to {'8-bit gray' if channels == 1 else 'RGB'}")
        img = img.convert(target)
    return np.asarray(img)


def read_mask(path: str | os.PathLike, conversions: Conversions) -> np.ndarray:
    """Read a mask as an integer rows x columns array of its stored values (not yet class ids).

    Alpha is dropped, palettes become their colours, RGB masks must be gray (equal channels).

    Raises:
        DataError: unreadable file, colour mask, non-integer or non-finite values.
    """
    img = open_image(path)
    if img.mode in ("1", "LA", "P", "PA", "RGBA", "CMYK", "YCbCr"):
        target = "L" if img.mode in ("1", "LA") else "RGB"
        conversions.note(path, f"{img.mode} mask converted to {target}")
        img = img.convert(target)
    array = np.asarray(img)
    if array.ndim == 3:
        if not (array == array[..., :1]).all():
            raise DataError(path, "colour mask (channels differ); expected a gray mask of label values")
        array = array[..., 0]
    return as_label_values(array, path)
