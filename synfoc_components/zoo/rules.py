"""The Model Zoo's rules for a bundle folder (ci/verify_bundle.py, the PR checklist and the README template).

Each ``*_problems`` function checks one rule family and returns :class:`Problem` s; :func:`bundle_problems` runs them
all, with the offline metadata schema check of :mod:`.schema`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.bundle.utils import DEPRECATED_ID_MAPPING

from .large_files import LARGE_FILES, read_large_files
from .layout import META, SIZE_LIMIT, bundle_files, is_weight
from .problems import Problem
from .schema import schema_problems
from .trained import trained_model_problems

__all__ = [
    "README_SECTIONS",
    "REQUIRED_FILES",
    "bundle_problems",
    "deprecated_key_problems",
    "file_problems",
    "large_file_problems",
    "network_format_problems",
    "readme_problems",
    "size_problems",
    "version_problems",
]

README = "docs/README.md"

REQUIRED_FILES = {
    "LICENSE": "the Model Zoo requires a licence for code and weights",
    META: "the MONAI Bundle Specification requires it",
    "configs/inference.json": "the Model Zoo prefers it; MONAI Label and verify_net_in_out read it",
    README: "the Model Zoo expects a README from its template",
    "docs/data_license.txt": "the Model Zoo asks for the data's licence terms",
}

README_SECTIONS = (
    "Model Overview",
    "Data",
    "Preprocessing",
    "Training configuration",
    "Performance",
    "MONAI Bundle Commands",
    "References",
    "License",
)
"""The ``## `` sections of ``docs/README.md`` (the Zoo template's, as the Zoo's bundles name them)."""

MEDSAM_CHECKPOINT = "models/medsam_vit_b.pth"


def file_problems(bundle: str | Path) -> list[Problem]:
    """Required files that are missing."""
    root = Path(bundle)
    missing = [(name, why) for name, why in REQUIRED_FILES.items() if not (root / name).is_file()]
    return [Problem(name, "required-file", f"missing ({why})") for name, why in missing]


def version_problems(meta: Mapping[str, Any]) -> list[Problem]:
    """``version`` must be MAJOR.MINOR.PATCH and have its ``changelog`` entry (every change bumps both)."""
    version, changelog = meta.get("version"), meta.get("changelog")
    if not isinstance(version, str) or not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", version):
        return [Problem(META, "version-changelog", f"version must be MAJOR.MINOR.PATCH, got {version!r}")]
    if not isinstance(changelog, dict) or version not in changelog:
        return [Problem(META, "version-changelog", f"changelog has no entry for version {version}: describe it")]
    return []


def deprecated_key_problems(meta: Mapping[str, Any]) -> list[Problem]:
    """Keys MONAI renames when it reads the metadata (``DEPRECATED_ID_MAPPING``), overwriting the new key's value."""
    return [
        Problem(META, "deprecated-key", f"{old}: MONAI reads it as {new}, replacing that list; merge it into {new}")
        for old, new in DEPRECATED_ID_MAPPING.items()
        if old in meta
    ]


def network_format_problems(meta: Mapping[str, Any]) -> list[Problem]:
    """Every ``*data_format``: first input ``image``, first output ``pred``, 2D ``spatial_shape`` throughout.

    ``verify_net_in_out`` reads ``inputs#image`` and ``outputs#pred``; MONAI Label takes the first key of each and
    the dimension from the length of the input's ``spatial_shape``.
    """
    found = []
    for key in sorted(k for k in meta if k == "network_data_format" or k.endswith("_data_format")):
        io = meta[key] if isinstance(meta[key], dict) else {}
        for group, name in (("inputs", "image"), ("outputs", "pred")):
            tensors = io.get(group)
            if not isinstance(tensors, dict) or next(iter(tensors), None) != name:
                first = next(iter(tensors), None) if isinstance(tensors, dict) else None
                found.append(
                    Problem(META, "io-names", f"{key}.{group}: the first entry must be {name!r}, got {first!r}")
                )
        for group in ("inputs", "outputs", "post_processed_outputs"):
            tensors = io.get(group) if isinstance(io.get(group), dict) else {}
            for name, tensor in tensors.items():
                shape = tensor.get("spatial_shape") if isinstance(tensor, dict) else None
                if not isinstance(shape, list) or len(shape) != 2:
                    message = f"{key}.{group}.{name}.spatial_shape must have 2 entries (2D bundle), got {shape!r}"
                    found.append(Problem(META, "spatial-2d", message))
    return found


