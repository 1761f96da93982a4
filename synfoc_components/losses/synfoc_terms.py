"""The loss terms of one SynFoC iteration, their sum, and the check that they are finite (docs/method.md 3.7)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from monai.utils import CommonKeys as Keys

from synfoc_components.losses.consistency import consensus_divergence_loss
from synfoc_components.losses.pseudo_label import PseudoLabels
from synfoc_components.transforms.box_mix import box_mix

__all__ = ["LOSS_TERMS", "student_losses", "supervised_loss", "combined_loss", "check_finite"]

#: Names of the scalars each iteration returns in ``engine.state.output`` (besides ``loss``).
LOSS_TERMS = ("sup_sam", "sup_unet", "unsup_sam", "unsup_unet", "consensus", "divergence")


def student_losses(
    loss_fn: Callable[..., torch.Tensor],
    sam_x: torch.Tensor,
    sam_mix: torch.Tensor,
    unet_x: torch.Tensor,
    unet_mix: torch.Tensor,
    y_small: torch.Tensor,
    y_unet: torch.Tensor,
    pseudo: PseudoLabels,
    box: torch.Tensor,
    box_small: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Every loss term of the students' logits on the labeled (``*_x``) and mixed (``*_mix``) batches.

    Inside the pasted box (``box`` at the U-Net size, ``box_small`` at the SAM logit size) the target is the label
    and fully trusted; elsewhere it is the ensemble pseudo-label under its confidence mask.

    Args:
        loss_fn: the students' segmentation loss, ``loss_fn(logits, target)`` and ``loss_fn(logits, target, mask)``.
        sam_x: SAM logits of the labeled batch, B x K x L x L.
        sam_mix: SAM logits of the mixed batch.
        unet_x: U-Net logits of the labeled batch, B x K x R x R.
        unet_mix: U-Net logits of the mixed batch.
        y_small: labels B x L x L.
        y_unet: labels B x R x R.
        pseudo: the ensemble pseudo-labels and their confidence masks.
        box: box masks B x 1 x R x R.
        box_small: box masks B x 1 x L x L.

    Returns:
        ``{name: scalar}`` for every name of :data:`LOSS_TERMS`.
    """
    target_sam, mask_sam = box_mix(pseudo.labels_sam, y_small, box_small), pseudo.masks_sam.maximum(box_small)
    target_unet, mask_unet = box_mix(pseudo.labels_unet, y_unet, box), pseudo.masks_unet.maximum(box)
    terms = {
        "sup_sam": loss_fn(sam_x, y_small),
        "sup_unet": loss_fn(unet_x, y_unet),
        "unsup_sam": loss_fn(sam_mix, target_sam, mask_sam),
        "unsup_unet": loss_fn(unet_mix, target_unet, mask_unet),
    }
    terms["consensus"], terms["divergence"] = consensus_divergence_loss(sam_mix, unet_mix)
    return terms


def supervised_loss(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    """L_sup: the sum of both students' supervised terms."""
    return terms["sup_sam"] + terms["sup_unet"]


def combined_loss(terms: dict[str, torch.Tensor], weight: float) -> torch.Tensor:
    """L = L_sup + weight (L_unsup + L_consensus + L_divergence)."""
    unsupervised = terms["unsup_sam"] + terms["unsup_unet"] + terms["consensus"] + terms["divergence"]
    return supervised_loss(terms) + weight * unsupervised


def check_finite(output: dict[str, float], iteration: int) -> None:
    """Check an iteration's logged scalars.

    Raises:
        FloatingPointError: naming the iteration and the first non-finite loss term (the total comes last).
    """
    for name, value in sorted(output.items(), key=lambda item: item[0] == Keys.LOSS):
        if not math.isfinite(value):
            raise FloatingPointError(
                f"iteration {iteration}: loss term {name!r} is {value}; training stopped, the last saved state is kept"
            )
