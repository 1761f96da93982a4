"""An ignite progress bar over each epoch that shows the trainer's loss terms."""

from __future__ import annotations

from collections.abc import Sequence

from ignite.engine import Engine
from ignite.handlers import ProgressBar

__all__ = ["LossProgressBar"]


class LossProgressBar:
    """tqdm progress bar of ignite, listing chosen scalars of ``engine.state.output`` (a dict of floats).

    Args:
        keys: output keys to show; None shows every scalar the trainer returns.
        persist: keep each epoch's finished bar on screen.
    """

    def __init__(self, keys: Sequence[str] | None = None, persist: bool = False) -> None:
        self.keys, self.persist = keys, persist

    def attach(self, engine: Engine) -> None:
        """Attach the bar to ``engine``."""
        ProgressBar(persist=self.persist).attach(engine, output_transform=self._scalars)

    def _scalars(self, output: dict) -> dict[str, float]:
        keys = output if self.keys is None else self.keys
        return {k: output[k] for k in keys if isinstance(output.get(k), float)}
