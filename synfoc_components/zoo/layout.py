"""Which files of a bundle folder a shared bundle holds, and which of them are weights."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "LOCAL_ONLY", "META", "SHARED_DIRS", "SHARED_FILES", "SIZE_LIMIT", "WEIGHT_SUFFIXES", "bundle_files", "is_weight"
]

META = "configs/metadata.json"
"""A bundle's metadata file, relative to the bundle folder."""

SIZE_LIMIT = 25_000_000
"""The Model Zoo's limit for one file, 25 MB (read as 10**6 bytes, the stricter reading); larger weights are listed in
``large_files.yml`` instead."""

SHARED_DIRS = ("configs", "docs", "models", "scripts")
"""Folders of a shared bundle (data/, eval/, input/ and output/ are the user's and stay out)."""

SHARED_FILES = ("LICENSE", "large_files.yml")
"""Files at the top of a shared bundle."""

LOCAL_ONLY = ("models/train_state.pt",)
"""Files that stay out: the full training state (both students, teachers, optimizers) is for resuming, not sharing."""

WEIGHT_SUFFIXES = (".pt", ".pth", ".ts", ".onnx", ".safetensors", ".ckpt")


def is_weight(path: str) -> bool:
    """Whether a bundle-relative path is a weights file under ``models/``."""
    return path.startswith("models/") and path.endswith(WEIGHT_SUFFIXES)


def bundle_files(bundle: str | Path) -> list[str]:
    """The files a shared copy of ``bundle`` holds, as sorted bundle-relative POSIX paths.

    Hidden files, ``__pycache__`` and ``*.pyc`` are left out, and so is :data:`LOCAL_ONLY`.

    Args:
        bundle: the bundle folder.

    Returns:
        Paths such as ``configs/train.json``, ``models/model.pt``, ``LICENSE``.
    """
    root = Path(bundle)
    found = [name for name in SHARED_FILES if (root / name).is_file()]
    for folder in SHARED_DIRS:
        for path in sorted((root / folder).rglob("*")) if (root / folder).is_dir() else []:
            rel = path.relative_to(root)
            hidden = any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
            if path.is_file() and not hidden and path.suffix != ".pyc" and rel.as_posix() not in LOCAL_ONLY:
                found.append(rel.as_posix())
    return sorted(found)
