"""Shared test set-up."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_logging():
    """Give every test enabled loggers and restore their levels afterwards.

    An in-process ``monai.bundle run`` applies ``logging.conf`` with ``logging.config.fileConfig`` (whose default
    ``disable_existing_loggers=True`` switches off every logger created before it), and the benchmarks raise library
    log levels to keep their tables readable; tests that read log records with ``caplog`` must not inherit either.
    """
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for logger in loggers:
        logger.disabled = False
    levels = {logger: logger.level for logger in loggers}
    yield
    for logger in logging.root.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(logger, logging.NOTSET))  # loggers made during the test: back to NOTSET


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    """Reset TorchDynamo after every test that imported it (``torch.compile``).

    What a compiled run leaves in the process makes later plain runs recompile network calls: a tiny trainer of
    ``test_trainer.py`` takes 0.3 s before any ``torch.compile`` in the process and 34 s after one.
    """
    yield
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None:
        dynamo.reset()


class DemoDataset(NamedTuple):
    """A generated demo dataset: its folder, the datalist path its generation returned, what it logged."""

    folder: Path
    datalist: str
    log: str


class _Messages(logging.Handler):
    """Keeps the messages of the records it handles."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="session")
def prostate_demo(tmp_path_factory) -> DemoDataset:
    """The prostate demo dataset (default sizes, about 14 s), generated once per session as the prostate bundle's
    ``train.json`` generates it in a new ``dataset_dir`` (its ``datalist`` expression, ``ensure_demo_dataset``).

    Tests read it or copy it (e.g. into a bundle root's ``data/``, where the bundle then uses it as it is); none
    changes it.
    """
    from monai.bundle import ConfigParser

    root = tmp_path_factory.mktemp("prostate_demo")
    parser = ConfigParser()
    parser.read_config(str(REPO / "bundles" / "prostate" / "configs" / "train.json"))
    parser.update({"bundle_root": str(root)})
    logger, handler = logging.getLogger("synfoc_components"), _Messages()
    level, logger.disabled = logger.level, False
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        datalist = parser.get_parsed_content("datalist")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return DemoDataset(root / "data", datalist, "\n".join(handler.messages))
