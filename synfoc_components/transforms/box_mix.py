"""Labeled-to-unlabeled box copy-paste: the "intermediate samples" of SynFoC (docs/method.md 3.6)."""

from __future__ import annotations

import math
import random

import torch

__all__ = ["BoxMaskSampler", "box_mix"]


class BoxMaskSampler:
    """Draws one random rectangle per image, as the upstream CutMix box (always applied).

    The area is a fraction U(area) of size^2; then the aspect ratio r ~ U(ratio), width floor(sqrt(area / r)),
    height floor(sqrt(area r)) and a uniform top-left corner are drawn again until the box fits.
    Boxes are drawn on the host from this object's own random stream (saved with :meth:`state_dict`), and
    the masks are built on the target device without any copy back to the host.

    Args:
        area: range of the box area as a fraction of the image.
        ratio: range of the aspect ratio.
        seed: seed of the box stream; None seeds from the global ``random`` module.
    """

    def __init__(
        self, area: tuple[float, float] = (0.02, 0.4), ratio: tuple[float, float] = (0.3, 1 / 0.3), seed: int | None = None
    ) -> None:
        self.area, self.ratio = area, ratio
        self.rng = random.Random(random.getrandbits(64) if seed is None else seed)

    def boxes(self, batch: int, size: int) -> list[tuple[int, int, int, int]]:
        """Return ``batch`` boxes as (top, left, height, width) in pixels of a size x size image."""
        out = []
        for _ in range(batch):
            area = self.rng.uniform(*self.area) * size * size
            while True:
                r = self.rng.uniform(*self.ratio)
                w, h = int(math.sqrt(area / r)), int(math.sqrt(area * r))
                left, top = self.rng.randrange(size), self.rng.randrange(size)
                if left + w <= size and top + h <= size:
                    break
            out.append((top, left, h, w))
        return out

    def __call__(self, batch: int, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Return box masks B x 1 x size x size (float, 1 inside the box) on ``device``."""
        boxes = torch.tensor(self.boxes(batch, size)).to(device, non_blocking=True)
        top, left, h, w = (boxes[:, i, None, None] for i in range(4))
        grid = torch.arange(size, device=device)
        rows, cols = grid[None, :, None], grid[None, None, :]
        inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
        return inside[:, None].float()

    def state_dict(self) -> dict:
        """The random stream's state, for bit-exact resume."""
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        """Restore the random stream saved by :meth:`state_dict`."""
        self.rng.setstate(state["rng"])


def box_mix(background: torch.Tensor, foreground: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``background`` outside the box and ``foreground`` inside: b (1 - m) + f m, for images or class maps.

    Args:
        background: B x C x H x W (or B x H x W class maps).
        foreground: same shape as ``background``.
        mask: B x 1 x H x W of 0/1.

    Returns:
        The mixed tensor, dtype of ``background``.
    """
    m = mask if background.dim() == 4 else mask[:, 0]
    return torch.where(m.bool(), foreground, background)
