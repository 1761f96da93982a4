"""Resampling dict entries on one shared ``grid_sample`` grid (rotation and elastic deformation use it)."""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable

import torch
import torch.nn.functional as F
from monai.utils import convert_to_dst_type, convert_to_tensor

__all__ = ["identity_grid", "warp"]


@functools.lru_cache(maxsize=8)
def identity_grid(spatial_size: tuple[int, int]) -> torch.Tensor:
    """Normalised pixel centres (``align_corners=False``), H x W x 2 in ``grid_sample``'s (last axis, first) order."""
    axes = [(2.0 * torch.arange(n, dtype=torch.float32) + 1.0) / n - 1.0 for n in spatial_size]
    return torch.stack(torch.meshgrid(*axes, indexing="ij")[::-1], dim=-1)


def warp(
    d: dict[Hashable, torch.Tensor], keys_modes: Iterable[tuple[Hashable, str]], grid: torch.Tensor, padding: str
) -> None:
    """Replace ``d[key]`` (C x H x W) by its resampling on ``grid`` (1 x H x W x 2), keeping type and dtype.

    Args:
        d: the data dict, changed in place.
        keys_modes: ``(key, "bilinear" | "nearest")`` pairs.
        grid: normalised sampling positions.
        padding: ``"zeros"``, ``"border"`` or ``"reflection"``.
    """
    for key, mode in keys_modes:
        img = convert_to_tensor(d[key], track_meta=False, dtype=torch.float32)
        out = F.grid_sample(img[None], grid, mode=mode, padding_mode=padding, align_corners=False)[0]
        d[key] = convert_to_dst_type(out, d[key])[0]
