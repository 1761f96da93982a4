"""Resumable training state: one file with everything a rerun needs, written atomically, read back on start."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events

from synfoc_components.io import atomic_torch_save

__all__ = ["TrainState", "rng_state", "set_rng_state"]

logger = logging.getLogger(__name__)


def rng_state() -> dict[str, Any]:
    """The global random states: Python, NumPy, torch (CPU and every CUDA device)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainState:
    """Saves the objects of a run every epoch and when asked to stop; resumes from the file when it exists.

    An ignite "epoch" of the SynFoC trainer is ``val_interval`` iterations, so the state is written at the same
    rhythm as validation. SIGTERM and Ctrl-C finish the current iteration, then save and stop. The file is written
    to a temporary name, flushed and renamed, so an interrupted write never replaces a good state. A non-finite
    loss raises before anything is saved: the last good state stays.

    Args:
        path: the state file, e.g. ``models/train_state.pt``.
        objects: name -> object with ``state_dict`` / ``load_state_dict`` (networks, teachers, optimizers, the
            gradient scaler, the box sampler). The trainer itself is added as ``"trainer"``.
        resume: load ``path`` when ``attach`` finds it.
        save: write the file (False on ranks other than 0).
    """

    def __init__(self, path: str | os.PathLike, objects: Mapping[str, Any], resume: bool = True, save: bool = True):
        self.path, self.objects = Path(path), dict(objects)
        self.resume, self.save_enabled = resume, save
        self.engine: Engine | None = None

    def attach(self, engine: Engine) -> None:
        """Load the saved state into ``engine`` and the objects if present, then register the saves."""
        self.engine = engine
        self.objects["trainer"] = engine
        if self.resume and self.path.is_file():
            self.load()
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.save)
        engine.add_event_handler(Events.TERMINATE, self.save)
        engine.add_event_handler(Events.STARTED, self._catch_signals)
        engine.add_event_handler(Events.COMPLETED, self._release_signals)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self._on_exception)

    def state_dict(self) -> dict[str, Any]:
        """Every object's state plus the global random states."""
        state = {name: _unwrap(obj).state_dict() for name, obj in self.objects.items()}
        state["rng"] = rng_state()
        return state

    def save(self, engine: Engine | None = None) -> None:
        """Write the state atomically (no-op when saving is disabled)."""
        if not self.save_enabled:
            return
        atomic_torch_save(self.state_dict(), self.path)
        it = self.engine.state.iteration if self.engine is not None else "?"
        logger.info("saved the training state at iteration %s to %s", it, self.path)

    def load(self) -> None:
        """Restore every object from the file.

        Raises:
            RuntimeError: naming the file and the part that does not fit (another backbone or class count).
        """
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        missing = sorted(set(self.objects) - set(state))
        if missing:
            raise RuntimeError(f"{self.path}: the training state lacks {missing}; delete it to start afresh")
        for name, obj in self.objects.items():
            try:
                _unwrap(obj).load_state_dict(state[name])
            except (RuntimeError, ValueError, KeyError) as err:
                raise RuntimeError(
                    f"{self.path}: cannot resume {name!r} from it ({str(err).splitlines()[0]}); it was saved by a "
                    "different configuration (backbone, classes or sizes): delete it or set another bundle_root"
                ) from err
        set_rng_state(state["rng"])
        logger.info("resumed from %s at iteration %d", self.path, self.objects["trainer"].state.iteration)

    def _catch_signals(self, engine: Engine) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be caught in the main thread (e.g. not inside MONAI Label's worker threads)

        def stop(signum: int, frame: Any) -> None:
            logger.warning("received %s: finishing the iteration, saving and stopping", signal.Signals(signum).name)
            engine.terminate()

        self._previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}

    def _release_signals(self, engine: Engine | None = None) -> None:
        for s, handler in getattr(self, "_previous", {}).items():
            signal.signal(s, handler)
        self._previous = {}

    def _on_exception(self, engine: Engine, error: BaseException) -> None:
        self._release_signals()
        raise error


def _unwrap(obj: Any) -> Any:
    """The module inside a DistributedDataParallel wrapper."""
    return getattr(obj, "module", obj) if isinstance(obj, torch.nn.Module) else obj
