"""Random independent up-scaling of both axes followed by a random crop back to the input size (docs/method.md 3.2)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.utils import convert_to_dst_type, convert_to_tensor

from synfoc_components.transforms.joint import JointRandomd

__all__ = ["RandScaleCropd"]


class RandScaleCropd(JointRandomd):
    """With probability ``prob``, scale each spatial axis by its own factor in ``scale_range`` and crop a random
    window of the original size; the same geometry for every key (upstream ``RandomScaleCrop``).

    Args:
        keys: keys to transform jointly (channel-first 2D tensors).
        prob: probability of transforming.
        scale_range: range of the per-axis scale factors (>= 1, so the crop always fits).
        mode: interpolation per key (``"bilinear"`` for images, ``"nearest-exact"`` for labels).
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.5,
        scale_range: Sequence[float] = (1.0, 1.5),
        mode: Sequence[str] | str = ("bilinear", "nearest-exact"),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, mode, allow_missing_keys)
        if min(scale_range) < 1.0:
            raise ValueError(f"scale_range {scale_range} must not go below 1 (the crop must fit)")
        self.scale_range = tuple(scale_range)
        self._scaled: tuple[int, ...] = ()
        self._start: tuple[int, ...] = ()

    def draw(self, spatial_size: Sequence[int]) -> None:
        """Draw the scaled size and the crop start."""
        factors = self.R.uniform(self.scale_range[0], self.scale_range[1], size=len(spatial_size))
        self._scaled = tuple(max(s, int(round(s * f))) for s, f in zip(spatial_size, factors))
        self._start = tuple(int(self.R.randint(0, n - s + 1)) for n, s in zip(self._scaled, spatial_size))

    def apply(self, d: dict[Hashable, torch.Tensor], spatial_size: tuple[int, ...]) -> None:
        """Scale every key to the drawn size and crop the drawn window."""
        window = (slice(None),) + tuple(slice(a, a + s) for a, s in zip(self._start, spatial_size))
        for key, mode in self.key_iterator(d, self.mode):
            img = convert_to_tensor(d[key], track_meta=False, dtype=torch.float32)
            corners = False if mode in ("linear", "bilinear", "bicubic") else None
            scaled = F.interpolate(img[None], size=self._scaled, mode=mode, align_corners=corners)[0]
            d[key] = convert_to_dst_type(scaled[window].contiguous(), d[key])[0]
