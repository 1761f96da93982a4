"""An ignite progress bar over each epoch that shows the trainer's loss terms, on a terminal only."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from ignite.engine import Engine
from ignite.handlers import ProgressBar

__all__ = ["LossProgressBar"]

logger = logging.getLogger(__name__)


class LossProgressBar:
    """tqdm progress bar of ignite, listing chosen scalars of ``engine.state.output`` (a dict of floats).

    Off a terminal (CI, ``nohup``, a scheduler's log file) a bar would write one carriage-return update per
    iteration into a single line of megabytes, so it is not attached there; the bundles' ``StatsHandler`` logs one
    line every ``log_interval`` iterations instead.

    Args:
        keys: output keys to show; None shows every scalar the trainer returns.
        persist: keep each epoch's finished bar on screen.
        enabled: attach the bar; None (default) attaches it only when standard error, where tqdm writes, is a
            terminal.
    """

    def __init__(self, keys: Sequence[str] | None = None, persist: bool = False, enabled: bool | None = None) -> None:
        self.keys, self.persist, self.enabled = keys, persist, enabled

    def attach(self, engine: Engine) -> None:
        """Attach the bar to ``engine`` (on a terminal, or when ``enabled`` says so)."""
        enabled = self.enabled if self.enabled is not None else sys.stderr.isatty()
        if not enabled:
            logger.info("progress bar off (standard error is not a terminal); losses are logged every log_interval")
            return
        ProgressBar(persist=self.persist).attach(engine, output_transform=self._scalars)

    def _scalars(self, output: dict) -> dict[str, float]:
        keys = output if self.keys is None else self.keys
        return {k: output[k] for k in keys if isinstance(output.get(k), float)}
