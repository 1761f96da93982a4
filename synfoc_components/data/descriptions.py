"""What differs between the SynFoC datasets, as data: domains, classes, structures, sizes and schedule.

Everything dataset-specific that the trainer, the transforms, the metrics and the prepare step need comes from one
``DatasetDescription``; no code branches on a dataset's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DatasetDescription", "DATASETS", "describe"]


@dataclass(frozen=True)
class DatasetDescription:
    """One dataset's facts (docs/method.md 1.1 and 4).

    Args:
        name: bundle and CLI name, e.g. ``"prostate"``.
        domains: domain folder names in the public release, in the upstream code's order.
        class_names: foreground class names; class ids are 1..len(class_names), 0 is background.
        structures: reported structures, each a tuple of class ids whose union forms it (fundus disc = cup + rim).
        structure_names: one name per structure, as the paper's tables name them.
        in_channels: image channels the networks see (1 gray, 3 RGB).
        unet_size: U-Net and evaluation resolution R.
        max_iterations: the paper's number of training iterations.
        lb_num: the paper's number of labeled slices (0 where a ratio is used instead).
        lb_ratio: where the paper gives a ratio instead: the labeled fraction of all domains' training slices
            (BUSI 1/8: 64 of 518; 1/4 gives 129).
        brightness_contrast: range of the strong augmentation's brightness and contrast factors.
        volumetric: whether the public source holds volumes, so 3D metrics per case make sense.
        lb_cases: where the paper labels whole patients instead: their number (ACDC 3 or 7), or ``"all"`` for every
            training patient of the labeled domain (MS-CMRSeg's domain adaptation); 0 where slices are counted.
    """

    name: str
    domains: tuple[str, ...]
    class_names: tuple[str, ...]
    structures: tuple[tuple[int, ...], ...]
    structure_names: tuple[str, ...]
    in_channels: int
    unet_size: int
    max_iterations: int
    lb_num: int
    brightness_contrast: tuple[float, float] = (0.1, 2.0)
    volumetric: bool = False
    lb_ratio: float = 0.0
    lb_cases: int | str = 0
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def num_classes(self) -> int:
        """Number of output channels, background included."""
        return len(self.class_names) + 1

    @property
    def channel_def(self) -> dict[str, str]:
        """MONAI ``channel_def`` of the prediction: ``{"0": "background", "1": <class 1>, ...}``."""
        return {str(i): n for i, n in enumerate(("background",) + self.class_names)}


DATASETS: dict[str, DatasetDescription] = {
    d.name: d
    for d in (
        DatasetDescription(
            name="prostate",
            domains=("BIDMC", "BMC", "HK", "I2CVB", "RUNMC", "UCL"),
            class_names=("prostate",),
            structures=((1,),),
            structure_names=("prostate",),
            in_channels=1,
            unet_size=384,
            max_iterations=60000,
            lb_num=20,
            volumetric=True,
        ),
        DatasetDescription(
            name="fundus",
            domains=("Domain1", "Domain2", "Domain3", "Domain4"),
            class_names=("cup", "rim"),
            structures=((1,), (1, 2)),
            structure_names=("cup", "disc"),
            in_channels=3,
            unet_size=256,
            max_iterations=30000,
            lb_num=20,
            brightness_contrast=(0.5, 1.5),
        ),
        DatasetDescription(
            name="mnms",
            domains=("vendorA", "vendorB", "vendorC", "vendorD"),
            class_names=("lv", "myo", "rv"),
            structures=((1,), (2,), (3,)),
            structure_names=("LV", "MYO", "RV"),
            in_channels=1,
            unet_size=288,
            max_iterations=60000,
            lb_num=5,
        ),
        DatasetDescription(
            name="busi",
            domains=("benign", "malignant"),
            class_names=("lesion",),
            structures=((1,),),
            structure_names=("lesion",),
            in_channels=1,
            unet_size=256,
            max_iterations=30000,
            lb_num=0,
            lb_ratio=0.125,
        ),
        DatasetDescription(  # docs/method.md 4.5; SSL4MIS protocol: 3 or 7 labeled patients, Dice on 3D volumes
            name="acdc",
            domains=("ACDC",),
            class_names=("rv", "myo", "lv"),  # the release's label values 1, 2, 3
            structures=((1,), (2,), (3,)),
            structure_names=("RV", "MYO", "LV"),
            in_channels=1,
            unet_size=256,  # SSL4MIS patch size; upstream ACDCSegmentation img_size
            max_iterations=30000,  # SSL4MIS; the supplementary's value is unknown
            lb_num=0,
            volumetric=True,
            lb_cases=3,
        ),
        DatasetDescription(  # docs/method.md 4.5: bSSFP (C0) labeled -> LGE unlabeled and tested; LV Dice on LGE
            name="mscmrseg",
            domains=("C0", "LGE"),
            class_names=("myo", "lv", "rv"),  # upstream maps 200/500/600 to 1/2/3
            structures=((1,), (2,), (3,)),
            structure_names=("MYO", "LV", "RV"),
            in_channels=1,
            unet_size=192,  # upstream MSCMRSegSegmentation size
            max_iterations=30000,  # not published
            lb_num=0,
            volumetric=True,
            lb_cases="all",
        ),
    )
}


def describe(name: str) -> DatasetDescription:
    """Return the description of dataset ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}") from None
