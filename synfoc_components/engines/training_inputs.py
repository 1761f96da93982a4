"""The students' inputs of a SynFoC iteration: batches on the device, the endless unlabeled stream, and the images,
labels and boxes at each network's size with the labeled boxes pasted into the strong views (docs/method.md 3.1, 3.6).

Images go through :func:`synfoc_components.resize.network_input` (bilinear, antialiased), as at evaluation and
inference; labels and boxes are resized nearest-exact, on the images' pixel centres.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import torch
from monai.data import MetaTensor
from torch.utils.data import DataLoader

from synfoc_components.resize import network_input, resize, resize_labels
from synfoc_components.transforms.box_mix import BoxMaskSampler, box_mix

__all__ = [
    "StudentInputs",
    "check_paired",
    "next_batch",
    "student_inputs",
    "supervised_inputs",
    "targets",
    "to_device",
    "unet_format",
]

EXACT = "nearest-exact"
"""How labels and boxes are resized: on pixel centres, as :func:`network_input` resizes the images."""


def to_device(
    batch: Mapping[str, torch.Tensor], keys: Sequence[str], device: torch.device | str, non_blocking: bool
) -> list[torch.Tensor]:
    """The entries ``keys`` of ``batch`` as plain tensors on ``device`` (``non_blocking``: asynchronous copies from
    pinned memory)."""
    plain = [x.as_tensor() if isinstance(x, MetaTensor) else x for x in (batch[k] for k in keys)]
    return [x.to(device, non_blocking=non_blocking) for x in plain]


def unet_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``x`` in the U-Nets' memory format (channels-last when ``channels_last``)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def supervised_inputs(
    x: torch.Tensor, sam_size: int, unet_size: int, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images B x C x S' x S' at the base size as the students' inputs: (at the SAM size S, at the U-Net size R in
    the U-Nets' memory format)."""
    return network_input(x, sam_size), unet_format(network_input(x, unet_size), channels_last)


def targets(y: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """Labels B x 1 x S' x S' (or B x S' x S') at ``size``, nearest-exact: the targets of the resized images."""
    return resize_labels(y, size, EXACT)


def next_batch(loader: DataLoader, iterator: Iterator | None) -> tuple[dict, Iterator]:
    """The next batch of a loader without end: ``iterator`` (None at first) restarted when it is spent.

    Args:
        loader: the data loader (e.g. the unlabeled one, cycled independently of the labeled epochs).
        iterator: the loader's current iterator, or None.

    Returns:
        The batch and the iterator to pass next time.
    """
    if iterator is not None:
        try:
            return next(iterator), iterator
        except StopIteration:
            pass
    iterator = iter(loader)
    return next(iterator), iterator


def check_paired(labeled: torch.Tensor, unlabeled: torch.Tensor) -> None:
    """Check that the labeled and unlabeled batches pair up image for image, as box copy-paste needs.

    Raises:
        ValueError: when their batch sizes differ.
    """
    if labeled.shape[0] != unlabeled.shape[0]:
        raise ValueError(
            f"labeled and unlabeled batches must pair up for copy-paste: got {labeled.shape[0]} and "
            f"{unlabeled.shape[0]} images (use equal batch sizes and drop_last=True)"
        )


class StudentInputs(NamedTuple):
    """The students' inputs and targets of one semi-supervised iteration (B labeled, B unlabeled images).

    ``sam``: labeled then mixed images at S (2B x C x S x S); ``unet_x`` / ``unet_mix``: labeled / mixed images at R;
    ``y_small`` / ``y_unet``: labels B x L x L / B x R x R; ``box`` / ``box_small``: box masks B x 1 at R / L.
    """

    sam: torch.Tensor
    unet_x: torch.Tensor
    unet_mix: torch.Tensor
    y_small: torch.Tensor
    y_unet: torch.Tensor
    box: torch.Tensor
    box_small: torch.Tensor


def student_inputs(
    x: torch.Tensor,
    y: torch.Tensor,
    u_strong: torch.Tensor,
    box_sampler: BoxMaskSampler,
    sam_size: int,
    unet_size: int,
    logit_size: tuple[int, int],
    channels_last: bool = False,
) -> StudentInputs:
    """Resize a labeled batch and the strong unlabeled views to both networks and paste labeled boxes in (one box per
    image pair, drawn at the U-Net size R).

    Args:
        x: labeled images B x C x S' x S' at the base size.
        y: their labels B x 1 x S' x S'.
        u_strong: strong unlabeled views B x C x S' x S'.
        box_sampler: draws the boxes (from its own random stream).
        sam_size: the SAM input size S.
        unet_size: the U-Net size R.
        logit_size: the SAM logits' size L.
        channels_last: the U-Net inputs channels-last.

    Returns:
        :class:`StudentInputs`.

    Raises:
        ValueError: when the labeled and unlabeled batch sizes differ.
    """
    check_paired(x, u_strong)
    box = box_sampler(x.shape[0], unet_size, x.device)
    box_small, box_sam = resize(box, logit_size, EXACT), resize(box, sam_size, EXACT)
    x_sam, x_unet = network_input(x, sam_size), network_input(x, unet_size)
    mixed_sam = box_mix(network_input(u_strong, sam_size), x_sam, box_sam)
    mixed_unet = box_mix(network_input(u_strong, unet_size), x_unet, box)
    return StudentInputs(
        sam=torch.cat([x_sam, mixed_sam]),
        unet_x=unet_format(x_unet, channels_last),
        unet_mix=unet_format(mixed_unet, channels_last),
        y_small=targets(y, logit_size)[:, 0],
        y_unet=targets(y, unet_size)[:, 0],
        box=box,
        box_small=box_small,
    )
