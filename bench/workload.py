"""What a benchmarked SynFoC iteration runs on: a setting, its four networks and optimizers, batches, the trainer."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from monai.utils import set_determinism

from synfoc_components.engines.trainer import SynFoCTrainer
from synfoc_components.networks import SamAdapter, UNet
from synfoc_components.transforms.box_mix import BoxMaskSampler

__all__ = [
    "CPU_SETTINGS",
    "LITE_DEFAULT",
    "Models",
    "PAPER",
    "QUICK",
    "Setting",
    "build_models",
    "build_trainer",
    "make_batches",
]


@dataclass(frozen=True)
class Setting:
    """Sizes of one benchmarked configuration (the bundle's keys of the same names).

    Args:
        backbone: foundation backbone (``tiny``, ``lite_medsam``, ``medsam_vit_b``).
        sam_size: foundation input size S.
        logit_stride: ``sam_logit_stride`` (4 for ViTs as the paper, 1 for LiteMedSAM as the bundle).
        unet_size: U-Net resolution R.
        unet_channels: U-Net base width (64 in the paper).
        batch: labeled = unlabeled batch size.
        amp: autocast the forward passes.
        amp_dtype: autocast dtype name.
        num_classes: classes incl. background.
    """

    backbone: str
    sam_size: int
    logit_stride: int
    unet_size: int
    unet_channels: int
    batch: int
    amp: bool = False
    amp_dtype: str = "bfloat16"
    num_classes: int = 2

    @property
    def base_size(self) -> int:
        """Size of the loader's images (the bundle's ``image_size``)."""
        return max(self.sam_size, self.unet_size)

    @property
    def name(self) -> str:
        amp = f", {self.amp_dtype} autocast" if self.amp else ""
        return (
            f"{self.backbone} S{self.sam_size}/{self.logit_stride} + U-Net{self.unet_channels} "
            f"R{self.unet_size}, {self.batch}+{self.batch}{amp}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, **overrides: Any) -> Setting:
        """A copy with the given non-None fields replaced."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


#: Reduced CPU settings: one iteration takes about 0.1 s (tiny) to a few seconds (the real backbones) on 2 cores.
CPU_SETTINGS = {
    "tiny": Setting("tiny", 256, 4, 256, 16, 2),
    "lite_medsam": Setting("lite_medsam", 128, 1, 192, 32, 1),
    "medsam_vit_b": Setting("medsam_vit_b", 256, 4, 192, 32, 1),
}
#: A few milliseconds per iteration: for ``--quick`` runs that only check the scripts work.
QUICK = Setting("tiny", 64, 4, 64, 4, 2)
#: The paper's setting (docs/method.md 3): MedSAM ViT-B at 512, logits at 128, U-Net 64 at 384, 4+4, autocast.
PAPER = Setting("medsam_vit_b", 512, 4, 384, 64, 4, amp=True)
#: The bundle's default (train.json): LiteMedSAM at 256 with full-resolution logits, U-Net 64 at 384, 4+4.
LITE_DEFAULT = Setting("lite_medsam", 256, 1, 384, 64, 4, amp=True)


@dataclass
class Models:
    """Both students, both teachers and both optimizers, configured as the bundle does."""

    sam: SamAdapter
    unet: torch.nn.Module
    sam_teacher: SamAdapter
    unet_teacher: torch.nn.Module
    sam_optimizer: torch.optim.Optimizer
    unet_optimizer: torch.optim.Optimizer


