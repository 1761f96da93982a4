"""The one error type of the data side: a file or an option that cannot be used, named with what is wrong."""

from __future__ import annotations

import os

__all__ = ["DataError"]


class DataError(ValueError):
    """A source file, folder or option is unusable.

    The message reads ``"<path or option>: <what is wrong>"`` so that a user can fix the right thing.

    Args:
        where: the offending file, folder or option.
        problem: what is wrong with it.
    """

    def __init__(self, where: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem
