"""An upstream-style SynFoC iteration built from the package's components: the reference the trainer is timed against.

It computes the same losses as :meth:`SynFoCTrainer._iteration` (with the trainer's resizing, docs/method.md 3.1) but
the way the reference code organises the work (docs/method.md 3.3, 3.4 and 8), each habit switchable on its own:

- ``host_dice``: the self-mutual confidence from ``.cpu().numpy()`` copies of the label maps, image by image and
  structure by structure, with upstream's ``dice_coefficient_numpy``; alpha goes back to the device as a new tensor.
- ``per_image_decode``: the SAM mask decoder runs image by image through segment_anything's
  ``MaskDecoder.predict_masks`` (built for one image with several prompts) instead of the batched
  ``SamAdapter.decode``.
- ``student_graph``: the student U-Net's self-confidence pass runs with autograd on and its graph is kept alive
  until the end of the iteration (upstream does not use ``no_grad`` there).
- ``item_logging``: every loss term, the confidence ratio and alpha are logged with one ``.item()`` each.

This file is a benchmark reference, not part of the package.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from synfoc_components.engines.trainer import SynFoCTrainer
from synfoc_components.engines.training_inputs import EXACT, targets, unet_format
from synfoc_components.handlers.ema import EMATeacher
from synfoc_components.losses import (
    ensemble_pseudo_labels,
    self_mutual_confidence,
)
from synfoc_components.networks import SamAdapter
from synfoc_components.resize import network_input, resize, resize_labels
from synfoc_components.transforms.box_mix import box_mix

__all__ = ["UpstreamOptions", "UpstreamIteration", "dice_coefficient_numpy", "host_confidence", "sam_per_image"]


@dataclass(frozen=True)
class UpstreamOptions:
    """Which upstream habits the reference iteration has (all by default)."""

    host_dice: bool = True
    per_image_decode: bool = True
    student_graph: bool = True
    item_logging: bool = True

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)


def dice_coefficient_numpy(pred: np.ndarray, target: np.ndarray) -> float:
    """Upstream ``utils/metrics.py::dice_coefficient_numpy`` on two binary masks, 1 when both are empty (as the
    package's ``smoothed_dice``)."""
    pred, target = np.asarray(pred).astype(bool), np.asarray(target).astype(bool)
    total = float(pred.sum()) + float(target.sum())
    if total == 0:
        return 1.0
    return (2.0 * float(np.logical_and(pred, target).sum()) + 1.0) / (total + 1.001)


def host_confidence(
    student_labels: torch.Tensor,
    teacher_labels: torch.Tensor,
    sam_labels: torch.Tensor,
    structures: list[tuple[int, ...]],
) -> torch.Tensor:
    """Self-mutual confidence alpha computed on the host, one image and one structure at a time, as upstream."""
    teacher_small = resize_labels(teacher_labels, sam_labels.shape[-2:])
    alphas = []
    for i in range(student_labels.shape[0]):
        stu, tea = student_labels[i].cpu().numpy(), teacher_labels[i].cpu().numpy()
        tea_small, sam = teacher_small[i].cpu().numpy(), sam_labels[i].cpu().numpy()
        phi_self = np.mean([dice_coefficient_numpy(np.isin(stu, s), np.isin(tea, s)) for s in structures])
        phi_mut = np.mean([dice_coefficient_numpy(np.isin(tea_small, s), np.isin(sam, s)) for s in structures])
        alphas.append(phi_self * phi_mut)
    return torch.tensor(alphas, dtype=torch.float32).to(student_labels.device)


def sam_per_image(sam: SamAdapter, x: torch.Tensor) -> torch.Tensor:
    """``SamAdapter.forward`` with the mask decoder run image by image through ``MaskDecoder.predict_masks``."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != sam.img_size or x.shape[-2] != sam.img_size:
        x = F.interpolate(x, size=(sam.img_size, sam.img_size), mode="bilinear", align_corners=False)
    embeddings = sam.image_encoder(x)
    sparse, dense = sam.prompt_encoder(points=None, boxes=None, masks=None)
    position = sam.prompt_encoder.get_dense_pe()
    masks = torch.cat(
        [sam.mask_decoder.predict_masks(e[None], position, sparse, dense)[0] for e in embeddings]  # masks, iou
    )
    return F.avg_pool2d(masks, sam.logit_pool) if sam.logit_pool > 1 else masks


class UpstreamIteration:
    """One upstream-style iteration on fixed batches, sharing the networks, optimizers and box stream of ``trainer``.

    Args:
        trainer: the package trainer whose components are reused.
        labeled: labeled host batch.
        unlabeled: unlabeled host batch.
        options: which upstream habits to include.
        ema_decay: the teachers' EMA cap.
    """

    def __init__(
        self,
        trainer: SynFoCTrainer,
        labeled: dict,
        unlabeled: dict,
        options: UpstreamOptions = UpstreamOptions(),
        ema_decay: float = 0.99,
    ) -> None:
        self.t, self.labeled, self.unlabeled, self.options = trainer, labeled, unlabeled, options
        self.ema = [
            EMATeacher(trainer.sam_teacher, trainer.network, ema_decay, trainable_only=True),
            EMATeacher(trainer.unet_teacher, trainer.unet, ema_decay),
        ]
        self.step = 0
        self.log: dict[str, float] = {}

    def _sam(self, net: SamAdapter, x: torch.Tensor) -> torch.Tensor:
        return sam_per_image(net, x) if self.options.per_image_decode else net(x)

    def __call__(self) -> dict[str, torch.Tensor]:
        t, opts = self.t, self.options
        dev = t.state.device
        unet_in = functools.partial(unet_format, channels_last=t.channels_last)
        x, y = self.labeled["image"].to(dev), self.labeled["label"].to(dev).long()
        u_weak, u_strong = self.unlabeled["image"].to(dev), self.unlabeled["image_strong"].to(dev)
        for net in (t.network, t.unet, t.sam_teacher, t.unet_teacher):
            net.train()
        t.optimizer.zero_grad(set_to_none=t.optim_set_to_none)
        t.unet_optimizer.zero_grad(set_to_none=t.optim_set_to_none)

        with torch.no_grad(), t._autocast():
            sam_probs = self._sam(t.sam_teacher, network_input(u_weak, t.sam_size)).float().softmax(1)
            unet_probs = t.unet_teacher(unet_in(network_input(u_weak, t.unet_size))).float().softmax(1)
        with torch.set_grad_enabled(opts.student_graph), t._autocast():
            # kept alive (with its graph), as upstream
            student_out = t.unet(unet_in(network_input(u_weak, t.unet_size)))
        student_labels = student_out.argmax(1)
        if opts.host_dice:
            alpha = host_confidence(student_labels, unet_probs.argmax(1), sam_probs.argmax(1), t.structures)
        else:
            alpha = self_mutual_confidence(student_labels, unet_probs.argmax(1), sam_probs.argmax(1), t.structures)
        with torch.no_grad():
            pseudo = ensemble_pseudo_labels(sam_probs, unet_probs, alpha, t.threshold)

        logit_size = sam_probs.shape[-2:]
        box = t.box_sampler(x.shape[0], t.unet_size, dev)
        box_small, box_sam = resize(box, logit_size, EXACT), resize(box, t.sam_size, EXACT)
        y_unet, y_small = targets(y, t.unet_size)[:, 0], targets(y, logit_size)[:, 0]
        mixed_sam = box_mix(network_input(u_strong, t.sam_size), network_input(x, t.sam_size), box_sam)
        mixed_unet = unet_in(box_mix(network_input(u_strong, t.unet_size), network_input(x, t.unet_size), box))
        with t._autocast():
            sam_logits = self._sam(t.network, torch.cat([network_input(x, t.sam_size), mixed_sam]))
            unet_x, unet_mix = t.unet(unet_in(network_input(x, t.unet_size))), t.unet(mixed_unet)
        sam_x, sam_mix = sam_logits.split(x.shape[0])

        terms = t.student_losses(sam_x, sam_mix, unet_x, unet_mix, y_small, y_unet, pseudo, box, box_small)
        loss, _ = t.total_loss(terms, self.step)

        t.grad_scaler.scale(loss).backward()
        for optimizer in (t.optimizer, t.unet_optimizer):
            t.grad_scaler.step(optimizer)
        t.grad_scaler.update()
        for ema in self.ema:
            ema.update(self.step)
        self.step += 1

        named = {"loss": loss, **terms, "confidence": pseudo.masks_unet.mean(), "alpha": alpha.mean()}
        if opts.item_logging:
            self.log = {k: v.item() for k, v in named.items()}
        else:
            self.log = dict(zip(named, torch.stack([v.detach().float() for v in named.values()]).tolist()))
        del student_out
        return named
