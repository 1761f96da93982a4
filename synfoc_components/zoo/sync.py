"""The bundles' shared config files and README sections, generated from one template: ``zoo sync``.

Every dataset bundle has the same configs (``train.json``, ``inference.json``, ... , ``logging.conf``); what differs
between datasets comes from ``synfoc_components.data.describe(@dataset_name)``, so a bundle's copy is the template with
its folder name as ``dataset_name``. The copies stay complete files in ``bundles/<name>/configs/`` (MONAI Label and
the Model Zoo read a bundle's own configs); this module writes them and tells which are stale. A bundle's own files
(``metadata.json``, ``demo.json``, extra overrides such as ``labeled_3.json``) are not in the template and are left
alone. The README's shared sections are written the same way (:mod:`.shared_readme`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from synfoc_components.io import atomic_write

from .layout import META
from .shared_readme import README, expected_readme

__all__ = [
    "PLACEHOLDER",
    "TEMPLATE",
    "StaleConfigsError",
    "bundle_folders",
    "expected_configs",
    "stale_configs",
    "sync_bundles",
]

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).resolve().parent / "template" / "configs"
"""The shared config files, once; each bundle's ``configs/`` holds a filled-in copy of every file here."""

PLACEHOLDER = "{dataset_name}"
"""Replaced in the template's text by the bundle's folder name (the value of ``dataset_name``)."""


class StaleConfigsError(ValueError):
    """Some bundles' shared files (configs, README sections) are missing or differ from the template (``sync --check``)."""

    def __init__(self, files: list[Path]):
        self.files = files
        lines = "\n".join(f"  {path}" for path in files)
        super().__init__(
            f"{len(files)} file(s) missing or not as the template writes them:\n{lines}\n"
            "run python -m synfoc_components.zoo sync to rewrite them from synfoc_components/zoo/template"
        )


def bundle_folders(root: str | Path = "bundles") -> list[Path]:
    """Every folder of ``root`` with a ``configs/metadata.json``, sorted.

    Raises:
        FileNotFoundError: when ``root`` is not a folder or holds no bundle.
    """
    root = Path(root)
    found = sorted(p for p in root.iterdir() if (p / META).is_file()) if root.is_dir() else []
    if not found:
        hint = "run from the repository root or pass --bundles"
        raise FileNotFoundError(f"{root}: no bundle folders (with {META}) found; {hint}")
    return found


def expected_configs(name: str, template: Path = TEMPLATE) -> dict[str, bytes]:
    """The shared config files of the bundle ``name``: ``{file name: content}``, the template filled in.

    Raises:
        FileNotFoundError: when the template folder is missing or empty.
    """
    files = sorted(p for p in template.iterdir() if p.is_file()) if template.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{template}: no template config files")
    return {p.name: p.read_bytes().replace(PLACEHOLDER.encode(), name.encode()) for p in files}


def stale_configs(bundles: Iterable[str | Path], template: Path = TEMPLATE) -> list[Path]:
    """The shared files (configs and README) that are missing from ``bundles`` or differ (byte for byte) from the template's.

    Args:
        bundles: bundle folders; each folder's name is its ``dataset_name``.
        template: the template folder.

    Returns:
        The stale files' paths, in bundle and file name order.

    Raises:
        FileNotFoundError: when a bundle folder or the template is missing.
    """
    return [path for bundle in bundles for path, _ in _differing(Path(bundle), template)]


def sync_bundles(bundles: Iterable[str | Path], template: Path = TEMPLATE) -> list[Path]:
    """Write every stale shared file (config or README) of ``bundles`` from the template, each atomically.

    Args:
        bundles: bundle folders; each folder's name is its ``dataset_name``.
        template: the template folder.

    Returns:
        The files written (the stale ones; up-to-date files are not touched).

    Raises:
        FileNotFoundError: when a bundle folder or the template is missing.
        OSError: naming the file that could not be written.
    """
    written = []
    for bundle in bundles:
        for path, content in _differing(Path(bundle), template):
            atomic_write(path, lambda f, data=content: f.write(data), binary=True)
            logger.info("%s: written from the template", path)
            written.append(path)
    return written


def _differing(bundle: Path, template: Path) -> list[tuple[Path, bytes]]:
    """``(path, expected content)`` of each shared file (config or README) of ``bundle`` that is missing or differs.

    Raises:
        FileNotFoundError: when ``bundle`` is not a folder (a mistyped name would otherwise become a new bundle).
    """
    if not bundle.is_dir():
        raise FileNotFoundError(f"{bundle}: no such bundle folder (create it, with configs/metadata.json, first)")
    expected = {bundle / "configs" / name: content for name, content in expected_configs(bundle.resolve().name, template).items()}
    expected[bundle / README] = expected_readme(bundle)
    return [(path, content) for path, content in expected.items() if not path.is_file() or path.read_bytes() != content]
