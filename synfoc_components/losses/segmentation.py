"""Supervised and confidence-masked cross-entropy and Dice losses, upstream quirks included (docs/method.md 3.7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["masked_ce_loss", "masked_dice_loss", "CEDiceLoss"]

_DICE_EPS = 1e-10


def masked_ce_loss(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy weighted by a 0/1 mask and averaged over **all** pixels (not normalised by the mask's sum).

    Args:
        logits: B x K x H x W.
        target: class indices B x H x W.
        mask: B x 1 x H x W of 0/1, or None for the plain mean cross-entropy.

    Returns:
        Scalar loss.
    """
    ce = F.cross_entropy(logits.float(), target.long(), reduction="none")
    return ce.mean() if mask is None else (ce * mask[:, 0]).mean()


def masked_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, num_classes: int
) -> torch.Tensor:
    """Soft Dice with squared denominators, averaged over all K channels, background included.

    Quirk of the upstream ``DiceLossWithMask``: the background channel ignores the confidence mask, which only
    restricts the foreground channels. Sums run over the whole batch.

    Args:
        logits: B x K x H x W (softmax is applied here).
        target: class indices B x H x W.
        mask: B x 1 x H x W of 0/1, or None for the plain soft Dice.
        num_classes: K.

    Returns:
        Scalar loss.
    """
    probs = logits.float().softmax(1)
    onehot = F.one_hot(target.long(), num_classes).permute(0, 3, 1, 2).to(probs.dtype)
    if mask is None:
        weights = torch.ones_like(probs[:, :1])
        weights = weights.expand_as(probs)
    else:
        fg = mask.to(probs.dtype).expand(-1, num_classes - 1, -1, -1)
        weights = torch.cat([torch.ones_like(mask, dtype=probs.dtype), fg], 1)
    dims = (0, 2, 3)
    inter = (probs * onehot * weights).sum(dims)
    denom = (probs * probs * weights).sum(dims) + (onehot * onehot * weights).sum(dims)
    return (1 - (2 * inter + _DICE_EPS) / (denom + _DICE_EPS)).mean()


class CEDiceLoss:
    """Cross-entropy plus Dice, optionally confidence-masked: the supervised and the unsupervised loss of SynFoC.

    Args:
        num_classes: K, background included.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Loss of ``logits`` (B x K x H x W) against class maps ``target`` (B x H x W or B x 1 x H x W)."""
        if target.dim() == 4:
            target = target[:, 0]
        return masked_ce_loss(logits, target, mask) + masked_dice_loss(logits, target, mask, self.num_classes)
