"""What a Model Zoo check reports: one problem names the file, the rule it breaks and what is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Problem", "ZooCheckError"]


@dataclass(frozen=True)
class Problem:
    """One broken rule.

    Attributes:
        path: the file, relative to the bundle folder (e.g. ``configs/metadata.json``).
        rule: a short rule name (e.g. ``version-changelog``).
        message: what is wrong and how to fix it.
    """

    path: str
    rule: str
    message: str

    def describe(self, bundle: str | Path) -> str:
        """``<bundle>/<path>: [<rule>] <message>``."""
        return f"{Path(bundle) / self.path}: [{self.rule}] {self.message}"


class ZooCheckError(ValueError):
    """A bundle breaks Model Zoo rules; the message lists every problem, one a line.

    Args:
        bundle: the bundle folder.
        problems: what is wrong.
    """

    def __init__(self, bundle: str | Path, problems: Sequence[Problem]) -> None:
        self.bundle, self.problems = Path(bundle), list(problems)
        lines = "\n".join(f"  {p.describe(bundle)}" for p in self.problems)
        super().__init__(f"{bundle} breaks {len(self.problems)} Model Zoo rule(s):\n{lines}")
