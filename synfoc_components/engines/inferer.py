"""An inferer that runs a network at its own input size and returns logits at the input's size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from monai.inferers import Inferer

__all__ = ["ResizeInferer"]


class ResizeInferer(Inferer):
    """Resize the images to the network's input size, run it, and resize its logits back to the images' size.

    The SAM adapter takes S x S images and returns logits at S / 4; the U-Net takes and returns R x R. With
    ``input_size=S`` (SAM) or ``None`` (U-Net) both give logits at the evaluation resolution of the batch, so
    predictions are compared with labels at R (docs/method.md 5). Works wherever an ``Inferer`` is expected (evaluators,
    MONAI Label's ``BundleInferTask``).

    A volume (B x C x H x W x D, e.g. a NIfTI image) is segmented slice by slice along its last axis, in chunks of
    ``slice_batch`` slices, and comes back as B x K x H x W x D.

    Args:
        input_size: the network's square input size; ``None`` feeds the images as they are.
        slice_batch: slices of a volume per network call.
    """

    def __init__(self, input_size: int | None = None, slice_batch: int = 16) -> None:
        super().__init__()
        if input_size is not None and input_size <= 0:
            raise ValueError(f"ResizeInferer: input_size must be positive, got {input_size}")
        self.input_size, self.slice_batch = input_size, slice_batch

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Run ``network`` on ``inputs``.

        Args:
            inputs: images B x C x H x W, or volumes B x C x H x W x D.
            network: a callable returning logits B x K x h x w.
            args: passed on to ``network``.
            kwargs: passed on to ``network``.

        Returns:
            Logits B x K x H x W (x D): bilinear resizing (antialiased when shrinking) around the network.
        """
        if inputs.dim() == 5:
            b, c, h, w, d = inputs.shape
            slices = inputs.permute(0, 4, 1, 2, 3).reshape(b * d, c, h, w)
            logits = torch.cat([self(chunk, network, *args, **kwargs) for chunk in slices.split(self.slice_batch)])
            return logits.reshape(b, d, -1, h, w).permute(0, 2, 3, 4, 1)
        size = tuple(inputs.shape[-2:])
        x = inputs
        if self.input_size is not None and size != (self.input_size, self.input_size):
            shrink = self.input_size < max(size)
            x = F.interpolate(x, size=(self.input_size,) * 2, mode="bilinear", align_corners=False, antialias=shrink)
        logits = network(x, *args, **kwargs)
        if tuple(logits.shape[-2:]) != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits
