"""Self-mutual confidence (SMC): how far each unlabeled image's U-Net prediction can be trusted (docs/method.md 3.4)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from synfoc_components.resize import resize_labels

__all__ = ["smoothed_dice", "structure_dice", "self_mutual_confidence"]


def smoothed_dice(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Upstream ``dice_coefficient_numpy`` per sample: (2|A and G| + 1) / (|A| + |G| + 1.001), 1 if both empty.

    Args:
        pred: boolean masks B x H x W.
        target: boolean masks B x H x W.

    Returns:
        Float tensor B, on the masks' device.
    """
    pred, target = pred.flatten(1).float(), target.flatten(1).float()
    inter, total = (pred * target).sum(1), pred.sum(1) + target.sum(1)
    dice = (2.0 * inter + 1.0) / (total + 1.001)
    return torch.where(total == 0, torch.ones_like(dice), dice)


def structure_dice(pred_labels: torch.Tensor, true_labels: torch.Tensor, structures: Sequence[Sequence[int]]):
    """Smoothed Dice per sample, averaged over the dataset's foreground structures.

    Args:
        pred_labels: class maps B x H x W.
        true_labels: class maps B x H x W.
        structures: class-id tuples, one per structure, e.g. ``[(1,), (1, 2)]`` for fundus cup and disc.

    Returns:
        Float tensor B.
    """
    scores = [smoothed_dice(_member(pred_labels, s), _member(true_labels, s)) for s in structures]
    return torch.stack(scores).mean(0)


def self_mutual_confidence(
    unet_student_labels: torch.Tensor,
    unet_teacher_labels: torch.Tensor,
    sam_teacher_labels: torch.Tensor,
    structures: Sequence[Sequence[int]],
) -> torch.Tensor:
    """The per-image ensemble ratio alpha = Phi_self * Phi_mut, computed on the device without gradient.

    Phi_self compares the student and teacher U-Net at the U-Net resolution; Phi_mut compares the teacher U-Net,
    nearest-resized to the SAM map's size, with the SAM teacher.

    Args:
        unet_student_labels: argmax of the student U-Net, B x R x R.
        unet_teacher_labels: argmax of the teacher U-Net, B x R x R.
        sam_teacher_labels: argmax of the teacher SAM, B x L x L (L may differ from R).
        structures: class-id tuples, one per reported structure.

    Returns:
        alpha, float tensor B in [0, 1].
    """
    with torch.no_grad():
        phi_self = structure_dice(unet_student_labels, unet_teacher_labels, structures)
        teacher_small = resize_labels(unet_teacher_labels, sam_teacher_labels.shape[-2:])
        phi_mut = structure_dice(teacher_small, sam_teacher_labels, structures)
    return phi_self * phi_mut


def _member(labels: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    """Boolean mask of pixels whose class is one of ``classes``."""
    mask = labels == classes[0]
    for c in classes[1:]:
        mask = mask | (labels == c)
    return mask