def _sections(text: str) -> dict[str, str]:
    """Level-2 headings of a Markdown text (lower case) and the text under each."""
    parts = re.split(r"^##[ \t]+(.+?)[ \t]*#*[ \t]*$", text, flags=re.MULTILINE)
    return {title.strip().lower(): body for title, body in zip(parts[1::2], parts[2::2])}


def readme_problems(bundle: str | Path) -> list[Problem]:
    """``docs/README.md`` has every section of :data:`README_SECTIONS`, and Performance gives figures."""
    path = Path(bundle) / README
    if not path.is_file():
        return []  # reported by file_problems
    sections = _sections(path.read_text(encoding="utf-8"))
    missing = [s for s in README_SECTIONS if s.lower() not in sections]
    found = [Problem(README, "readme-sections", f"no '## {s}' section (Model Zoo README template)") for s in missing]
    if "performance" in sections and not re.search(r"\d+\.\d+", sections["performance"]):
        found.append(Problem(README, "readme-performance", "the Performance section gives no figures (e.g. Dice)"))
    return found


def large_file_problems(bundle: str | Path, extra_entries: Sequence[Mapping[str, Any]] = ()) -> list[Problem]:
    """``large_files.yml`` is well formed, and lists the MedSAM checkpoint when a config uses it.

    Args:
        bundle: the bundle folder.
        extra_entries: entries about to be added (by :func:`~.package.package_bundle`).
    """
    root = Path(bundle)
    entries, found = read_large_files(root)
    listed = {e.get("path") for e in [*entries, *extra_entries]}
    users = [p.name for p in sorted((root / "configs").glob("*.json")) if Path(MEDSAM_CHECKPOINT).name in p.read_text()]
    if users and MEDSAM_CHECKPOINT not in listed:
        message = f"{MEDSAM_CHECKPOINT} is used by {', '.join(users)} but not listed: add its path, url and hash"
        found.append(Problem(LARGE_FILES, "large-files", message))
    return found


def size_problems(
    bundle: str | Path, extra_entries: Sequence[Mapping[str, Any]] = (), limit: int = SIZE_LIMIT
) -> list[Problem]:
    """No shared file is over ``limit`` bytes, except weights listed in ``large_files.yml`` (which are not shared).

    Args:
        bundle: the bundle folder.
        extra_entries: entries about to be added to ``large_files.yml``.
        limit: the size limit in bytes.
    """
    root = Path(bundle)
    entries, _ = read_large_files(root)
    listed = {e.get("path") for e in [*entries, *extra_entries]}
    found = []
    for name in bundle_files(root):
        size = (root / name).stat().st_size
        if size > limit and name not in listed:
            hint = f"list it in {LARGE_FILES} (package --weights_url does)" if is_weight(name) else "make it smaller"
            found.append(
                Problem(
                    name, "file-size", f"{size / 1e6:.1f} MB is over the Model Zoo's {limit / 1e6:g} MB limit: {hint}"
                )
            )
    return found


def bundle_problems(
    bundle: str | Path, extra_entries: Sequence[Mapping[str, Any]] = (), limit: int = SIZE_LIMIT
) -> list[Problem]:
    """Every rule: files, metadata schema, version and changelog, network formats and the trained model's, README,
    large files, sizes.

    Takes the arguments of :func:`size_problems` (and passes ``extra_entries`` to :func:`large_file_problems` too).

    Returns:
        All problems found (none: the bundle follows the rules).
    """
    root = Path(bundle)
    found = file_problems(root)
    if (root / META).is_file():
        found += schema_problems(root, META)
        try:
            meta = json.loads((root / META).read_text(encoding="utf-8"))
        except (ValueError, OSError):
            meta = None  # reported by schema_problems
        if isinstance(meta, dict):
            found += version_problems(meta) + deprecated_key_problems(meta) + network_format_problems(meta)
            found += trained_model_problems(root, meta) if not network_format_problems(meta) else []
    found += (
        readme_problems(root) + large_file_problems(root, extra_entries) + size_problems(root, extra_entries, limit)
    )
    return found
