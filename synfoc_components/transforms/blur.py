"""Random Gaussian blur, one sigma for both axes, a fixed kernel width and reflection padding (docs/method.md 3.2)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.networks.layers import separable_filtering
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import convert_to_dst_type, convert_to_tensor

__all__ = ["RandGaussianBlurd"]


class RandGaussianBlurd(RandomizableTransform, MapTransform):
    """With probability ``prob``, blur with ``sigma ~ U(sigma_range)``, separable, reflection padding.

    The kernel is ``2 * floor(kernel_fraction * S / 2) + 1`` wide for an image side ``S`` (upstream: 51 at 512),
    cut to +-4 sigma where that is narrower (the weights beyond are below 1e-4 of the centre; it saves time).

    Args:
        keys: keys to blur (channel-first 2D tensors), each with its own sigma.
        sigma_range: range of sigma in pixels.
        kernel_fraction: kernel width as a fraction of the image side.
        prob: probability of transforming.
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        sigma_range: Sequence[float] = (0.1, 2.0),
        kernel_fraction: float = 0.1,
        prob: float = 1.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.sigma_range = (float(sigma_range[0]), float(sigma_range[1]))
        self.kernel_fraction = kernel_fraction
        self._sigma = 1.0

    def randomize(self, data: None = None) -> None:
        """Draw whether to transform and sigma."""
        super().randomize(None)
        if self._do_transform:
            self._sigma = float(self.R.uniform(*self.sigma_range))

    def kernel(self, side: int) -> torch.Tensor:
        """The normalised 1D kernel for an image of side ``side`` and the drawn sigma."""
        half = min(int(self.kernel_fraction * side / 2), int(math.ceil(4.0 * self._sigma)), side - 1)
        x = torch.arange(-half, half + 1, dtype=torch.float32)
        weights = torch.exp(-0.5 * (x / self._sigma) ** 2)
        return weights / weights.sum()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            self.randomize()
            if not self._do_transform:
                continue
            img = convert_to_tensor(d[key], track_meta=False, dtype=torch.float32)
            kernels = [self.kernel(side) for side in img.shape[1:]]
            blurred = separable_filtering(img[None], kernels, mode="reflect")[0]
            d[key] = convert_to_dst_type(blurred, d[key])[0]
        return d
