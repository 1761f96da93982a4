"""An inferer that feeds a network the way training does and returns logits at the input's (or a given) size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from monai.inferers import Inferer

from synfoc_components.resize import network_input

__all__ = ["ResizeInferer"]


class ResizeInferer(Inferer):
    """Resize the images to the base size and then to the network's input size, run it, and resize its logits.

    Both resizes are :func:`synfoc_components.resize.network_input` (antialiased bilinear), the one training uses:
    training loads every image at the base size S' = max(S, R) and resizes it on the device to the SAM size S and the
    U-Net size R, so with ``base_size=S'`` an image of any size reaches the network exactly as it would in training
    (without augmentation; docs/method.md 3.1). Evaluation loads its images at S' already (``base_size`` None). The
    logits come back bilinearly at ``output_size`` (evaluation: R, the labels' size, docs/method.md 5) or, by
    default, at the images' own size (inference). Works wherever an ``Inferer`` is expected (evaluators, MONAI Label's
    ``BundleInferTask``).

    A volume (B x C x H x W x D, e.g. a NIfTI image) is segmented slice by slice along its last axis, in chunks of
    ``slice_batch`` slices, and comes back as B x K x H x W x D (at the slices' own size).

    Args:
        input_size: the network's square input size; ``None`` feeds the images at the base size.
        slice_batch: slices of a volume per network call.
        base_size: the square base size S' the images are first resized to; ``None`` keeps their size.
        output_size: the square size of the returned logits; ``None``: the images' size.
    """

    def __init__(
        self,
        input_size: int | None = None,
        slice_batch: int = 16,
        base_size: int | None = None,
        output_size: int | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("base_size", base_size), ("output_size", output_size)):
            if value is not None and value <= 0:
                raise ValueError(f"ResizeInferer: {name} must be positive, got {value}")
        self.input_size, self.slice_batch = input_size, slice_batch
        self.base_size, self.output_size = base_size, output_size

    def network_input(self, inputs: torch.Tensor) -> torch.Tensor:
        """Images B x C x H x W as the network gets them: at ``base_size``, then at ``input_size``."""
        x = inputs if self.base_size is None else network_input(inputs, self.base_size)
        return x if self.input_size is None else network_input(x, self.input_size)

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Run ``network`` on ``inputs``.

        Args:
            inputs: images B x C x H x W, or volumes B x C x H x W x D.
            network: a callable returning logits B x K x h x w.
            args: passed on to ``network``.
            kwargs: passed on to ``network``.

        Returns:
            Logits B x K x H x W (x D), or B x K x ``output_size`` x ``output_size`` for images.
        """
        if inputs.dim() == 5:
            b, c, h, w, d = inputs.shape
            slices = inputs.permute(0, 4, 1, 2, 3).reshape(b * d, c, h, w)
            chunks = slices.split(self.slice_batch)
            logits = torch.cat([self._run(chunk, (h, w), network, *args, **kwargs) for chunk in chunks])
            return logits.reshape(b, d, -1, h, w).permute(0, 2, 3, 4, 1)
        size = (self.output_size,) * 2 if self.output_size is not None else tuple(inputs.shape[-2:])
        return self._run(inputs, size, network, *args, **kwargs)

    def _run(
        self, inputs: torch.Tensor, size: tuple[int, ...], network: Any, *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        """Logits of images B x C x H x W at ``size``."""
        logits = network(self.network_input(inputs), *args, **kwargs)
        if tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits
