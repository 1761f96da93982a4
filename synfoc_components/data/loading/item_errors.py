"""Turning the failure of one dataset item into a ``DataError`` that names the file at fault and what is wrong.

MONAI's loaders report a bad file in many ways (``RuntimeError: applying transform <LoadImaged ...>`` caused by
``OSError: image file is truncated``, or a page-long "cannot find a suitable reader" message); the file at fault is
often not named. :func:`item_error` re-reads the item's files with the prepare step's strict readers to find it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.formats.images import open_image
from synfoc_components.data.preparation.formats.volumes import read_volume
from synfoc_components.error_report import root_cause

__all__ = ["FILE_KEYS", "item_error"]

FILE_KEYS = ("image", "label")
"""Item keys that hold file paths."""

_NIFTI = (".nii.gz", ".nii")


def _reason(error: BaseException) -> str:
    """The first line of the root cause's message (or its type)."""
    root = root_cause(error)
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    return lines[0] if lines else type(root).__name__


def _check_file(path: str) -> None:
    """Raise the ``DataError`` the strict readers give for ``path``, if any."""
    if not os.path.isfile(path):
        raise DataError(path, "file not found")
    if os.path.getsize(path) == 0:
        raise DataError(path, "empty file (0 bytes)")
    if path.lower().endswith(_NIFTI):
        read_volume(path)
    else:
        open_image(path)


def item_error(item: Mapping, error: BaseException) -> DataError:
    """The ``DataError`` to raise for an item whose loading failed with ``error``.

    A ``DataError`` at the root of ``error`` (e.g. NaN intensities found by a transform) is returned as it is.
    Otherwise the item's files are read again with the strict readers, and the first one they refuse is named with
    their message; when they accept every file, the image is named with the loader's own reason.

    Args:
        item: the datalist item (``image`` and maybe ``label`` paths).
        error: what loading it raised.

    Returns:
        An error whose message starts with the file at fault.
    """
    root = root_cause(error)
    if isinstance(root, DataError):
        return DataError(root.where, root.problem)
    files = [str(item[k]) for k in FILE_KEYS if isinstance(item.get(k), (str, os.PathLike))]
    for path in files:
        try:
            _check_file(path)
        except DataError as found:
            return DataError(found.where, found.problem)
    where = files[0] if files else Path("<item>")
    return DataError(where, f"cannot be loaded ({_reason(error)})")
