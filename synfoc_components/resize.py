"""Resizing batched images, probabilities and class maps between the base, SAM, logit and U-Net resolutions.

:func:`network_input` is the one resize of images on their way into either network, in training (the loaded base
size, then each network's input size), evaluation and inference (docs/method.md 3.1); class maps and box masks that
go with those images are resized nearest-exact (pixel centres, the same geometry as the images' bilinear resize).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["network_input", "resize", "resize_labels"]


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


def network_input(images: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Images B x C x H x W resized to ``size`` (an int means square) as a network's input: bilinear, antialiased
    (``align_corners=False``; when shrinking every source pixel contributes, no row or column is dropped); returns
    ``images`` itself when the size already matches.

    Args:
        images: float images B x C x H x W.
        size: target spatial size.

    Returns:
        The resized images, same dtype.
    """
    size = _pair(size)
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def resize(x: torch.Tensor, size: int | Sequence[int], mode: str = "nearest") -> torch.Tensor:
    """Resize B x C x H x W to ``size`` (an int means square); returns ``x`` itself when the size already matches.

    Args:
        x: batched tensor B x C x H x W.
        size: target spatial size.
        mode: ``"nearest"`` (upstream's choice for masks inside the method's terms), ``"nearest-exact"`` (box masks
            that go with :func:`network_input` images) or ``"bilinear"`` (probabilities; ``align_corners=False`` as
            ``F.interpolate``'s default).

    Returns:
        The resized tensor, same dtype as ``x`` for floating inputs.
    """
    size = _pair(size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode=mode, align_corners=False if mode == "bilinear" else None)


def resize_labels(labels: torch.Tensor, size: int | Sequence[int], mode: str = "nearest") -> torch.Tensor:
    """Resize class maps B x H x W or B x 1 x H x W; returns ``labels`` when sizes match.

    Args:
        labels: class ids.
        size: target spatial size.
        mode: ``"nearest"`` (upstream's, inside the method's terms) or ``"nearest-exact"`` (labels that go with
            :func:`network_input` images: training targets, pseudo-label monitoring).

    Returns:
        The resized class maps, same dtype and layout.
    """
    size = _pair(size)
    if tuple(labels.shape[-2:]) == size:
        return labels
    squeeze = labels.dim() == 3
    out = resize((labels[:, None] if squeeze else labels).float(), size, mode).to(labels.dtype)
    return out[:, 0] if squeeze else out
