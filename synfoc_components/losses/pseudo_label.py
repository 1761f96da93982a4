"""Ensemble pseudo-labels and confidence masks from the two teachers (docs/method.md 3.5)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from synfoc_components.resize import resize

__all__ = ["PseudoLabels", "ensemble_pseudo_labels"]


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
