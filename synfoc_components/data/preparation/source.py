"""What a reader hands to the prepare step: the slices of a source dataset, read lazily."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from synfoc_components.data.descriptions import DatasetDescription
from synfoc_components.data.preparation.conversions import Conversions

__all__ = ["SourceSlice", "SourceDataset", "SPLITS_IN_SOURCE"]

SPLITS_IN_SOURCE = ("train", "test")

SliceLoader = Callable[[Conversions], "tuple[np.ndarray, np.ndarray]"]


@dataclass(frozen=True)
class SourceSlice:
    """One 2D slice of the source, not yet read.

    Args:
        domain: domain (site, vendor, ...) folder name.
        split: ``"train"`` or ``"test"``, as the source divides it; ``"val"`` where the release has its own
            validation list (then no validation cases are drawn from that domain's train).
        case: patient / volume / image name; slices of one case never straddle validation and training, and 3D
            metrics stack them.
        index: slice number within the case (0 for 2D images).
        origin: the source file(s), for messages.
        load: reads and validates the slice: ``load(conversions) -> (image uint8 rows x cols [x 3], label uint8
            class ids rows x cols)``; raises ``DataError`` naming the file.
        spacing: in-plane pixel size (x, y) in mm where the source knows it.
        subject: the patient a case belongs to where one patient has several volumes (ACDC's ED and ES frames);
            labeled cases (``lb_cases``) and validation draws count patients. Default: the case itself.
    """

    domain: str
    split: str
    case: str
    index: int
    origin: str
    load: SliceLoader = field(compare=False, repr=False)
    spacing: tuple[float, float] | None = None
    subject: str | None = None

    @property
    def patient(self) -> str:
        """The patient: ``subject`` where given, else the case; a patient's slices never straddle splits."""
        return self.subject if self.subject is not None else self.case

    @property
    def key(self) -> tuple[str, str, str, int]:
        """``(domain, split, case, index)``, unique within a dataset. The split belongs to a slice's identity: a
        release with its own ``train/`` and ``test/`` folders may number the cases of each from ``00`` (ProstateSlice
        does), and ``train`` case 00 and ``test`` case 00 are then different patients."""
        return self.domain, self.split, self.case, self.index


@dataclass(frozen=True)
class SourceDataset:
    """A source dataset as read by a reader.

    Args:
        name: dataset name written to the datalist (``"prostate"``, ``"folder"``, ...).
        domains: domain names in their canonical order (the labeled domain defaults to the first).
        slices: every slice, any order.
        channels: image channels of the canonical PNGs (1 or 3).
        num_classes: classes incl. background, or None to take the largest class id found in the masks + 1.
        lb_num: default number of labeled slices (0: the user must give ``lb_num`` or ``lb_ratio``).
        synthetic: whether the source is generated demo data.
        class_names: foreground class names where known.
        lb_cases: default number of labeled cases (whole patients), ``"all"`` for every training case of the
            labeled domain, or 0 where the default counts slices (``lb_num``).
    """

    name: str
    domains: tuple[str, ...]
    slices: tuple[SourceSlice, ...]
    channels: int
    num_classes: int | None
    lb_num: int
    synthetic: bool = False
    class_names: tuple[str, ...] = ()
    lb_cases: int | str = 0

    @classmethod
    def described(cls, description: DatasetDescription, slices: Sequence[SourceSlice], synthetic: bool = False):
        """Build from a ``DatasetDescription`` (domains, channels, classes and lb_num come from it; a description with
        an ``lb_ratio`` instead gets that fraction of the training slices, at least one)."""
        lb_num = description.lb_num
        if not lb_num and description.lb_ratio:
            lb_num = max(1, int(sum(s.split == "train" for s in slices) * description.lb_ratio))
        return cls(
            name=description.name,
            domains=description.domains,
            slices=tuple(slices),
            channels=description.in_channels,
            num_classes=description.num_classes,
            lb_num=lb_num,
            synthetic=synthetic,
            class_names=description.class_names,
            lb_cases=description.lb_cases,
        )
