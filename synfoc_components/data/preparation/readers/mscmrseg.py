"""MS-CMRSeg 2019 (multi-sequence cardiac MRI): bSSFP (C0) labeled source -> LGE target (docs/method.md 4.5).

Two layouts, detected from the folders:

* upstream's (what ``MSCMRSegSegmentation`` reads): ``MS-CMRSeg/{C0,LGE}/{train,test}/<name>_{C0,LGE}.nii[.gz]``
  with ``<name>_{C0,LGE}_manual.nii[.gz]`` next to it; its train/test folders are our splits.
* the challenge release (``C0LET2_nii45_for_challenge19``, whose sub-folders vary: ``c0t2lge/``, ``c0gt/``,
  ``lgegt/``, ...): ``patientN_C0.nii.gz``, ``patientN_LGE.nii.gz`` and their ``_manual`` labels anywhere under
  ``--source`` (searched recursively, matched by file name). Per sequence, the last fifth of the labeled patients in
  patient-number order is test, the rest train.

Domains are C0 (bSSFP, labeled) and LGE (unlabeled in train; the test domain the paper reports, LV Dice); T2 files
are ignored, as upstream reads only C0 and LGE. Label values 200 (myocardium), 500 (LV blood pool) and 600 (RV)
become class ids 1, 2, 3 (MYO, LV, RV) as upstream maps them; other values are an error. Images without a
``_manual`` label are skipped with a warning (the release labels only some). Slices along the last axis, slices
without a structure dropped, intensities scaled per volume, in-plane spacing kept. By default every C0 training
patient is labeled (``lb_cases="all"``: domain adaptation), so validation patients come from LGE's train only.
Case names drop the sequence (``patient1``); "first N patients" (``--lb_cases N``) follow sorted names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

from synfoc_components.data.descriptions import describe
from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.formats.volumes import VolumeCache, volume_slices
from synfoc_components.data.preparation.labels import value_map
from synfoc_components.data.preparation.readers.layout import is_synthetic, stem
from synfoc_components.data.preparation.readers.registry import register_reader
from synfoc_components.data.preparation.source import SPLITS_IN_SOURCE, SourceDataset, SourceSlice

__all__ = ["read_mscmrseg", "ENCODING", "split_patients"]

logger = logging.getLogger(__name__)

ENCODING = {0: 0, 200: 1, 500: 2, 600: 3}
"""Stored label value -> class id (MYO, LV, RV)."""

_NAME = re.compile(r"^(?P<case>.+)_(?P<sequence>C0|LGE|T2)(?P<manual>_manual)?$", re.IGNORECASE)
_NIFTI = (".nii.gz", ".nii")

Files = dict[str, tuple[dict[str, Path], dict[str, Path]]]
"""``{sequence: ({case: image}, {case: label})}``."""


def _natural(name: str) -> list:
    """Sort key reading digit runs as numbers: ``patient2`` < ``patient10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def split_patients(cases: Iterable[str], test_fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """Split case names in natural order into train (first) and test (last ``test_fraction``, at least one).

    Raises:
        ValueError: for fewer than two cases.
    """
    cases = sorted(cases, key=_natural)
    if len(cases) < 2:
        raise ValueError(f"{len(cases)} labeled case(s); at least 2 are needed for a train/test split")
    n_test = max(1, int(len(cases) * test_fraction + 0.5))
    return cases[:-n_test], cases[-n_test:]


def _scan(paths: Iterable[Path], domains: tuple[str, ...]) -> Files:
    """Sort NIfTI files named ``<case>_<sequence>[_manual]`` into images and labels per sequence (T2 ignored)."""
    canonical = {d.upper(): d for d in domains}
    files: Files = {d: ({}, {}) for d in domains}
    for path in sorted(paths):
        match = _NAME.match(stem(path)) if path.name.lower().endswith(_NIFTI) and path.is_file() else None
        if match is None or match["sequence"].upper() not in canonical:
            continue
        images, labels = files[canonical[match["sequence"].upper()]]
        found = labels if match["manual"] else images
        if match["case"] in found:
            raise DataError(path, f"a second file for {stem(path)} (the first is {found[match['case']]})")
        found[match["case"]] = path
    return files


def _labeled(domain: str, images: dict[str, Path], labels: dict[str, Path]) -> dict[str, Path]:
    """The images that have a label; the others and labels without an image are reported and skipped."""
    unlabeled = sorted(set(images) - set(labels), key=_natural)
    if unlabeled:
        logger.warning(
            "%s: %d image(s) without a _manual label skipped, e.g. %s", domain, len(unlabeled), images[unlabeled[0]]
        )
    orphans = sorted(set(labels) - set(images), key=_natural)
    if orphans:
        logger.warning("%s: %d label(s) without an image ignored, e.g. %s", domain, len(orphans), labels[orphans[0]])
    return {case: path for case, path in images.items() if case in labels}


def _volume_slices(domain: str, split: str, images: dict[str, Path], labels: dict[str, Path]) -> list[SourceSlice]:
    encoder, cache, slices = value_map(ENCODING), VolumeCache(), []
    for case in sorted(images, key=_natural):
        slices += volume_slices(
            images[case], labels[case], domain=domain, split=split, case=case, encoder=encoder, cache=cache
        )
    return slices


def _upstream_slices(root: Path, domains: tuple[str, ...]) -> list[SourceSlice]:
    """Slices of ``root/<sequence>/{train,test}/``."""
    slices = []
    for domain in domains:
        for split in SPLITS_IN_SOURCE:
            folder = root / domain / split
            if not folder.is_dir():
                raise DataError(folder, "folder not found (expected MS-CMRSeg/{C0,LGE}/{train,test}/)")
            images, labels = _scan(folder.iterdir(), domains)[domain]
            images = _labeled(f"{domain}/{split}", images, labels)
            if not images:
                raise DataError(folder, f"no labeled volumes (<name>_{domain}.nii.gz with <name>_{domain}_manual)")
            slices += _volume_slices(domain, split, images, labels)
    return slices


def _release_slices(root: Path, domains: tuple[str, ...]) -> list[SourceSlice]:
    """Slices of the challenge release's files found anywhere under ``root``, split by patient number."""
    files = _scan(root.rglob("*"), domains)
    if not any(images for images, _ in files.values()):
        raise DataError(
            root, "no MS-CMRSeg data: no {C0,LGE}/{train,test}/ folders and no patient*_C0.nii.gz or "
            "patient*_LGE.nii.gz files (searched recursively)",
        )  # fmt: skip
    slices = []
    for domain, (images, labels) in files.items():
        images = _labeled(domain, images, labels)
        try:
            train, test = split_patients(images)
        except ValueError as err:
            raise DataError(root, f"sequence {domain}: {err}") from None
        for split, cases in (("train", train), ("test", test)):
            slices += _volume_slices(domain, split, {c: images[c] for c in cases}, labels)
    return slices


@register_reader("mscmrseg")
def read_mscmrseg(source: str) -> SourceDataset:
    """Read either MS-CMRSeg layout.

    Args:
        source: the ``MS-CMRSeg`` folder of upstream's layout (or its parent), or any folder holding the challenge
            release's files.

    Returns:
        The C0 and LGE slices; ``synthetic`` when the source is the demo data.

    Raises:
        DataError: no data, a missing split folder, too few labeled patients, an unreadable or inconsistent file,
            label values other than 0, 200, 500, 600.
    """
    description = describe("mscmrseg")
    path = Path(source)
    if not path.is_dir():
        raise DataError(path, "source folder not found")
    root = path / "MS-CMRSeg" if (path / "MS-CMRSeg").is_dir() else path
    if any((root / domain / split).is_dir() for domain in description.domains for split in SPLITS_IN_SOURCE):
        slices = _upstream_slices(root, description.domains)
    else:
        slices = _release_slices(root, description.domains)
    return SourceDataset.described(description, slices, synthetic=is_synthetic(root))
