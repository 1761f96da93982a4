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

from synfoc_components.io import atomic_torch_save, check_writable, remove_stale_temporaries
from synfoc_components.networks.wrappers import unwrap

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
    rhythm as validation, after every other end-of-epoch handler (the save is registered when the run starts), so
    that it includes the validation's best scores and the random state after validation. SIGTERM and Ctrl-C finish
    the current iteration, save, stop the run and exit with status 128 + the signal number. The file is written to
    a temporary name, flushed and renamed, so an interrupted write never replaces a good state (temporaries a killed
    run left are removed at the next start). A non-finite loss raises before anything is saved: the last good state
    stays.

    Put everything whose state a bit-exact resume needs into ``objects``: networks, teachers, optimizers, the
    resumable loaders (their position), the best-model savers (the best validation scores), the report handlers
    (their learning curves). The trainer (iteration, gradient scaler, box copy-paste stream) and the global random
    states are added here.

    Not MONAI's ``CheckpointSaver`` and ``CheckpointLoader``: the saver writes non-atomically (``atomic=False``),
    catches no SIGTERM / Ctrl-C and saves only objects with a ``state_dict`` (not the global random states); the
    loader fails on a missing file instead of starting afresh.

    Args:
        path: the state file, e.g. ``models/train_state.pt``.
        objects: name -> object with ``state_dict`` / ``load_state_dict``.
        resume: load ``path`` when ``attach`` finds it.
        save: write the file (False on ranks other than 0).
    """

    def __init__(self, path: str | os.PathLike, objects: Mapping[str, Any], resume: bool = True, save: bool = True):
        self.path, self.objects = Path(path), dict(objects)
        self.resume, self.save_enabled = resume, save
        self.engine: Engine | None = None
        self.stop_signal: int | None = None
        self._previous: dict[int, Any] = {}

    def attach(self, engine: Engine) -> None:
        """Load the saved state into ``engine`` and the objects if present, then register the saves.

        Raises:
            OSError: the state's folder cannot be written (checked now, not after the first ``val_interval``).
            RuntimeError: the file cannot be read or does not fit the configuration (see :meth:`load`).
        """
        self.engine = engine
        self.objects["trainer"] = engine
        if self.save_enabled:
            check_writable(self.path.parent)
            for stale in remove_stale_temporaries(self.path):
                logger.info("removed %s, left by an interrupted save", stale)
        if self.resume and self.path.is_file():
            self.load()
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.TERMINATE, self.save)
        engine.add_event_handler(Events.COMPLETED, self._completed)
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
            RuntimeError: naming the file and what is wrong: unreadable, or a part that does not fit (another
                backbone, class count, ``val_interval``, or a state written by an older version).
        """
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as err:  # a foreign or damaged file: torch raises many kinds
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RuntimeError(
                f"{self.path}: unreadable training state ({reason}); delete it to start afresh"
            ) from None
        missing = sorted(set(self.objects) - set(state)) if isinstance(state, dict) else ["everything"]
        if missing:
            raise RuntimeError(f"{self.path}: the training state lacks {missing}; delete it to start afresh")
        for name, obj in self.objects.items():
            try:
                _unwrap(obj).load_state_dict(state[name])
            except (RuntimeError, ValueError, KeyError, TypeError) as err:
                raise RuntimeError(
                    f"{self.path}: cannot resume {name!r} from it ({str(err).splitlines()[0]}); it was saved by a "
                    "different configuration (backbone, classes or sizes): delete it or set another bundle_root"
                ) from err
        set_rng_state(state["rng"])
        logger.info("resumed from %s at iteration %d", self.path, self.objects["trainer"].state.iteration)

    def _started(self, engine: Engine) -> None:
        self.stop_signal = None
        if not engine.has_event_handler(self.save, Events.EPOCH_COMPLETED):
            engine.add_event_handler(Events.EPOCH_COMPLETED, self.save)  # last: after validation and best models
        self._catch_signals(engine)

    def _catch_signals(self, engine: Engine) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be caught in the main thread (e.g. not inside MONAI Label's worker threads)

        def stop(signum: int, frame: Any) -> None:
            logger.warning("received %s: finishing the iteration, saving and stopping", signal.Signals(signum).name)
            self.stop_signal = signum
            engine.terminate()

        self._previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}

    def _release_signals(self, engine: Engine | None = None) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def _completed(self, engine: Engine) -> None:
        self._release_signals()
        if self.stop_signal is not None:
            name = signal.Signals(self.stop_signal).name
            logger.warning(
                "stopped by %s at iteration %d; rerun the same command to resume from %s",
                name, engine.state.iteration, self.path,
            )  # fmt: skip
            raise SystemExit(128 + self.stop_signal)

    def _on_exception(self, engine: Engine, error: BaseException) -> None:
        self._release_signals()
        raise error


def _unwrap(obj: Any) -> Any:
    """The module inside DistributedDataParallel and ``torch.compile`` wrappers (plain state dict keys)."""
    return unwrap(obj)
