"""Ensemble pseudo-labels and confidence masks from the two teachers (docs/method.md 3.3-3.5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from synfoc_components.resize import network_input, resize

from .confidence import self_mutual_confidence

__all__ = ["PseudoLabels", "TeacherPseudoLabels", "ensemble_pseudo_labels", "teacher_pseudo_labels"]


class PseudoLabels(NamedTuple):
    """Targets for the unlabeled images at the U-Net resolution R and the SAM logit resolution L.

    ``labels_*`` are class maps B x H x W (int64); ``masks_*`` are 0/1 float masks B x 1 x H x W.
    """

    labels_unet: torch.Tensor
    masks_unet: torch.Tensor
    labels_sam: torch.Tensor
    masks_sam: torch.Tensor


def ensemble_pseudo_labels(
    sam_probs: torch.Tensor, unet_probs: torch.Tensor, alpha: torch.Tensor, threshold: float = 0.95
) -> PseudoLabels:
    """P_EN = (1 - alpha) up_R(P_MS) + alpha P_UT, thresholded separately at R and, bilinearly shrunk, at L.

    Args:
        sam_probs: SAM teacher softmax, B x K x L x L.
        unet_probs: U-Net teacher softmax, B x K x R x R.
        alpha: per-image ratio from :func:`self_mutual_confidence`, B.
        threshold: confidence threshold tau (0.95 in the paper).

    Returns:
        :class:`PseudoLabels`.
    """
    a = alpha.view(-1, 1, 1, 1).to(unet_probs.dtype)
    ensemble = (1 - a) * resize(sam_probs.to(unet_probs.dtype), unet_probs.shape[-2:], "bilinear") + a * unet_probs
    ensemble_small = resize(ensemble, sam_probs.shape[-2:], "bilinear")
    conf_r, labels_r = ensemble.max(1, keepdim=True)
    conf_l, labels_l = ensemble_small.max(1, keepdim=True)
    return PseudoLabels(
        labels_unet=labels_r[:, 0],
        masks_unet=(conf_r > threshold).to(unet_probs.dtype),
        labels_sam=labels_l[:, 0],
        masks_sam=(conf_l > threshold).to(unet_probs.dtype),
    )


class TeacherPseudoLabels(NamedTuple):
    """What the teachers make of a weak unlabeled batch.

    ``sam_labels`` (B x L x L) and ``unet_labels`` (B x R x R) are the SAM and U-Net teachers' argmax maps,
    ``alpha`` (B) the self-mutual confidence ratio and ``pseudo`` the ensemble :class:`PseudoLabels`.
    """

    sam_labels: torch.Tensor
    unet_labels: torch.Tensor
    alpha: torch.Tensor
    pseudo: PseudoLabels


def teacher_pseudo_labels(
    images: torch.Tensor,
    sam_teacher: Callable[[torch.Tensor], torch.Tensor],
    unet_teacher: Callable[[torch.Tensor], torch.Tensor],
    unet_student: Callable[[torch.Tensor], torch.Tensor],
    structures: Sequence[Sequence[int]],
    sam_size: int,
    unet_size: int,
    threshold: float,
    channels_last: bool = False,
) -> TeacherPseudoLabels:
    """Run both teachers and the student U-Net on weak unlabeled images and build the ensemble pseudo-labels.

    The images are resized to the SAM input size and to the U-Net size R by ``network_input`` (as every network input
    in training, evaluation and inference; docs/method.md 3.1); the student U-Net's argmax only
    feeds Phi_self of :func:`self_mutual_confidence`. Runs without gradient; call it inside the caller's autocast.
    The networks run in whatever mode they are in (training keeps all of them in train mode, as upstream).

    Args:
        images: weak views B x C x S x S at the base training size.
        sam_teacher: the SAM teacher, logits B x K x L x L.
        unet_teacher: the U-Net teacher, logits B x K x R x R.
        unet_student: the student U-Net.
        structures: class-id tuples, one per reported structure.
        sam_size: the SAM input size.
        unet_size: the U-Net size R.
        threshold: confidence threshold tau.
        channels_last: feed the U-Nets channels-last inputs.

    Returns:
        :class:`TeacherPseudoLabels`.
    """
    with torch.no_grad():
        sam_probs = sam_teacher(network_input(images, sam_size)).float().softmax(1)
        weak_unet = network_input(images, unet_size)
        weak_unet = weak_unet.contiguous(memory_format=torch.channels_last) if channels_last else weak_unet
        unet_probs = unet_teacher(weak_unet).float().softmax(1)
        student_labels = unet_student(weak_unet).argmax(1)  # updates BN statistics in train mode, as upstream
        sam_labels, unet_labels = sam_probs.argmax(1), unet_probs.argmax(1)
        alpha = self_mutual_confidence(student_labels, unet_labels, sam_labels, structures)
        pseudo = ensemble_pseudo_labels(sam_probs, unet_probs, alpha, threshold)
    return TeacherPseudoLabels(sam_labels, unet_labels, alpha, pseudo)
