"""Consensus-divergence consistency regularisation (CDCR) between the two students (docs/method.md 3.7)."""

from __future__ import annotations

import torch

from synfoc_components.resize import resize

__all__ = ["consensus_divergence_loss"]


def consensus_divergence_loss(sam_logits: torch.Tensor, unet_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropy minimisation where the students agree, squared error where they disagree; nothing is detached.

    The SAM probabilities (L x L) are nearest-upsampled to the U-Net size R to compare. Agreement is decided on the
    argmax at R; the SAM entropy term uses that agreement map nearest-shrunk back to L.

    Args:
        sam_logits: student SAM logits on the mixed images, B x K x L x L.
        unet_logits: student U-Net logits on the mixed images, B x K x R x R.

    Returns:
        (consensus, divergence): 1/2 [mean(-p log p on agreement) of SAM + of U-Net], and mean((p_SAM - p_UNet)^2
        on disagreement); each mean runs over every element, class axis included.
    """
    p_sam = sam_logits.float().softmax(1)
    p_unet = unet_logits.float().softmax(1)
    p_sam_big = resize(p_sam, p_unet.shape[-2:], "nearest")
    agree = (p_sam_big.argmax(1, keepdim=True) == p_unet.argmax(1, keepdim=True)).to(p_unet.dtype)
    agree_small = resize(agree, p_sam.shape[-2:], "nearest")
    consensus = 0.5 * ((_entropy(p_sam) * agree_small).mean() + (_entropy(p_unet) * agree).mean())
    divergence = ((p_sam_big - p_unet) ** 2 * (1 - agree)).mean()
    return consensus, divergence


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    """Element-wise -p log p with p clamped to [1e-10, 1]."""
    return -probs * probs.clamp(1e-10, 1.0).log()
