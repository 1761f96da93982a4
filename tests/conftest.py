"""Shared test set-up."""

from __future__ import annotations

import logging

import pytest


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
