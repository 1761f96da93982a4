"""Atomic file writes: a temporary file in the target's folder, flushed, fsynced and renamed over the target.

Readers never see a half-written file, and a failed write (full disk, killed process) leaves the old file intact.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import IO, Any

__all__ = ["atomic_write", "atomic_torch_save"]


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], binary: bool = False) -> None:
    """Write ``path`` atomically through ``write(file)``.

    Args:
        path: the target file; its folder is created if missing.
        write: called with an open temporary file in the target's folder.
        binary: open the temporary file in binary mode (pictures) instead of UTF-8 text.

    Raises:
        Whatever ``write`` or the file system raises; the temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with open(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write`."""
    import torch  # here, so that the data CLI can use this module without importing torch

    atomic_write(path, lambda f: torch.save(obj, f), binary=True)
