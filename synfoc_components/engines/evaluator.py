"""A supervised evaluator whose output also carries each sample's domain, case, slice and spacing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monai.engines import SupervisedEvaluator
from monai.engines.utils import IterationEvents

__all__ = ["DomainEvaluator"]


class DomainEvaluator(SupervisedEvaluator):
    """``SupervisedEvaluator`` that copies metadata keys of the batch into ``engine.state.output``.

    The copy happens on ``FORWARD_COMPLETED``, before decollation, so after decollation each per-sample output dict
    has its own ``domain``, ``case``, ``slice`` (and ``spacing``) next to ``image``, ``label`` and ``pred``, for
    ``DomainDice`` and ``DomainMetricsSaver``. Keys missing from a batch are skipped.

    Args:
        meta_keys: the batch keys to copy.
        kwargs: the arguments of ``monai.engines.SupervisedEvaluator``.
    """

    def __init__(self, *, meta_keys: Sequence[str] = ("domain", "case", "slice", "spacing"), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.meta_keys = tuple(meta_keys)
        self.add_event_handler(IterationEvents.FORWARD_COMPLETED, self._copy_meta)

    def _copy_meta(self, engine: SupervisedEvaluator) -> None:
        batch = engine.state.batch
        if isinstance(batch, dict) and isinstance(engine.state.output, dict):
            engine.state.output.update({k: batch[k] for k in self.meta_keys if k in batch})
