"""Base of the weak geometric augmentations: one random draw per sample, applied to every key alike."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import ensure_tuple_rep

__all__ = ["JointRandomd"]


class JointRandomd(RandomizableTransform, MapTransform):
    """With probability ``prob``, transform every key (image and label) with one shared random geometry.

    Subclasses implement ``draw(spatial_size)`` (the random parameters, drawn from ``self.R`` only when the sample
    is transformed) and ``apply(d, spatial_size)``.

    Args:
        keys: keys to transform jointly (channel-first 2D tensors).
        prob: probability of transforming.
        mode: interpolation per key (e.g. ``"bilinear"`` for images, ``"nearest"`` for labels).
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self, keys: KeysCollection, prob: float, mode: Sequence[str] | str, allow_missing_keys: bool = False
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.mode = ensure_tuple_rep(mode, len(self.keys))

    def randomize(self, spatial_size: Sequence[int]) -> None:
        """Draw whether to transform, then the geometry."""
        super().randomize(None)
        if self._do_transform:
            self.draw(spatial_size)

    def draw(self, spatial_size: Sequence[int]) -> None:
        """Draw the random parameters of one transform."""
        raise NotImplementedError

    def apply(self, d: dict[Hashable, torch.Tensor], spatial_size: tuple[int, ...]) -> None:
        """Transform the keys of ``d`` in place with the drawn geometry."""
        raise NotImplementedError

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        first = self.first_key(d)
        if first == ():
            return d
        spatial = tuple(d[first].shape[1:])
        self.randomize(spatial)
        if self._do_transform:
            self.apply(d, spatial)
        return d
