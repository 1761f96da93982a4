"""A supervised evaluator whose output also carries each sample's domain, case, slice and spacing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from monai.data import MetaTensor
from monai.engines import SupervisedEvaluator
from monai.engines.utils import IterationEvents

__all__ = ["DomainEvaluator", "UNSPECIFIED_DOMAIN"]

UNSPECIFIED_DOMAIN = "all"
"""The domain of samples whose datalist item has none (e.g. MONAI Label's datastore pairs ``{image, label}``)."""


class DomainEvaluator(SupervisedEvaluator):
    """``SupervisedEvaluator`` that copies metadata keys of the batch into ``engine.state.output``.

    The copy happens on ``FORWARD_COMPLETED``, before decollation, so after decollation each per-sample output dict
    has its own ``domain``, ``case``, ``slice`` (and ``spacing``) next to ``image``, ``label`` and ``pred``, for
    ``DomainDice`` and ``DomainMetricsSaver``. Keys missing from a batch are skipped, except that a batch without
    ``domain`` (items with only ``image`` and ``label``, as MONAI Label's training passes them) gets domain
    :data:`UNSPECIFIED_DOMAIN`, the image file's name as ``case`` and slice 0.

    Args:
        meta_keys: the batch keys to copy.
        non_blocking: copy batches to the device asynchronously (MONAI's default is False; with pinned loader memory
            the copy overlaps the host's work, on the CPU it changes nothing).
        kwargs: the arguments of ``monai.engines.SupervisedEvaluator``.
    """

    def __init__(
        self,
        *,
        meta_keys: Sequence[str] = ("domain", "case", "slice", "spacing"),
        non_blocking: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(non_blocking=non_blocking, **kwargs)
        self.meta_keys = tuple(meta_keys)
        self.add_event_handler(IterationEvents.FORWARD_COMPLETED, self._copy_meta)

    def _copy_meta(self, engine: SupervisedEvaluator) -> None:
        batch = engine.state.batch
        if isinstance(batch, dict) and isinstance(engine.state.output, dict):
            engine.state.output.update({k: batch[k] for k in self.meta_keys if k in batch})
            if "domain" in self.meta_keys and "domain" not in batch:
                engine.state.output.update(_unspecified_meta(batch))


def _unspecified_meta(batch: dict) -> dict[str, Any]:
    """``domain``, ``case`` and ``slice`` of a collated batch whose items carry none: one domain, file names."""
    image = batch["image"]
    files = image.meta.get("filename_or_obj") if isinstance(image, MetaTensor) else None
    n = len(image)
    named = isinstance(files, (list, tuple))
    cases = [os.path.basename(str(f)) for f in files] if named else [str(i) for i in range(n)]
    meta = {"domain": [UNSPECIFIED_DOMAIN] * n, "slice": torch.zeros(n, dtype=torch.long)}
    return {"case": cases, **meta} if "case" not in batch else meta
