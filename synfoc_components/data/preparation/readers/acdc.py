"""ACDC (cardiac cine MRI, one domain): the SSL4MIS h5 release or the raw challenge NIfTI release (docs/method.md 4.5).

* h5 (SSL4MIS, what upstream ``ACDCSegmentation`` reads): ``ACDC/train_slices.list`` names the 2D slices
  ``data/slices/<patientNNN_frameNN>_slice_<k>.h5``; ``val.list`` (optional) and ``test.list`` name volumes
  ``data/<patientNNN_frameNN>.h5`` (slices x rows x columns). The lists are our train, val and test splits. Both
  hold ``image`` and ``label``; images in [0, 1] (SSL4MIS normalises each volume) are scaled by 255, other ranges by
  their percentiles. The h5 files hold no spacing.
* NIfTI (raw challenge release): ``patientNNN_frameNN.nii.gz`` with ``patientNNN_frameNN_gt.nii.gz``, found
  recursively under ``--source`` (``training/patientNNN/``, ``testing/patientNNN/`` or one folder; the ``_4d`` cine
  and ``Info.cfg`` are ignored). Patients under a ``testing`` folder are the test split, all others train; without
  a labeled ``testing`` folder the last fifth of the sorted patients is test. Slices along the last axis,
  intensities scaled per volume, in-plane spacing kept.

Label values are class ids (1 RV, 2 MYO, 3 LV). A case is one frame's volume (ED or ES; 3D metrics per volume) and
its patient the slice's ``subject``: ``--lb_cases 3`` labels both frames of the first three patients, and validation
never splits a patient. Slices without any structure are dropped, as in the other volume readers.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np

from synfoc_components.data.descriptions import describe
from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.conversions import Conversions
from synfoc_components.data.preparation.formats.hdf5 import read_h5
from synfoc_components.data.preparation.formats.images import to_uint8
from synfoc_components.data.preparation.formats.volumes import VolumeCache, volume_slices
from synfoc_components.data.preparation.labels import LabelEncoder, as_label_values, class_ids
from synfoc_components.data.preparation.readers.layout import is_synthetic, stem
from synfoc_components.data.preparation.readers.registry import register_reader
from synfoc_components.data.preparation.source import SliceLoader, SourceDataset, SourceSlice
from synfoc_components.data.preparation.splits import split_cases

__all__ = ["read_acdc", "LISTS"]

logger = logging.getLogger(__name__)

LISTS = {"train": "train_slices.list", "val": "val.list", "test": "test.list"}
"""The SSL4MIS list files, by the split they give."""

_FRAME = re.compile(r"^(?P<patient>patient\d+)_frame\d+$", re.IGNORECASE)
_SLICE = re.compile(r"^(?P<case>.+)_slice_(?P<index>\d+)$")
_NIFTI = (".nii.gz", ".nii")


def _patient(case: str) -> str:
    """``patient001_frame01`` -> ``patient001``; other names are their own patient."""
    match = _FRAME.match(case)
    return match["patient"] if match else case


def _listed(listing: Path) -> list[tuple[int, str]]:
    """The non-empty lines of a list file as ``(line number, name)``."""
    try:
        lines = listing.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(listing, f"unreadable list file ({err})") from None
    return [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]


def _h5_image(array: np.ndarray, path: Path, conversions: Conversions) -> np.ndarray:
    """8-bit image: values in [0, 1] (SSL4MIS) times 255, anything else by its 0.5/99.5 percentiles."""
    array = np.asarray(array, dtype=np.float64)
    if array.size and np.isfinite(array).all() and 0.0 <= array.min() and array.max() <= 1.0:
        return np.round(array * 255.0).astype(np.uint8)
    conversions.note(path, "h5 image outside [0, 1] rescaled to 8 bits (0.5/99.5 percentiles)")
    return to_uint8(array, path)


def _h5_labels(path: Path, encoder: LabelEncoder, ndim: int) -> np.ndarray:
    labels = read_h5(path, ("label",))["label"]
    if labels.ndim != ndim:
        raise DataError(path, f"label has shape {labels.shape}; expected {ndim} dimensions")
    return encoder(as_label_values(labels, path), path)


def _h5_pair(path: Path, encoder: LabelEncoder, ndim: int, conversions: Conversions) -> tuple[np.ndarray, np.ndarray]:
    """The file's 8-bit image and class ids, checked to have ``ndim`` dimensions and one shape."""
    arrays = read_h5(path)
    image, labels = arrays["image"], _h5_labels(path, encoder, ndim)
    if image.shape != labels.shape:
        raise DataError(path, f"image shape {image.shape} differs from label shape {labels.shape}")
    return _h5_image(image, path, conversions), labels


def _h5_slice(path: Path, case: str, index: int, encoder: LabelEncoder) -> SourceSlice:
    def load(conversions: Conversions) -> tuple[np.ndarray, np.ndarray]:
        return _h5_pair(path, encoder, 2, conversions)

    return SourceSlice(describe("acdc").domains[0], "train", case, index, str(path), load, subject=_patient(case))


