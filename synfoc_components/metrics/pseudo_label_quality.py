"""How good the teachers' pseudo-labels are on unlabeled images whose labels are known (monitoring only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from synfoc_components.resize import resize_labels

from .domain_table import MEAN
from .slice_metrics import dice_jaccard, structure_masks

if TYPE_CHECKING:
    from synfoc_components.losses import TeacherPseudoLabels

__all__ = ["PSEUDO_LABEL_QUANTITIES", "domain_means", "flat_metrics", "pseudo_label_scores"]

PSEUDO_LABEL_QUANTITIES = ("dice_sam_teacher", "dice_unet_teacher", "dice_ensemble", "confident", "alpha")
"""The columns of :func:`pseudo_label_scores`: the Dice of the SAM teacher's, the U-Net teacher's and the ensemble's
pseudo-labels, the share of confident pixels (the training mask at the U-Net size) and the ratio alpha."""


def pseudo_label_scores(
    teachers: TeacherPseudoLabels, labels: torch.Tensor, structures: Sequence[Sequence[int]]
) -> torch.Tensor:
    """Per image: the :data:`PSEUDO_LABEL_QUANTITIES`, on the device (no host transfer).

    Each pseudo-label is compared with the label resized nearest-exact to its own size (as training resizes its
    targets; upstream: nearest): the SAM
    teacher's argmax at the SAM logit size L, the U-Net teacher's and the ensemble's at the U-Net size R. The Dice is
    the evaluation's (``dice_jaccard``: an empty label scores 1 for an empty prediction, 0 otherwise), averaged over
    the structures.

    Args:
        teachers: what ``teacher_pseudo_labels`` returned for the batch.
        labels: the images' class ids B x 1 x H x W (or B x H x W) at any size.
        structures: class-id tuples, one per reported structure.

    Returns:
        Float tensor B x 5.
    """
    labels = labels if labels.dim() == 4 else labels[:, None]

    def dice(pred: torch.Tensor) -> torch.Tensor:
        true = resize_labels(labels, pred.shape[-2:], "nearest-exact")  # as the training targets
        scores, _ = dice_jaccard(structure_masks(pred[:, None], structures), structure_masks(true, structures))
        return scores.float().mean(1)

    pseudo = teachers.pseudo
    columns = (
        dice(teachers.sam_labels),
        dice(teachers.unet_labels),
        dice(pseudo.labels_unet),
        pseudo.masks_unet.flatten(1).float().mean(1),
        teachers.alpha.float(),
    )
    return torch.stack(columns, dim=1)


def domain_means(scores: torch.Tensor, domains: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean of each quantity per domain, and under ``"Mean"`` the mean over domains (as the validation Dice).

    Args:
        scores: N x Q per-image values (columns :data:`PSEUDO_LABEL_QUANTITIES`).
        domains: the N images' domains.

    Returns:
        ``{domain: {quantity: value}}`` in sorted domain order, then ``"Mean"``; empty for no image. One host transfer.

    Raises:
        ValueError: when ``domains`` does not have one entry per row of ``scores``.
    """
    if len(domains) != scores.shape[0]:
        raise ValueError(f"domain_means: {len(domains)} domains for {scores.shape[0]} rows of scores")
    names = sorted(set(domains))
    if not names:
        return {}
    rows = [scores[[i for i, d in enumerate(domains) if d == name]].mean(0) for name in names]
    table = torch.stack(rows)
    values = torch.cat([table, table.mean(0, keepdim=True)]).tolist()
    return {name: _named(row) for name, row in zip([*names, MEAN], values)}


def _named(row: Sequence[float]) -> dict[str, float]:
    return dict(zip(PSEUDO_LABEL_QUANTITIES, row))


def flat_metrics(summary: Mapping[str, Mapping[str, float]], prefix: str = "pseudo_") -> dict[str, float]:
    """``summary`` as engine metrics: ``<prefix><quantity>`` for the mean over domains, ``.../<domain>`` per domain."""
    metrics = {}
    for domain, values in summary.items():
        suffix = "" if domain == MEAN else f"/{domain}"
        metrics.update({f"{prefix}{name}{suffix}": value for name, value in values.items()})
    return metrics
