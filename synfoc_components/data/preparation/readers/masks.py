"""Masks stored as pictures rather than as labels: colour files and values slightly off the encoding.

Public releases often save masks as RGB, or with compression noise and anti-aliased edges, so that a mask meant to
hold 0/128/255 also holds 3, 126 or 190. ``snap_to_levels`` maps every value to the nearest known level; values far
from every level are tolerated only on a few pixels (edges), otherwise the file is an error.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.conversions import Conversions
from synfoc_components.data.preparation.formats.images import open_image, read_mask
from synfoc_components.data.preparation.labels import as_label_values

__all__ = ["SNAP_TOLERANCE", "STRAY_FRACTION", "snap_to_levels", "read_gray_mask", "read_rgb_mask", "snapped_gray_mask"]

SNAP_TOLERANCE = 40
"""Values at most this far from a known level are that level (compression noise)."""

STRAY_FRACTION = 0.01
"""Values farther than ``SNAP_TOLERANCE`` from every level are accepted (snapped) on at most this fraction of a
mask's pixels (anti-aliased outlines); more make the file an error."""

_COLOUR_MODES = ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")


def snap_to_levels(
    values: np.ndarray,
    levels: Sequence[int],
    path: str | os.PathLike,
    conversions: Conversions,
    tolerance: int = SNAP_TOLERANCE,
    stray_fraction: float = STRAY_FRACTION,
) -> np.ndarray:
    """Replace every stored value by the nearest of ``levels``.

    Args:
        values: integer mask values, any shape (channels are counted as pixels).
        levels: the values the encoding knows, e.g. ``(0, 128, 255)``.
        path: the mask file, for messages.
        conversions: where snapping is noted.
        tolerance: largest distance of an ordinary (noisy) value to its level.
        stray_fraction: largest fraction of values farther than ``tolerance`` from every level.

    Returns:
        The snapped values (int64, same shape).

    Raises:
        DataError: too many values far from every level, naming the file and the values.
    """
    known = np.array(sorted(levels), dtype=np.int64)
    found, counts = np.unique(values, return_counts=True)
    distance = np.abs(found[:, None].astype(np.int64) - known[None]).min(axis=1)
    far = distance > tolerance
    share = counts[far].sum() / max(values.size, 1)
    if share > stray_fraction:
        shown = ", ".join(str(v) for v in found[far][:8]) + (", ..." if far.sum() > 8 else "")
        raise DataError(
            path,
            f"mask values {shown} ({share:.1%} of the pixels) lie farther than {tolerance} from every expected value "
            f"{tuple(int(k) for k in known)}; this is not a mask in the expected encoding",
        )
    if not np.isin(found, known).all():
        conversions.note(path, f"mask values off {tuple(int(k) for k in known)} (noise, anti-aliasing) snapped")
    edges = (known[1:] + known[:-1]) / 2.0  # ties go to the lower level
    return known[np.searchsorted(edges, values, side="left")]


def read_gray_mask(path: str | os.PathLike, conversions: Conversions) -> np.ndarray:
    """Read a gray mask; colour files become gray (luma), as the upstream loaders' ``convert('L')`` does.

    Raises:
        DataError: unreadable file, non-integer or non-finite values.
    """
    img = open_image(path)
    if img.mode not in _COLOUR_MODES:
        return read_mask(path, conversions)
    rgb = np.asarray(img.convert("RGB"))
    if (rgb == rgb[..., :1]).all():
        return rgb[..., 0]
    conversions.note(path, "colour mask (channels differ) converted to 8-bit gray")
    return np.asarray(img.convert("L"))


def snapped_gray_mask(levels: Iterable[int]) -> Callable[[str | os.PathLike, Conversions], np.ndarray]:
    """A mask reader (``image_slice``'s ``mask_reader``): ``read_gray_mask``, every value snapped to ``levels``."""
    return functools.partial(_read_snapped_gray_mask, levels=tuple(levels))


def _read_snapped_gray_mask(path: str | os.PathLike, conversions: Conversions, levels: tuple[int, ...]) -> np.ndarray:
    return snap_to_levels(read_gray_mask(path, conversions), levels, path, conversions)


def read_rgb_mask(path: str | os.PathLike, conversions: Conversions) -> np.ndarray:
    """Read a colour mask as rows x columns x 3 values (alpha dropped, palettes expanded).

    Raises:
        DataError: unreadable file, or a gray file where a colour mask is expected.
    """
    img = open_image(path)
    if img.mode not in _COLOUR_MODES:
        raise DataError(path, f"{img.mode} (gray) mask; expected an RGB mask with one class per channel")
    if img.mode != "RGB":
        conversions.note(path, f"{img.mode} mask converted to RGB")
        img = img.convert("RGB")
    return as_label_values(np.asarray(img), path)
