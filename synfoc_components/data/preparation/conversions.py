"""Counting the silent fixes applied to source files (16-bit rescaling, RGBA to gray, ...) and saying so."""

from __future__ import annotations

import logging
import os
from collections import Counter

__all__ = ["Conversions"]

logger = logging.getLogger(__name__)


class Conversions:
    """Logs the first file of every kind of conversion at warning level and counts the rest.

    A dataset of thousands of RGBA files then yields one warning and one summary line, not thousands.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def note(self, path: str | os.PathLike, what: str) -> None:
        """Record that ``path`` needed the conversion ``what``.

        Args:
            path: the converted file.
            what: the conversion, e.g. ``"RGBA image converted to 8-bit gray"``.
        """
        if not self.counts[what]:
            logger.warning("%s: %s (further files with this conversion are only counted)", path, what)
        self.counts[what] += 1

    def summary(self) -> None:
        """Log one warning line per kind of conversion with its file count."""
        for what, count in sorted(self.counts.items()):
            logger.warning("%d file(s): %s", count, what)
