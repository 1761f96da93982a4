"""Elastic deformation by a Gaussian-filtered uniform noise field (Simard et al.; upstream ``elastic_transform``), as
strong relative to the image at every size as upstream's at 512 px (docs/method.md 3.2)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection

from synfoc_components.transforms.joint import JointRandomd
from synfoc_components.transforms.warp import identity_grid, warp

__all__ = ["RandElasticd"]


def _gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """``G`` such that ``G @ x`` Gaussian-filters ``x`` (length ``size``), zero padding, truncated at 4 sigma."""
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    radius = max(1, math.ceil(4.0 * sigma))
    weights = np.exp(-0.5 * (offsets / sigma) ** 2) * (np.abs(offsets) <= radius)
    full = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).sum()
    return (weights / full).astype(np.float32)


class RandElasticd(JointRandomd):
    """With probability ``prob``, warp every key by one displacement field ``alpha * G_sigma * U(-1, 1)`` per axis.

    ``sigma = sigma_fraction * S`` and ``alpha = alpha_fraction * S**2 / reference_side`` with ``S`` the mean image
    side. Upstream augments at 512 px with sigma 0.08 and alpha 2 of the side (a smooth field of about 3.9 px standard
    deviation, 0.77 % of the side); scaling sigma with the side and alpha with its square keeps the field's shape and
    its displacement as fractions of the side, so every training size sees upstream's relative strength (scaling
    alpha with the side alone would keep about 4 px at every size: 3 % of a 128 px side). The noise is drawn on a grid
    ``f`` times coarser (``sigma / f`` about 4 coarse pixels) with variance ``1 / f**2`` of the fine one, filtered
    with zero padding (scipy ``mode="constant"``; as two small matrix products) and bilinearly up-sampled: the same
    random field, far cheaper. Sampling uses reflection at the borders (upstream ``map_coordinates(mode="reflect")``).

    Args:
        keys: keys to warp jointly (channel-first 2D tensors).
        prob: probability of transforming.
        sigma_fraction: smoothing sigma as a fraction of the image side.
        alpha_fraction: displacement scale as a fraction of the side at ``reference_side``.
        reference_side: the side at which ``alpha_fraction`` holds (upstream's 512 px).
        mode: ``grid_sample`` interpolation per key (``"bilinear"`` images, ``"nearest"`` labels).
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.5,
        sigma_fraction: float = 0.08,
        alpha_fraction: float = 2.0,
        reference_side: float = 512.0,
        mode: Sequence[str] | str = ("bilinear", "nearest"),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, mode, allow_missing_keys)
        self.sigma_fraction, self.alpha_fraction = sigma_fraction, alpha_fraction
        self.reference_side = float(reference_side)
        self._noise: np.ndarray = np.zeros(0)
        self._factor = 1

    def draw(self, spatial_size: Sequence[int]) -> None:
        """Draw the coarse uniform noise of both displacement components."""
        self._factor = max(1, int(self.sigma_fraction * float(np.mean(spatial_size)) // 4))
        coarse = [-(-s // self._factor) for s in spatial_size]
        self._noise = self.R.uniform(-1.0, 1.0, size=[len(spatial_size)] + coarse).astype(np.float32)

    def _grid(self, spatial_size: Sequence[int]) -> torch.Tensor:
        """``grid_sample`` grid (1 x H x W x 2, normalised, x first) of identity + the drawn displacement."""
        side = float(np.mean(spatial_size))
        sigma = self.sigma_fraction * side / self._factor
        rows, cols = (_gaussian_matrix(n, sigma) for n in self._noise.shape[1:])
        smooth = torch.from_numpy(rows @ self._noise @ cols.T / self._factor)[None]
        shift = F.interpolate(smooth, size=tuple(spatial_size), mode="bilinear", align_corners=False)[0]
        alpha = self.alpha_fraction * side * side / self.reference_side  # in pixels
        scale = torch.tensor([2.0 * alpha / n for n in spatial_size]).view(-1, 1, 1)  # normalised coordinates
        return (identity_grid(tuple(spatial_size)) + (shift * scale).flip(0).permute(1, 2, 0))[None]

    def apply(self, d: dict[Hashable, torch.Tensor], spatial_size: tuple[int, ...]) -> None:
        """Warp every key by the drawn displacement field, reflecting at the borders."""
        warp(d, self.key_iterator(d, self.mode), self._grid(spatial_size), padding="reflection")
