"""Atomic report writers: ``metrics.json`` and ``metrics.csv`` merged per model name.

Every file is written to a temporary file in the same folder, flushed, fsynced and moved over the target with
``os.replace``, so readers never see a half-written report and a failed write leaves the old file intact. Merging is
read-modify-write: it is safe for evaluations that run one after the other (the SAM then the U-Net student), not for
two processes writing the same file at the same moment.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from synfoc_components.io import atomic_write

__all__ = ["atomic_write", "merge_json", "merge_csv", "write_csv"]  # atomic_write re-exported from synfoc_components.io

logger = logging.getLogger(__name__)


def _json_safe(value: Any) -> Any:
    """NaN / inf become ``None`` (strict JSON); containers are converted recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _read_existing(path: str, read: Callable[[IO], Any], default: Any) -> Any:
    """Read ``path`` with ``read``, or return ``default`` (with a warning when the file exists but is unreadable)."""
    if not os.path.exists(path):
        return default
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return read(f)
    except (OSError, ValueError, csv.Error) as e:
        logger.warning(f"{path}: cannot read the existing report ({e}); it will be replaced")
        return default


def merge_json(path: str | os.PathLike, key: str, value: Mapping) -> dict:
    """Set ``key`` (a model name) in the JSON object stored at ``path``, keeping the other keys.

    Args:
        path: the JSON file, e.g. ``<output_dir>/metrics.json``.
        key: the model name, e.g. ``"sam"``.
        value: the model's report (NaN becomes ``null``).

    Returns:
        The whole merged object as written.
    """
    path = os.fspath(path)
    data = _read_existing(path, json.load, {})
    data = data if isinstance(data, dict) else {}
    data[key] = _json_safe(value)
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2, sort_keys=False) + "\n"))
    return data


def merge_csv(path: str | os.PathLike, rows: Sequence[Mapping], model: str, key_column: str = "model") -> None:
    """Replace the rows of ``model`` in the CSV at ``path`` by ``rows``, keeping other models' rows.

    Columns are the union of the existing header and the new rows' keys, in first-seen order; NaN and ``None`` are
    written as empty cells.

    Args:
        path: the CSV file, e.g. ``<output_dir>/metrics.csv``.
        rows: the new rows, each with ``key_column`` equal to ``model``.
        model: the model whose rows are replaced.
        key_column: the column holding the model name.
    """
    path = os.fspath(path)
    kept = [r for r in _read_existing(path, lambda f: list(csv.DictReader(f)), []) if r.get(key_column) != model]

    def cell(v: Any) -> Any:
        return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v

    write_csv(path, [{k: cell(v) for k, v in r.items()} for r in (*kept, *rows)])


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping]) -> None:
    """Write ``rows`` as a CSV file at ``path``, atomically; the columns are the rows' keys in first-seen order
    (a row without a column gets an empty cell).

    Args:
        path: the CSV file.
        rows: the rows.
    """
    columns = list(dict.fromkeys(k for r in rows for k in r))

    def write(f: IO) -> None:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)

    atomic_write(path, write)
