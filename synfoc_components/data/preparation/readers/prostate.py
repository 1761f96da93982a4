"""Prostate (6 sites): the authors' PNG slices, or the raw multi-site NIfTI release (docs/method.md 4.1).

* PNG: ``ProstateSlice/<SITE>/{train,test}/{image,mask}/<case>_<slice>.png``, 8-bit gray, mask organ = 0 and
  background = 255 (``--source`` may be the ``ProstateSlice`` folder or its parent).
* NIfTI: ``<SITE>/CaseNN.nii.gz`` with ``CaseNN_segmentation.nii.gz`` (or ``_Segmentation``), label > 0 = prostate;
  slices along the last axis (only those with prostate), intensities scaled per volume to 8 bits, cases split 4:1
  train/test by sorted name (the last fifth is test), in-plane spacing kept.
"""

from __future__ import annotations

from pathlib import Path

from synfoc_components.data.descriptions import describe
from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.formats.volumes import VolumeCache, volume_slices
from synfoc_components.data.preparation.labels import above_zero, value_map
from synfoc_components.data.preparation.readers.layout import image_slice, is_synthetic, locate_root, paired_files, stem
from synfoc_components.data.preparation.readers.registry import register_reader
from synfoc_components.data.preparation.source import SourceDataset, SourceSlice
from synfoc_components.data.preparation.splits import split_cases

__all__ = ["read_prostate"]

PNG_ENCODING = {0: 1, 255: 0}
_MASK_SUFFIX = "_segmentation"
_NIFTI = (".nii.gz", ".nii")


def _files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _png_slices(root: Path, domains: tuple[str, ...]) -> list[SourceSlice]:
    encoder = value_map(PNG_ENCODING)
    return [
        image_slice(domain, split, image, mask, encoder, channels=1)
        for domain in domains
        for split, image, mask in paired_files(root / domain)
    ]


def _nifti_slices(root: Path, domains: tuple[str, ...]) -> list[SourceSlice]:
    cache, encoder, slices = VolumeCache(), above_zero(1), []
    for domain in domains:
        folder = root / domain
        if not folder.is_dir():
            raise DataError(folder, "domain folder not found")
        files = [p for p in _files(folder) if p.name.lower().endswith(_NIFTI)]
        masks = {stem(p)[: -len(_MASK_SUFFIX)]: p for p in files if stem(p).lower().endswith(_MASK_SUFFIX)}
        images = {stem(p): p for p in files if not stem(p).lower().endswith(_MASK_SUFFIX)}
        for case, image in images.items():
            if case not in masks:
                raise DataError(image, f"no {case}_segmentation.nii.gz (or _Segmentation) next to it")
        try:
            train, test = split_cases(list(images))
        except ValueError as err:
            raise DataError(folder, str(err)) from None
        for split, cases in (("train", train), ("test", test)):
            for case in cases:
                slices += volume_slices(
                    images[case], masks[case], domain=domain, split=split, case=case, encoder=encoder, cache=cache
                )
    return slices


@register_reader("prostate")
def read_prostate(source: str) -> SourceDataset:
    """Read either public prostate layout (detected from the files).

    Args:
        source: the ``ProstateSlice`` folder, its parent, or the folder of the six NIfTI site folders.

    Returns:
        The six sites' slices; ``synthetic`` when the source is the demo data.

    Raises:
        DataError: a missing site, an unreadable or inconsistent file, a site with fewer than two cases.
    """
    description = describe("prostate")
    root = locate_root(source, "ProstateSlice", description.domains)
    if any((root / domain / "train").is_dir() for domain in description.domains):
        slices = _png_slices(root, description.domains)
    elif any(p.name.lower().endswith(_NIFTI) for d in description.domains for p in _files(root / d)):
        slices = _nifti_slices(root, description.domains)
    else:
        raise DataError(root, "no <SITE>/train/image/*.png and no <SITE>/CaseNN.nii.gz found")
    return SourceDataset.described(description, slices, synthetic=is_synthetic(root))
