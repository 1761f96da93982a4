"""Helpers shared by the PNG dataset reader tests (fundus, M&Ms, BUSI): files, prepared datalists, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synfoc_components.data import prepare

REPO = Path(__file__).resolve().parents[1]
SPLITS = ("labeled", "unlabeled", "val", "test")
"""The datalist's splits, in order."""


def save_png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    """Save ``array`` as a PNG file (``mode`` as ``Image.fromarray`` takes it), making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def read_json(path: str | Path) -> dict:
    """A JSON file's content (e.g. the ``datalist.json`` whose path ``prepare`` returns)."""
    return json.loads(Path(path).read_text())


def prepared(dataset: str, source: Path, out: Path, **options: Any) -> dict:
    """``prepare`` ``dataset`` from ``source`` into ``out`` and return the datalist."""
    return read_json(prepare(dataset, str(source), str(out), **options))


def assert_header(doc: dict, **expected: Any) -> None:
    """Assert the datalist's top-level fields named in ``expected`` (e.g. ``dataset="fundus"``)."""
    assert {key: doc[key] for key in expected} == expected


def read_label(out: Path, item: dict) -> np.ndarray:
    """The prepared label image of datalist ``item`` (paths relative to ``out``)."""
    return np.asarray(Image.open(out / item["label"]))


def prepare_cli(dataset: str, source: Path, out: Path, *options: str) -> dict:
    """Run ``python -m synfoc_components.data prepare`` in a subprocess, check it succeeds, return the datalist."""
    command = [sys.executable, "-m", "synfoc_components.data", "prepare", dataset, "--source", str(source)]
    command += ["--out", str(out), *options]
    done = subprocess.run(command, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return read_json(out / "datalist.json")
