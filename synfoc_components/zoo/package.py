"""The shareable bundle archive: ``<bundle>_v<version>.zip`` holding ``<bundle>/`` as the Model Zoo distributes it."""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from pathlib import Path
from typing import IO

from ..io import atomic_write
from .large_files import LARGE_FILES, large_file_entry, read_large_files, write_large_files
from .layout import META, SIZE_LIMIT, bundle_files, is_weight
from .problems import Problem, ZooCheckError
from .rules import bundle_problems

__all__ = ["archive_name", "code_files", "package_bundle", "planned_large_files"]

logger = logging.getLogger(__name__)

_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same bundle gives the same archive
_PACKAGE = Path(__file__).resolve().parents[1]
"""The ``synfoc_components`` package whose code the bundles' configs import."""


def code_files(package: Path = _PACKAGE) -> dict[str, Path]:
    """The package's code for an archive: ``{"synfoc_components/<module>.py": path}``, with its package data
    (``zoo/*.json``), without ``__pycache__`` and without the config template (``zoo/template/``: the archive's
    bundle carries its own generated ``configs/``; ``zoo sync`` is a tool of this repository).

    The configs import ``synfoc_components``; an archive carries it at the bundle root, beside ``configs/``, so that
    ``python -m monai.bundle run`` started in the unzipped bundle (the working directory is on ``sys.path``) and
    MONAI Label (which puts a bundle's folder on ``sys.path``) import it from there, with no install.
    """
    template = package / "zoo" / "template"
    files = [
        p for p in package.rglob("*")
        if p.suffix in (".py", ".json") and "__pycache__" not in p.parts and not p.is_relative_to(template)
    ]  # fmt: skip
    return {p.relative_to(package.parent).as_posix(): p for p in sorted(files)}


def archive_name(bundle: str | Path) -> str:
    """``<bundle folder name>_v<version>.zip``.

    Raises:
        ZooCheckError: when ``configs/metadata.json`` is missing, unreadable or has no version.
    """
    root = Path(bundle)
    try:
        version = json.loads((root / META).read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ZooCheckError(root, [Problem(META, "version-changelog", f"no readable version ({err})")]) from err
    return f"{root.resolve().name}_v{version}.zip"


def planned_large_files(bundle: str | Path, weights_url: str | None, limit: int = SIZE_LIMIT) -> list[dict[str, str]]:
    """Entries to add for weights over ``limit`` that ``large_files.yml`` does not list yet.

    Args:
        bundle: the bundle folder.
        weights_url: where the weights will be published; entry ``models/model.pt`` gets ``<weights_url>/model.pt``.
            None adds nothing (such weights are then reported by the ``file-size`` rule).
        limit: the size limit in bytes.

    Returns:
        Entries with path, url and the file's SHA-256.
    """
    if not weights_url:
        return []
    root = Path(bundle)
    listed = {e.get("path") for e in read_large_files(root)[0]}
    return [
        large_file_entry(root, name, f"{weights_url.rstrip('/')}/{Path(name).name}")
        for name in bundle_files(root)
        if is_weight(name) and name not in listed and (root / name).stat().st_size > limit
    ]


def _large_files_text(root: Path, added: list[dict[str, str]]) -> str | None:
    """The archive's ``large_files.yml``: the bundle's (comments kept) when nothing is added, else rewritten."""
    path = root / LARGE_FILES
    if not added:
        return path.read_text(encoding="utf-8") if path.is_file() else None
    entries, _ = read_large_files(root)
    original = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    header = [line for line in original if line.startswith("#")]
    header.append("# Entries for the trained weights were added by python -m synfoc_components.zoo package.")
    with tempfile.TemporaryDirectory() as tmp:
        write_large_files(Path(tmp) / LARGE_FILES, [*entries, *added], "\n".join(header))
        return (Path(tmp) / LARGE_FILES).read_text(encoding="utf-8")


def package_bundle(
    bundle: str | Path, out: str | Path, weights_url: str | None = None, limit: int = SIZE_LIMIT
) -> Path:
    """Check ``bundle`` against the Model Zoo rules, then write its archive into ``out``.

    The archive holds ``<bundle>/LICENSE``, ``configs/``, ``docs/``, ``scripts/`` (if any), the weights in ``models/``
    up to ``limit`` bytes, ``large_files.yml`` listing the larger ones (``models/train_state.pt``, data and
    reports stay out), and the code its configs import, ``synfoc_components/`` (:func:`code_files`).

    Args:
        bundle: the bundle folder, e.g. ``bundles/prostate``.
        out: the output folder (created if needed).
        weights_url: where weights over the limit will be published (see :func:`planned_large_files`).
        limit: the size limit in bytes.

    Returns:
        The written archive.

    Raises:
        ZooCheckError: listing every broken rule with its file; nothing is written then.
        FileNotFoundError: when ``bundle`` is not a folder.
    """
    root = Path(bundle)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such bundle folder")
    added = planned_large_files(root, weights_url, limit)
    problems = bundle_problems(root, added, limit)
    if problems:
        raise ZooCheckError(root, problems)
    listed = {e["path"] for e in [*read_large_files(root)[0], *added]}
    members = [name for name in bundle_files(root) if name != LARGE_FILES and name not in listed]
    for name in sorted(listed):
        logger.info("%s: listed in %s, not packed", name, LARGE_FILES)

    target = Path(out) / archive_name(root)
    prefix = root.resolve().name
    files = {**{name: root / name for name in members}, **code_files()}
    text = _large_files_text(root, added)

    def write_archive(stream: IO[bytes]) -> None:
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, path in files.items():
                _write_member(archive, f"{prefix}/{name}", path.read_bytes())
            if text is not None:
                _write_member(archive, f"{prefix}/{LARGE_FILES}", text.encode("utf-8"))

    atomic_write(target, write_archive, binary=True)
    logger.info("wrote %s (%d files, %.1f MB)", target, len(files) + (text is not None), target.stat().st_size / 1e6)
    return target


def _write_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
    archive.writestr(info, data)
