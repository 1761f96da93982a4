"""Random contrast with PIL ``ImageEnhance.Contrast`` semantics: blend with the image's mean gray."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import convert_to_dst_type, convert_to_tensor

__all__ = ["RandContrastd"]

_LUMA = (0.299, 0.587, 0.114)  # PIL's RGB -> L weights


class RandContrastd(RandomizableTransform, MapTransform):
    """With probability ``prob``, ``out = clip(m + factor * (img - m), 0, 1)`` with ``factor ~ U(factors)`` and ``m``
    the mean gray value of the image (luma for RGB), as PIL's contrast enhancer does on [0, 1] images.

    Args:
        keys: keys to transform (channel-first images in [0, 1], 1 or 3 channels), each with its own factor.
        factors: range of the contrast factor (1 = unchanged, 0 = flat mean gray).
        prob: probability of transforming.
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self, keys: KeysCollection, factors: Sequence[float], prob: float = 1.0, allow_missing_keys: bool = False
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.factors = (float(factors[0]), float(factors[1]))
        self._factor = 1.0

    def randomize(self, data: None = None) -> None:
        """Draw whether to transform and the factor."""
        super().randomize(None)
        if self._do_transform:
            self._factor = float(self.R.uniform(*self.factors))

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            self.randomize()
            if not self._do_transform:
                continue
            img = convert_to_tensor(d[key], track_meta=False, dtype=torch.float32)
            gray = img if img.shape[0] == 1 else torch.tensordot(img.new_tensor(_LUMA), img[:3], dims=1)
            mean = gray.mean()
            d[key] = convert_to_dst_type((mean + self._factor * (img - mean)).clamp_(0.0, 1.0), d[key])[0]
        return d
