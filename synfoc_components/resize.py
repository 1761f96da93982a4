"""Resizing batched images, probabilities and class maps between the SAM, logit and U-Net resolutions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["resize", "resize_labels"]


def resize(x: torch.Tensor, size: int | Sequence[int], mode: str = "nearest") -> torch.Tensor:
    """Resize B x C x H x W to ``size`` (an int means square); returns ``x`` itself when the size already matches.

    Args:
        x: batched tensor B x C x H x W.
        size: target spatial size.
        mode: ``"nearest"`` (upstream's choice for images fed to the U-Net and for masks) or ``"bilinear"``
            (probabilities; ``align_corners=False`` as ``F.interpolate``'s default).

    Returns:
        The resized tensor, same dtype as ``x`` for floating inputs.
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode=mode, align_corners=False if mode == "bilinear" else None)


def resize_labels(labels: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resize of class maps B x H x W or B x 1 x H x W; returns ``labels`` when sizes match."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(labels.shape[-2:]) == size:
        return labels
    squeeze = labels.dim() == 3
    out = resize((labels[:, None] if squeeze else labels).float(), size).to(labels.dtype)
    return out[:, 0] if squeeze else out