def build_models(setting: Setting, device: torch.device, seed: int = 1337) -> Models:
    """The four networks with the bundle's optimizers (random ViT-B weights: timing does not depend on them).

    Calls ``monai.utils.set_determinism(seed)`` as the bundle's ``initialize`` does (cuDNN deterministic, no
    benchmark autotuning), so GPU timings match what the bundle runs.

    Args:
        setting: sizes.
        device: where the networks live.
        seed: the bundle's seed.

    The trainer's ``channels_last`` and ``compile`` options (:func:`build_trainer`) act on these networks as the
    bundle's keys of the same names do.
    """
    set_determinism(seed=seed)
    sam = SamAdapter(setting.backbone, setting.num_classes, setting.sam_size, logit_stride=setting.logit_stride)
    unet = UNet(1, setting.num_classes, setting.unet_channels)
    sam_teacher, unet_teacher = copy.deepcopy(sam), copy.deepcopy(unet)
    sam, sam_teacher = sam.to(device), sam_teacher.to(device)
    unet, unet_teacher = unet.to(device), unet_teacher.to(device)
    sam_optimizer = torch.optim.AdamW(sam.trainable_parameters(), lr=1.2e-4, betas=(0.9, 0.999), weight_decay=0.1)
    unet_optimizer = torch.optim.SGD(unet.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
    return Models(sam, unet, sam_teacher, unet_teacher, sam_optimizer, unet_optimizer)


def make_batches(setting: Setting, seed: int = 0, pin: bool = False) -> tuple[dict, dict]:
    """A labeled and an unlabeled batch at the loader's size, on the host as a DataLoader yields them.

    Images are bright random rectangles on noise (labels mark them), so pseudo-labels and losses are ordinary.

    Returns:
        ``({"image", "label"}, {"image", "image_strong"})``.
    """
    g = torch.Generator().manual_seed(seed)
    b, size = setting.batch, setting.base_size

    def blobs() -> tuple[torch.Tensor, torch.Tensor]:
        label = torch.zeros(b, 1, size, size, dtype=torch.long)
        for i in range(b):
            h, w = (torch.randint(size // 8, size // 2, (2,), generator=g)).tolist()
            top = int(torch.randint(0, size - h, (1,), generator=g))
            left = int(torch.randint(0, size - w, (1,), generator=g))
            label[i, :, top : top + h, left : left + w] = 1
        image = (0.3 * torch.rand(b, 1, size, size, generator=g) + 0.6 * label).float()
        return image, label

    image, label = blobs()
    weak, _ = blobs()
    labeled = {"image": image, "label": label}
    unlabeled = {"image": weak, "image_strong": (0.8 * weak + 0.05).clamp(0, 1)}
    if pin:
        labeled = {k: v.pin_memory() for k, v in labeled.items()}
        unlabeled = {k: v.pin_memory() for k, v in unlabeled.items()}
    return labeled, unlabeled


def build_trainer(
    models: Models,
    setting: Setting,
    labeled: Any,
    unlabeled: Any,
    iterations: int,
    device: torch.device,
    loaders: bool = False,
    **options: Any,
) -> SynFoCTrainer:
    """The package's SynFoCTrainer for ``iterations`` iterations.

    ``max_iterations`` is the prostate run's 60k, so the consistency ramp weights are those of an early iteration.

    Args:
        models: networks and optimizers.
        setting: sizes and autocast.
        labeled: a labeled batch, reused every iteration (no loader cost); or a loader if ``loaders``.
        unlabeled: likewise for the unlabeled data.
        iterations: the run's length.
        device: where to train.
        loaders: ``labeled`` and ``unlabeled`` are data loaders.
        options: further SynFoCTrainer arguments, e.g. the bundle keys ``channels_last``, ``compile``,
            ``compile_kwargs`` and ``non_blocking``.
    """
    return SynFoCTrainer(
        device=device,
        max_epochs=1,
        epoch_length=iterations,
        train_data_loader=labeled if loaders else [labeled] * iterations,
        unlabeled_data_loader=unlabeled if loaders else [unlabeled],
        network=models.sam,
        optimizer=models.sam_optimizer,
        unet=models.unet,
        unet_optimizer=models.unet_optimizer,
        sam_teacher=models.sam_teacher,
        unet_teacher=models.unet_teacher,
        structures=[(1,)],
        num_classes=setting.num_classes,
        unet_size=setting.unet_size,
        max_iterations=60000,
        box_sampler=BoxMaskSampler(seed=1337),
        amp=setting.amp,
        amp_dtype=setting.amp_dtype,
        **options,
    )
