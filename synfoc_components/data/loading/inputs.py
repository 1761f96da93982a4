"""The images of a folder to segment: what ``inference.json`` reads from its ``input_dir``."""

from __future__ import annotations

import os
from pathlib import Path

from synfoc_components.data.errors import DataError

__all__ = ["INPUT_SUFFIXES", "image_list"]

#: File names inference accepts; masks are written in the same format.
INPUT_SUFFIXES = (".png", ".nii.gz", ".nii")


def image_list(input_dir: str | os.PathLike) -> list[dict[str, str]]:
    """``[{"image": path}, ...]`` for every PNG / NIfTI file directly in ``input_dir``, sorted by name.

    Raises:
        DataError: the folder does not exist or holds no such image.
    """
    folder = Path(input_dir)
    if not folder.is_dir():
        raise DataError(folder, "input folder not found; pass --input_dir <folder of .png / .nii.gz images>")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(INPUT_SUFFIXES))
    if not files:
        raise DataError(folder, f"no images to segment (looked for {', '.join(INPUT_SUFFIXES)})")
    return [{"image": str(p)} for p in files]
