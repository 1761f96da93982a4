"""The loss progress bar: a bar on a terminal, nothing off one (a log file gets StatsHandler's lines instead)."""

from __future__ import annotations

import io
import sys

import pytest
from ignite.engine import Engine

from synfoc_components.handlers import LossProgressBar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, iterations: int = 300) -> str:
    monkeypatch.setattr(sys, "stderr", stream)
    engine = Engine(lambda engine, batch: {"loss": 0.5, "sup_sam": 0.25})
    LossProgressBar().attach(engine)
    engine.run(range(iterations), max_epochs=1)
    return stream.getvalue()


def test_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    written = _run(monkeypatch, _Terminal())
    assert "\r" in written and "loss" in written


def test_no_bar_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(monkeypatch, io.StringIO()) == ""
