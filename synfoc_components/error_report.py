"""One clear last line for a failed command: the error behind MONAI's wrappers, after the usual traceback.

MONAI's bundle runner wraps every error raised while it evaluates a config item (``RuntimeError: Failed to evaluate
...``), and a DataLoader worker re-raises an item's error with the worker's traceback inside the message, so the
traceback's last line rarely says what went wrong. :func:`install_error_report` keeps Python's traceback and then
writes the error behind those wrappers as one line, e.g.
``DataError: data/images/HK/train/03_012.png: unreadable image (image file is truncated)``. The bundles install it first
thing in ``initialize``; our own errors start their message with the file or option at fault, so that line names it.

A process-wide ``sys.excepthook``, not a scoped handler: the last wrapper is raised by MONAI's config runner above
every frame of ours, and Python prints an exception's chain with the outermost last (notes included), so only the
interpreter's top level can write the final line. The hook chains to the one it replaces and only appends that line.
"""

from __future__ import annotations

import sys
from types import TracebackType

__all__ = ["root_cause", "summary_line", "install_error_report"]

_WRAPPER_MESSAGES = ("Failed to evaluate", "Failed to instantiate", "applying transform")
_TRACEBACK_MARKS = ("Traceback (most recent call last)", "Original Traceback (most recent call last)")


def _is_wrapper(error: BaseException) -> bool:
    """Whether ``error`` only wraps its cause: MONAI's config-item and transform wrappers."""
    return (
        error.__cause__ is not None
        and type(error) is RuntimeError
        and str(error).lstrip().startswith(_WRAPPER_MESSAGES)
    )


def root_cause(error: BaseException) -> BaseException:
    """The error behind the framework's wrappers: MONAI's ``Failed to evaluate`` / ``Failed to instantiate`` (config
    items) and ``applying transform`` (transforms) errors are followed to their cause; any other error is kept, so
    that our own errors, which wrap low-level ones with a message naming the file, are what is reported.

    Args:
        error: any exception.

    Returns:
        The first exception of the explicit cause chain that is not such a wrapper.
    """
    seen = {id(error)}
    while _is_wrapper(error) and id(error.__cause__) not in seen:
        error = error.__cause__  # type: ignore[assignment]
        seen.add(id(error))
    return error


def summary_line(error: BaseException) -> str:
    """One line saying what went wrong: ``<Type>: <first line of the root cause's message>``.

    A message that embeds a traceback (a DataLoader worker's re-raised error) gives the embedded traceback's last
    line instead, which is the original ``<Type>: <message>``.

    Args:
        error: any exception.

    Returns:
        The line, without a newline.
    """
    root = root_cause(error)
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    if any(mark in str(root) for mark in _TRACEBACK_MARKS) and lines:
        return lines[-1]
    return f"{type(root).__name__}: {lines[0]}" if lines else type(root).__name__


def _needs_summary(error: BaseException) -> bool:
    """Whether Python's own last traceback line would not already be the summary (a chained or multi-line error)."""
    return root_cause(error) is not error or len(str(error).strip().splitlines()) > 1


def install_error_report() -> None:
    """Make uncaught errors end with :func:`summary_line` (after the usual traceback); safe to call repeatedly."""
    if getattr(sys.excepthook, "_synfoc_report", False):
        return
    previous = sys.excepthook

    def report(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        previous(kind, error, trace)
        if isinstance(error, Exception) and _needs_summary(error):
            sys.stderr.write(summary_line(error) + "\n")
            sys.stderr.flush()

    report._synfoc_report = True  # type: ignore[attr-defined]
    sys.excepthook = report
