"""Random Gaussian blur, one sigma for both axes, a kernel width relative to the image and reflection padding, as
strong relative to the image at every size as upstream's at 512 px (docs/method.md 3.2)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.networks.layers import separable_filtering
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import convert_to_dst_type, convert_to_tensor
from scipy.special import ive

__all__ = ["RandGaussianBlurd"]


class RandGaussianBlurd(RandomizableTransform, MapTransform):
    """With probability ``prob``, blur with ``sigma ~ U(sigma_range) * S / reference_side``, separable, reflection
    padding, ``S`` the mean image side.

    ``sigma_range`` is in pixels at ``reference_side`` (upstream: 0.1 to 2.0 px at 512), so every image size gets the
    same blur relative to its side; ``reference_side=None`` takes ``sigma_range`` in pixels at any size. The kernel
    is the discrete Gaussian ``exp(-t) I_n(t)``, ``t = sigma**2`` (Lindeberg's; ``I_n`` the modified Bessel
    function), whose standard deviation is ``sigma`` even below a pixel, where a sampled Gaussian collapses to the
    identity (at 128 px the range is 0.025 to 0.5 px); above about 0.7 px the two have the same width, with somewhat
    different shapes (centre weight 0.47 against 0.40 at 1 px). It is ``2 * floor(kernel_fraction * S / 2) + 1``
    wide along an axis of ``S`` pixels (upstream: 51 at 512), cut to +-4 sigma where that is narrower (the weights
    beyond are below about 3e-4 of the centre; it saves time).

    Args:
        keys: keys to blur (channel-first 2D tensors), each with its own sigma.
        sigma_range: range of sigma in pixels at ``reference_side``.
        kernel_fraction: kernel width as a fraction of the image side.
        prob: probability of transforming.
        reference_side: the image side at which ``sigma_range`` holds; None: pixels at any size.
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        sigma_range: Sequence[float] = (0.1, 2.0),
        kernel_fraction: float = 0.1,
        prob: float = 1.0,
        reference_side: float | None = 512.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.sigma_range = (float(sigma_range[0]), float(sigma_range[1]))
        self.kernel_fraction = kernel_fraction
        self.reference_side = None if reference_side is None else float(reference_side)
        self._sigma = 1.0

    def randomize(self, data: None = None) -> None:
        """Draw whether to transform and sigma (at ``reference_side``)."""
        super().randomize(None)
        if self._do_transform:
            self._sigma = float(self.R.uniform(*self.sigma_range))

    def sigma(self, spatial_size: Sequence[int]) -> float:
        """The drawn sigma in pixels of an image of ``spatial_size``."""
        if self.reference_side is None:
            return self._sigma
        return self._sigma * sum(spatial_size) / len(spatial_size) / self.reference_side

    def kernel(self, side: int, sigma: float | None = None) -> torch.Tensor:
        """The normalised 1D kernel along an axis of ``side`` pixels for ``sigma`` in pixels (None: the drawn sigma
        at ``reference_side``, or in pixels without one)."""
        sigma = self._sigma if sigma is None else sigma
        half = min(int(self.kernel_fraction * side / 2), int(math.ceil(4.0 * sigma)), side - 1)
        weights = ive(np.arange(-half, half + 1), sigma * sigma)  # I_-n = I_n for integer n
        return torch.from_numpy(weights / weights.sum()).float()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            self.randomize()
            if not self._do_transform:
                continue
            img = convert_to_tensor(d[key], track_meta=False, dtype=torch.float32)
            sigma = self.sigma(img.shape[1:])
            kernels = [self.kernel(side, sigma) for side in img.shape[1:]]
            blurred = separable_filtering(img[None], kernels, mode="reflect")[0]
            d[key] = convert_to_dst_type(blurred, d[key])[0]
        return d