def _h5_volume(path: Path, split: str, case: str, encoder: LabelEncoder, cache: VolumeCache) -> list[SourceSlice]:
    """The slices (first axis) of a volume file that hold a structure."""
    labels = _h5_labels(path, encoder, 3)
    indices = [i for i in range(labels.shape[0]) if labels[i].any()]
    if not indices:
        logger.warning("%s: no slice contains a structure; case %s skipped", path, case)

    def loader(index: int) -> SliceLoader:
        def load(conversions: Conversions) -> tuple[np.ndarray, np.ndarray]:
            image, label = cache.get(str(path), lambda: _h5_pair(path, encoder, 3, conversions))
            return np.ascontiguousarray(image[index]), np.ascontiguousarray(label[index])

        return load

    domain = describe("acdc").domains[0]
    return [SourceSlice(domain, split, case, i, f"{path}[{i}]", loader(i), subject=_patient(case)) for i in indices]


def _h5_slices(root: Path) -> list[SourceSlice]:
    """Every slice of the SSL4MIS release at ``root`` (the folder of ``train_slices.list``)."""
    encoder, cache, slices, dropped = class_ids(4), VolumeCache(), [], 0
    listing = root / LISTS["train"]
    for line, name in _listed(listing):
        match = _SLICE.match(name)
        if match is None:
            raise DataError(listing, f"line {line}: {name!r} is not a slice name <case>_slice_<n>")
        path = root / "data" / "slices" / f"{name}.h5"
        if _h5_labels(path, encoder, 2).any():
            slices.append(_h5_slice(path, match["case"], int(match["index"]), encoder))
        else:
            dropped += 1
    if dropped:
        logger.info("%s: %d training slice(s) without any structure dropped", listing, dropped)
    for split in ("val", "test"):
        listing = root / LISTS[split]
        if not listing.is_file():
            if split == "test":
                raise DataError(listing, "not found; the SSL4MIS release lists its test volumes there")
            continue
        for _, case in _listed(listing):
            slices += _h5_volume(root / "data" / f"{case}.h5", split, case, encoder, cache)
    return slices


def _nifti_files(root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Frame images and ``_gt`` labels under ``root`` by case name (``patientNNN_frameNN``)."""
    images: dict[str, Path] = {}
    labels: dict[str, Path] = {}
    for path in sorted(root.rglob("patient*")):
        if not (path.is_file() and path.name.lower().endswith(_NIFTI)):
            continue
        name = stem(path)
        found, case = (labels, name[:-3]) if name.lower().endswith("_gt") else (images, name)
        if not _FRAME.match(case):
            continue  # the _4d cine
        if case in found:
            raise DataError(path, f"a second file for {name} (the first is {found[case]})")
        found[case] = path
    return images, labels


def _nifti_slices(root: Path) -> list[SourceSlice]:
    """Every slice of the raw release found under ``root``."""
    images, labels = _nifti_files(root)
    if not images:
        raise DataError(
            root, "no ACDC data: no train_slices.list (SSL4MIS h5 release) and no patientNNN_frameNN.nii.gz found"
        )
    testing = {case for case, path in images.items() if "testing" in (p.lower() for p in path.relative_to(root).parts)}
    if testing and not testing & set(labels):
        logger.warning("%s: the testing cases have no _gt labels; ignored, test is the last fifth of the rest", root)
        images = {case: path for case, path in images.items() if case not in testing}
        testing = set()
    for case, path in images.items():
        if case not in labels:
            raise DataError(path, f"no {case}_gt.nii.gz label found for this frame")
    if testing:
        test = {_patient(case) for case in testing}
    else:
        try:
            test = set(split_cases(sorted({_patient(case) for case in images}))[1])
        except ValueError as err:
            raise DataError(root, f"{err} (patients)") from None
    cache, slices, domain = VolumeCache(), [], describe("acdc").domains[0]
    for case, path in images.items():
        split = "test" if _patient(case) in test else "train"
        found = volume_slices(
            path, labels[case], domain=domain, split=split, case=case, encoder=class_ids(4), cache=cache
        )
        slices += [dataclasses.replace(s, subject=_patient(case)) for s in found]
    return slices


@register_reader("acdc")
def read_acdc(source: str) -> SourceDataset:
    """Read either public ACDC layout (the SSL4MIS h5 lists win where both are present).

    Args:
        source: the ``ACDC`` folder of the SSL4MIS release (or its parent), or a folder holding the raw release.

    Returns:
        The slices of the one ACDC domain; ``synthetic`` when the source is the demo data.

    Raises:
        DataError: no data found, a missing list, file or label, an unreadable or inconsistent file.
    """
    path = Path(source)
    if not path.is_dir():
        raise DataError(path, "source folder not found")
    root = path / "ACDC" if (path / "ACDC").is_dir() else path
    slices = _h5_slices(root) if (root / LISTS["train"]).is_file() else _nifti_slices(root)
    return SourceDataset.described(describe("acdc"), slices, synthetic=is_synthetic(root))
