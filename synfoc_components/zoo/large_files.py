"""``large_files.yml``: the Model Zoo's list of files too large to commit, with where to fetch them and their hash.

Format (read by ``python -m monai.bundle download_large_files --bundle_path <bundle>`` from the bundle root)::

    large_files:
      - path: "models/model.pt"          # relative to the bundle folder
        url: "https://.../model.pt"
        hash_val: "..."                  # optional ("" or absent: no check)
        hash_type: "sha256"              # optional: md5 | sha1 | sha256 | sha512
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from synfoc_components.io import file_hash

from .problems import Problem

__all__ = ["HASH_LENGTHS", "LARGE_FILES", "file_hash", "large_file_entry", "read_large_files", "write_large_files"]

LARGE_FILES = "large_files.yml"
"""Its name; MONAI looks for ``large_files.{yml,yaml,json}`` in the bundle root only."""

HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
"""The hash types ``monai.apps.utils.check_hash`` supports, and the length of their hex digests."""

_KEYS = {"path", "url", "hash_val", "hash_type"}


def large_file_entry(bundle: str | Path, path: str, url: str) -> dict[str, str]:
    """An entry for the bundle file ``path`` (e.g. ``models/model.pt``) to be fetched from ``url``, with its SHA-256."""
    return {"path": path, "url": url, "hash_val": file_hash(Path(bundle) / path), "hash_type": "sha256"}


def _entry_problems(bundle: Path, entry: Any, index: int, seen: set[str]) -> list[Problem]:
    """The format problems of entry ``index``, and a hash mismatch with the file when it is there."""
    where = f"large_files[{index}]"
    if not isinstance(entry, dict):
        return [Problem(LARGE_FILES, "large-files", f"{where} must be a mapping with path and url, got {entry!r}")]
    found = []
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        found.append(f"{where} has unknown keys {unknown} (download_large_files passes them to download_url)")
    path, url = entry.get("path"), entry.get("url")
    pure = PurePosixPath(path) if isinstance(path, str) else None
    if pure is None or not path or pure.is_absolute() or ".." in pure.parts:
        found.append(f"{where}: path must be relative to the bundle folder and stay inside it, got {path!r}")
    elif path in seen:
        found.append(f"{where}: {path} is listed twice")
    else:
        seen.add(path)
    if not isinstance(url, str) or not re.match(r"^https?://\S+$", url):
        found.append(f"{where}: url must be an http(s) address, got {url!r}")
    hash_val, hash_type = entry.get("hash_val") or "", entry.get("hash_type") or ""
    if hash_type and hash_type not in HASH_LENGTHS:
        found.append(f"{where}: hash_type must be one of {sorted(HASH_LENGTHS)} or empty, got {hash_type!r}")
    elif hash_val and not hash_type:
        found.append(f"{where}: hash_val is set but hash_type is empty (say md5, sha1, sha256 or sha512)")
    elif hash_val and not re.fullmatch(rf"[0-9a-f]{{{HASH_LENGTHS[hash_type]}}}", str(hash_val)):
        found.append(f"{where}: hash_val is not a {hash_type} hex digest: {hash_val!r}")
    elif hash_val and pure is not None and (bundle / path).is_file():
        actual = file_hash(bundle / path, hash_type)
        if actual != hash_val:
            found.append(f"{where}: {path} here has {hash_type} {actual}, not the listed {hash_val} (a stale entry?)")
    return [Problem(LARGE_FILES, "large-files", message) for message in found]


def read_large_files(bundle: str | Path) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Read and check the bundle's ``large_files.yml``.

    Args:
        bundle: the bundle folder.

    Returns:
        ``(entries, problems)``: no entries when the file is absent; a misplaced ``configs/large_files.*`` and every
        format problem (and a listed hash that the file here does not have) are problems.
    """
    root = Path(bundle)
    problems = [
        Problem(
            f"configs/{p.name}",
            "large-files",
            f"MONAI reads large files from the bundle root: move it to {LARGE_FILES}",
        )
        for p in sorted((root / "configs").glob("large_files.*"))
    ]
    path = root / LARGE_FILES
    if not path.is_file():
        return [], problems
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        return [], [*problems, Problem(LARGE_FILES, "large-files", f"unreadable YAML: {err}")]
    entries = content.get("large_files") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        message = "must hold a list under the key large_files (see python -m monai.bundle download_large_files)"
        return [], [*problems, Problem(LARGE_FILES, "large-files", message)]
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        problems += _entry_problems(root, entry, index, seen)
    return [e for e in entries if isinstance(e, dict)], problems


def write_large_files(path: str | Path, entries: list[dict[str, Any]], header: str = "") -> None:
    """Write ``entries`` in the Model Zoo format, below ``header`` (comment lines, each starting with ``#``)."""
    body = yaml.safe_dump({"large_files": entries}, sort_keys=False, default_flow_style=False)
    Path(path).write_text((header.rstrip("\n") + "\n" if header else "") + body)
