"""Keeping the best model of validation: a bare state_dict written atomically with its settings file, its score part
of the train state."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events

from synfoc_components.io import atomic_torch_save, remove_stale_temporaries
from synfoc_components.networks.settings import ModelSettings, settings_file
from synfoc_components.networks.wrappers import plain_state_dict, unwrap

__all__ = ["BestModelSaver"]

logger = logging.getLogger(__name__)


class BestModelSaver:
    """Writes ``network``'s bare ``state_dict`` to ``path`` whenever its evaluator's key metric improves.

    The evaluator (a MONAI ``Workflow`` with a ``key_val_metric``) tracks ``best_metric`` and ``best_metric_epoch``;
    this handler saves when the epoch just completed is the best one, on rank 0, atomically. Its ``state_dict`` is
    that best score: put the handler into ``TrainState``'s objects and a resumed run keeps comparing against the best
    score of the whole run, so a worse first validation after a resume never replaces ``model.pt`` (and the
    ``only_on_best`` reports keep describing the saved model).

    With ``settings``, each save is followed by the settings file (``models/model.settings.json``, see
    :class:`~synfoc_components.networks.ModelSettings`), which records the new weights' SHA-256: inference builds the
    network from it, and a pair not saved together (a save interrupted between the two files) is detected.

    Not MONAI's ``CheckpointSaver(save_key_metric=True, key_metric_filename=...)``: it deletes the old file, then writes
    the new one non-atomically (``atomic=False``), and it resumes its best score only from a ``checkpointer`` entry
    saved inside that file (``key_metric_save_state``), so ``model.pt`` would be no bare state dict.

    Args:
        network: the model to save (DistributedDataParallel and ``torch.compile`` wrappers are unwrapped; the file
            holds the network's own keys, contiguous tensors).
        path: the file, e.g. ``models/model.pt``.
        settings: the settings the network was built with (the configs' ``model_settings``).
    """

    def __init__(
        self, network: torch.nn.Module, path: str | os.PathLike, settings: ModelSettings | None = None
    ) -> None:
        self.network, self.path, self.settings = network, Path(path), settings
        self.engine: Engine | None = None
        self._pending: dict[str, Any] | None = None

    def attach(self, engine: Engine) -> None:
        """Save on ``engine``'s ``EPOCH_COMPLETED`` (after MONAI's key-metric comparison, which runs first)."""
        self.engine = engine
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)
        if idist.get_rank() == 0:
            for written in (self.path, settings_file(self.path)):
                for stale in remove_stale_temporaries(written):
                    logger.info("removed %s, left by an interrupted save", stale)
        if self._pending is not None:
            self.load_state_dict(self._pending)

    def __call__(self, engine: Engine) -> None:
        """Write the model if the epoch just completed is the best so far."""
        if getattr(engine.state, "key_metric_name", None) is None:
            raise ValueError(f"BestModelSaver ({self.path}): the evaluator has no key_val_metric to compare")
        if engine.state.best_metric_epoch != engine.state.epoch or idist.get_rank() != 0:
            return
        atomic_torch_save(plain_state_dict(self.network), self.path)
        if self.settings is not None:
            self.settings.write(self.path, type(unwrap(self.network)).__name__)
        logger.info(
            "saved %s: best %s %.4f at epoch %d",
            self.path, engine.state.key_metric_name, engine.state.best_metric, engine.state.epoch,
        )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """The evaluator's best score and its epoch (-1 before the first validation)."""
        if self.engine is None:
            return dict(self._pending or {"best_metric": -1, "best_metric_epoch": -1})
        return {"best_metric": self.engine.state.best_metric, "best_metric_epoch": self.engine.state.best_metric_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Give the evaluator back its best score (now, or when attached)."""
        if self.engine is None:
            self._pending = dict(state)
            return
        self.engine.state.best_metric = state["best_metric"]
        self.engine.state.best_metric_epoch = state["best_metric_epoch"]
