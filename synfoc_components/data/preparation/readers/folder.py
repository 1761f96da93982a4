"""Generic user data: ``<source>/<domain>/{train,test}/{image,mask}/<name>.<png|nii.gz>``.

Every sub-folder of the source is a domain (sorted by name; the first is the default labeled domain). PNG (also
JPEG/BMP/TIFF) images are 2D slices; NIfTI volumes are cut along ``axis``. Masks hold class ids, or values mapped
to class ids by ``label_map``; without one, masks of 0 and 255 alone are binary (255 is class 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.formats.volumes import VolumeCache, volume_slices
from synfoc_components.data.preparation.labels import class_ids, ids_or_binary_255, parse_label_map, value_map
from synfoc_components.data.preparation.readers.layout import image_slice, is_synthetic, paired_files, stem
from synfoc_components.data.preparation.readers.registry import register_reader
from synfoc_components.data.preparation.source import SourceDataset

__all__ = ["read_folder", "DEFAULT_LB_NUM"]

DEFAULT_LB_NUM = 20
_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".nii.gz", ".nii")


@register_reader("folder")
def read_folder(
    source: str,
    label_map: Mapping | str | None = None,
    channels: int = 1,
    axis: int = -1,
    num_classes: int | None = None,
    keep_empty: bool = False,
    group_slices: bool = True,
) -> SourceDataset:
    """Read a folder of user data.

    Args:
        source: folder holding one sub-folder per domain.
        label_map: stored mask value -> class id, e.g. ``{0: 0, 255: 1}`` or its text; default: values are class
            ids, except that masks holding only 0 and 255 are binary (255 is class 1).
        channels: image channels of the canonical PNGs, 1 (gray) or 3 (RGB).
        axis: slicing axis of NIfTI volumes.
        num_classes: classes incl. background; default from ``label_map``, else the largest id found + 1.
        keep_empty: keep volume slices without any structure.
        group_slices: read 2D file names ``<case>_<slice>`` as slices of one case (kept together in validation).

    Returns:
        The source dataset named ``"folder"``.

    Raises:
        DataError: bad options, an empty or incomplete domain, any unusable file.
    """
    root = Path(source)
    if not root.is_dir():
        raise DataError(root, "source folder not found")
    if channels not in (1, 3):
        raise DataError("--channels", f"{channels!r} must be 1 or 3")
    if num_classes is not None and not 2 <= num_classes <= 256:
        raise DataError("--num_classes", f"{num_classes!r} must lie in 2..256 (background included)")
    mapping = parse_label_map(label_map) if label_map is not None else None
    if mapping is not None:
        needed = max(mapping.values()) + 1
        if num_classes is not None and num_classes < needed:
            raise DataError("--num_classes", f"{num_classes} is too small for --label_map class id {needed - 1}")
        num_classes = num_classes or needed
    if mapping is not None:
        encoder = value_map(mapping)
    else:
        encoder = class_ids(num_classes) if num_classes is not None else ids_or_binary_255()
    domains = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if not domains:
        raise DataError(root, "no domain folders (expected <domain>/{train,test}/{image,mask}/)")
    cache, slices = VolumeCache(), []
    for domain in domains:
        for split, image, mask in paired_files(root / domain, suffixes=_SUFFIXES):
            if image.name.lower().endswith((".nii.gz", ".nii")):
                slices += volume_slices(
                    image, mask, domain=domain, split=split, case=stem(image), encoder=encoder, cache=cache,
                    axis=axis, keep_empty=keep_empty, channels=channels,
                )  # fmt: skip
            else:
                slices.append(image_slice(domain, split, image, mask, encoder, channels, group_slices))
    return SourceDataset(
        name="folder",
        domains=domains,
        slices=tuple(slices),
        channels=channels,
        num_classes=num_classes,
        lb_num=DEFAULT_LB_NUM,
        synthetic=is_synthetic(root),
    )
