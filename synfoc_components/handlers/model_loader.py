"""Loading a bare state_dict (``model.pt``) into a network, with errors that name the file and what does not fit."""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events

from synfoc_components.networks.wrappers import unwrap

__all__ = ["ModelLoader"]

logger = logging.getLogger(__name__)

_LISTED = 3


def _listed(names: list[str]) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > _LISTED else ""
    return ", ".join(names[:_LISTED]) + more


class ModelLoader:
    """Loads ``load_path`` into ``network`` when the engine starts (or when called).

    Not MONAI's ``CheckpointLoader``: that one needs an engine, meets a wrong file with torch's own error (no file
    name; a misfit as a page of keys) and cannot load bare keys into a ``torch.compile`` wrapper (``_orig_mod.``).

    Args:
        load_path: a bare state_dict file such as ``models/model.pt``.
        network: the model (DistributedDataParallel and ``torch.compile`` wrappers are unwrapped).
        map_location: where to load the tensors.
        strict: every tensor must match (the bundles' models always do).
    """

    def __init__(
        self, load_path: str | os.PathLike, network: torch.nn.Module, map_location: Any = "cpu", strict: bool = True
    ) -> None:
        self.path, self.network = Path(load_path), network
        self.map_location, self.strict = map_location, strict

    def attach(self, engine: Engine) -> None:
        """Load on ``Events.STARTED``."""
        engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine | None = None) -> None:
        """Load the file.

        Raises:
            FileNotFoundError: no such file (train first, or set ``model_file`` / ``bundle_root``).
            ValueError: the file is not a state dict, or it was saved for another backbone, class count or width.
        """
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: model file not found; train the bundle first or set bundle_root")
        try:
            state = torch.load(self.path, map_location=self.map_location, weights_only=True)
        except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{self.path}: not a readable PyTorch state dict ({reason})") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"{self.path}: not a bare state dict of tensors (as model.pt files are)")
        network = unwrap(self.network)
        own = network.state_dict()
        missing = [k for k in own if k not in state] if self.strict else []
        unexpected = [k for k in state if k not in own] if self.strict else []
        shapes = [
            f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
            for k, v in state.items()
            if k in own and v.shape != own[k].shape
        ]
        found = (("missing", missing), ("unexpected", unexpected), ("file vs model shapes", shapes))
        problems = [f"{what} {_listed(names)}" for what, names in found if names]
        if problems:
            raise ValueError(
                f"{self.path}: does not fit the configured {type(network).__name__} ({'; '.join(problems)}); it was "
                "saved for another backbone, class count or width: use the same settings as in training"
            )
        network.load_state_dict(state, strict=self.strict)
        logger.info("loaded %s into %s", self.path, type(network).__name__)
