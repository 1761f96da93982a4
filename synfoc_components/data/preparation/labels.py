"""Label encodings: how the stored mask values of a source map to class ids 0..K, validated per file."""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Callable, Mapping

import numpy as np

from synfoc_components.data.errors import DataError

__all__ = [
    "MAX_INFERRED_CLASSES",
    "LabelEncoder",
    "as_label_values",
    "value_map",
    "class_ids",
    "above_zero",
    "ids_or_binary_255",
    "parse_label_map",
]

logger = logging.getLogger(__name__)

MAX_INFERRED_CLASSES = 32
"""Without a label map or a class count, mask values must be class ids below this (0/255 masks need a map)."""

LabelEncoder = Callable[[np.ndarray, "str | os.PathLike"], np.ndarray]
"""``encode(mask_values, path) -> uint8 class ids``; raises ``DataError`` naming ``path`` for foreign values."""


def as_label_values(array: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """Return stored mask values as an integer array (float masks must hold whole numbers).

    Raises:
        DataError: for NaN/Inf or fractional values.
    """
    array = np.asarray(array)
    if array.dtype.kind in "biu":
        return array
    if not np.isfinite(array).all():
        raise DataError(path, "mask contains NaN or Inf values")
    if (array != np.round(array)).any():
        raise DataError(path, "mask has non-integer values")
    return array.astype(np.int64)


def _values(mask: np.ndarray) -> np.ndarray:
    if mask.dtype == np.uint8:
        return np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    return np.unique(mask)


def _shown(values: np.ndarray, limit: int = 8) -> str:
    text = ", ".join(str(v) for v in values[:limit])
    return text + (", ..." if len(values) > limit else "")


def value_map(mapping: Mapping[int, int]) -> LabelEncoder:
    """Encoding by a table of stored value -> class id; any other stored value is an error.

    Args:
        mapping: e.g. ``{0: 1, 255: 0}`` for the prostate PNGs (organ black, background white).
    """
    keys = np.array(sorted(mapping), dtype=np.int64)
    classes = np.array([mapping[k] for k in sorted(mapping)], dtype=np.uint8)
    table = "{" + ", ".join(f"{k}: {mapping[k]}" for k in sorted(mapping)) + "}"

    def encode(mask: np.ndarray, path: str | os.PathLike) -> np.ndarray:
        values = _values(mask)
        foreign = values[~np.isin(values, keys)]
        if foreign.size:
            raise DataError(path, f"mask values {_shown(foreign)} are outside the encoding {table}")
        return classes[np.searchsorted(keys, mask)]

    return encode


def class_ids(num_classes: int | None = None) -> LabelEncoder:
    """Encoding where stored values already are class ids, below ``num_classes`` (or ``MAX_INFERRED_CLASSES``)."""
    limit = num_classes or MAX_INFERRED_CLASSES

    def encode(mask: np.ndarray, path: str | os.PathLike) -> np.ndarray:
        values = _values(mask)
        foreign = values[(values < 0) | (values >= limit)]
        if foreign.size:
            hint = "" if num_classes else ' (pass --label_map, e.g. "{0:0,255:1}", or --num_classes)'
            raise DataError(path, f"mask values {_shown(foreign)} are not class ids 0..{limit - 1}{hint}")
        return mask.astype(np.uint8)

    return encode


def ids_or_binary_255() -> LabelEncoder:
    """Encoding of masks given without a label map: class ids, or binary masks stored as 0 / 255.

    The first mask that holds anything but 0 decides: 0 and 255 alone mean binary masks (255 is class 1, logged
    once), other values mean class ids (as ``class_ids``). A later mask that reads the other way is an error naming
    it and the first, so one dataset never mixes the two readings.
    """
    readings = {"binary": value_map({0: 0, 255: 1}), "class ids": class_ids()}
    first: list[tuple[str, str]] = []  # (reading, path) of the first mask that decided

    def encode(mask: np.ndarray, path: str | os.PathLike) -> np.ndarray:
        values = _values(mask)
        if not values.any():
            return mask.astype(np.uint8)
        reading = "binary" if set(values.tolist()) <= {0, 255} else "class ids"
        if not first:
            first.append((reading, str(path)))
            if reading == "binary":
                logger.info("masks hold only 0 and 255 (first: %s): 255 is read as class 1", path)
        decided, decided_by = first[0]
        if reading != decided:
            raise DataError(
                path,
                f"mask values {_shown(values)} read as {reading}, but {decided_by} was read as {decided}; pass "
                '--label_map, e.g. "{0:0,255:1}"',
            )
        return readings[reading](mask, path)

    return encode


def above_zero(class_id: int = 1) -> LabelEncoder:
    """Encoding of binary volumes: any value > 0 is ``class_id``, 0 background, negative values are an error."""

    def encode(mask: np.ndarray, path: str | os.PathLike) -> np.ndarray:
        if (mask < 0).any():
            raise DataError(path, "negative mask values; expected 0 = background, > 0 = foreground")
        return (mask > 0).astype(np.uint8) * np.uint8(class_id)

    return encode


def parse_label_map(label_map: Mapping | str) -> dict[int, int]:
    """Parse ``--label_map`` given as a dict or as text like ``"{0:0,255:1}"``.

    Raises:
        DataError: for text that is not a dict of integers to class ids 0..255.
    """
    parsed = label_map
    if isinstance(label_map, str):
        try:
            parsed = ast.literal_eval(label_map)
        except (ValueError, SyntaxError):
            parsed = None
    if not isinstance(parsed, Mapping) or not parsed:
        raise DataError("--label_map", f"{label_map!r} is not a mapping like {{0: 0, 255: 1}}")
    try:
        result = {int(k): int(v) for k, v in parsed.items()}
    except (TypeError, ValueError):
        raise DataError("--label_map", f"{label_map!r} must map integers to integers") from None
    if not all(0 <= v <= 255 for v in result.values()):
        raise DataError("--label_map", f"{label_map!r}: class ids must lie in 0..255")
    return result
