"""Atomic file writes: a temporary file in the target's folder, flushed, fsynced and renamed over the target.

Readers never see a half-written file, and a failed write (full disk, killed process) leaves the old file intact. The
file gets the permissions a plain ``open(path, "w")`` would give it (``tempfile.mkstemp`` makes it private to its
owner): a model or an archive written on a shared server stays readable by the colleagues the umask allows.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any

__all__ = [
    "atomic_write", "atomic_torch_save", "check_writable", "file_hash", "remove_stale_temporaries", "staging_folder"
]


def _temporary_prefix(path: str) -> str:
    return f".{os.path.basename(path)}."


def _umask() -> int:
    """The process's umask (read by setting it and setting it back; POSIX has no other way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _plain_open_mode(path: str) -> int:
    """The permission bits ``open(path, "w")`` would leave: an existing file's own, else 0o666 less the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], binary: bool = False) -> None:
    """Write ``path`` atomically through ``write(file)``.

    Args:
        path: the target file; its folder is created if missing.
        write: called with an open temporary file in the target's folder.
        binary: open the temporary file in binary mode (pictures) instead of UTF-8 text.

    Raises:
        OSError: the file system refused (full disk, no permission): the message starts with ``path`` and says that
            the previous file is kept. Whatever else ``write`` raises passes through. In every case the temporary
            file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=_temporary_prefix(path), suffix=".tmp")
        os.chmod(tmp, _plain_open_mode(path))
        with open(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        _remove(tmp)
        reason = error.strerror or str(error)
        raise _refused(error, f"{path}: not written ({reason}); the previous file, if any, is kept") from error
    except BaseException:
        _remove(tmp)
        raise


def _refused(error: OSError, message: str) -> OSError:
    """An ``OSError`` of the same errno (so the same subclass, e.g. ``PermissionError``) with our message."""
    return OSError(error.errno, message) if error.errno is not None else OSError(message)


def _remove(tmp: str | None) -> None:
    if tmp is not None and os.path.exists(tmp):
        os.remove(tmp)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write`."""
    import torch  # here, so that the data CLI can use this module without importing torch

    atomic_write(path, lambda f: torch.save(obj, f), binary=True)


def staging_folder(parent: str | os.PathLike, prefix: str) -> str:
    """A new empty folder in ``parent``, to be filled and then renamed into place, with the permissions a plain
    ``os.mkdir`` gives (``tempfile.mkdtemp`` makes it private to its owner, and a rename keeps that)."""
    folder = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(folder, 0o777 & ~_umask())
    return folder


def check_writable(folder: str | os.PathLike) -> None:
    """Create ``folder`` if needed and make sure a file can be written in it.

    Raises:
        OSError: naming the folder, when it cannot be created or written.
    """
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, f"{folder}: this output folder cannot be written (it is a file)")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise _refused(error, f"{folder}: this output folder cannot be written ({reason})") from error


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Delete temporary files that an interrupted :func:`atomic_write` of ``path`` left (a killed process).

    Call it only where no other process writes ``path`` at the same time.

    Returns:
        The removed files.
    """
    path = os.fspath(path)
    pattern = os.path.join(glob.escape(os.path.dirname(os.path.abspath(path))), glob.escape(_temporary_prefix(path)))
    removed = []
    for stale in glob.glob(pattern + "*.tmp"):
        try:
            os.remove(stale)
            removed.append(stale)
        except OSError:
            pass
    return removed


def file_hash(path: str | os.PathLike, hash_type: str = "sha256") -> str:
    """The hex digest of a file (``hash_type`` as ``hashlib.new`` takes it), read in 1 MiB blocks."""
    digest = hashlib.new(hash_type)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
