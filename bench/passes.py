"""The network work one SynFoC iteration contains, and nothing else: the denominator of the overhead ratio."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import ContextManager

import torch

from synfoc_components.resize import network_input

from .workload import Models, Setting

__all__ = ["ModelPasses"]


class ModelPasses:
    """Runs exactly the passes of one iteration on prepared inputs, with no loss, pseudo-label or resizing work.

    Per call: SAM teacher and U-Net teacher forwards on the weak unlabeled view and the student U-Net's no-grad
    forward on it (BatchNorm statistics update, as in the iteration); the student SAM forward on the concatenated
    labeled + mixed batch and the two student U-Net forwards; one backward through both students (fixed small output
    gradients stand in for the loss); both optimizer steps. Everything the iteration does besides these (resizing,
    softmax / argmax, confidence, pseudo-labels, box mixing, losses, EMA, logging) is its overhead.

    Args:
        models: the networks and optimizers (shared with the trainer being compared).
        setting: sizes and autocast.
        labeled: labeled host batch (``image``).
        unlabeled: unlabeled host batch (``image``, ``image_strong``).
        device: the networks' device.
        set_to_none: ``zero_grad(set_to_none=...)`` as the trainer does (MONAI's default False).
        channels_last: feed the U-Nets channels-last inputs, as the trainer does with ``channels_last``.
    """

    def __init__(
        self,
        models: Models,
        setting: Setting,
        labeled: dict,
        unlabeled: dict,
        device: torch.device,
        set_to_none: bool = False,
        channels_last: bool = False,
    ) -> None:
        self.models, self.setting, self.device, self.set_to_none = models, setting, device, set_to_none
        x, u_weak, u_strong = (t.to(device) for t in (labeled["image"], unlabeled["image"], unlabeled["image_strong"]))
        s, r = setting.sam_size, setting.unet_size
        unet_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weak_sam = network_input(u_weak, s).contiguous()
        self.weak_unet = network_input(u_weak, r).contiguous(memory_format=unet_format)
        # box mixing changes no cost
        self.sam_batch = torch.cat([network_input(x, s), network_input(u_strong, s)]).contiguous()
        self.x_unet = network_input(x, r).contiguous(memory_format=unet_format)
        self.mixed_unet = network_input(u_strong, r).contiguous(memory_format=unet_format)
        self._grads: list[torch.Tensor] | None = None
        #: called with a pass's name around it (e.g. to count its FLOPs); None: no wrapping
        self.section: Callable[[str], ContextManager] | None = None
        #: run the backward as two calls, SAM's and the U-Net's (for per-network counts)
        self.split_backward = False

    def _part(self, name: str) -> ContextManager:
        return self.section(name) if self.section is not None else contextlib.nullcontext()

    def _autocast(self) -> ContextManager:
        if not self.setting.amp:
            return contextlib.nullcontext()  # (autocast does not accept the meta device at all)
        return torch.autocast(self.device.type, dtype=getattr(torch, self.setting.amp_dtype))

    def __call__(self) -> None:
        m = self.models
        for net in (m.sam, m.unet, m.sam_teacher, m.unet_teacher):
            net.train()
        m.sam_optimizer.zero_grad(set_to_none=self.set_to_none)
        m.unet_optimizer.zero_grad(set_to_none=self.set_to_none)
        with torch.no_grad(), self._autocast():
            with self._part("SAM teacher forward"):
                m.sam_teacher(self.weak_sam)
            with self._part("U-Net teacher forward"):
                m.unet_teacher(self.weak_unet)
            with self._part("U-Net student no-grad forward"):
                m.unet(self.weak_unet)
        with self._autocast():
            with self._part("SAM student forward"):
                outputs = [m.sam(self.sam_batch)]
            with self._part("U-Net student forwards"):
                outputs += [m.unet(self.x_unet), m.unet(self.mixed_unet)]
        if self._grads is None:  # first call (a warm-up): gradients of a mean-like loss, fixed from then on
            g = torch.Generator().manual_seed(0)
            self._grads = [(torch.randn(o.shape, generator=g) / o.numel()).to(self.device, o.dtype) for o in outputs]
        if self.split_backward:  # the two students share no parameters: same work, counted per network
            with self._part("SAM student backward"):
                torch.autograd.backward(outputs[:1], self._grads[:1])
            with self._part("U-Net student backward"):
                torch.autograd.backward(outputs[1:], self._grads[1:])
        else:
            with self._part("backward"):
                torch.autograd.backward(outputs, self._grads)
        with self._part("optimizer steps"):
            m.sam_optimizer.step()
            m.unet_optimizer.step()
