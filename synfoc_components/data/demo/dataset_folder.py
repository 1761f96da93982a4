"""A bundle's dataset folder: a prepared dataset is used as is, a missing (or empty) folder gets the demo.

``ensure_demo_dataset`` is what a bundle calls with its ``dataset_dir``: the demo is written in the dataset's public
layout and prepared like real data; anything else in the folder is an error that says how to prepare real data.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from synfoc_components.data.demo.registry import write_demo
from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation import DATALIST, prepare
from synfoc_components.io import staging_folder

__all__ = ["ensure_demo_dataset"]

logger = logging.getLogger(__name__)


def _warn_synthetic(datalist: Path, name: str) -> None:
    logger.warning(
        "\n%s\nSYNTHETIC DEMO DATA in %s: a generated %s phantom, not patient images.\nTrained models and "
        "metrics on it only show that the pipeline runs. For real data run\n  python -m synfoc_components.data "
        "prepare %s --source <downloaded data> --out <dataset_dir>\nand set dataset_dir to it.\n%s",
        "!" * 100, datalist.parent, name, name, "!" * 100,
    )  # fmt: skip


def ensure_demo_dataset(dataset_dir: str, name: str = "prostate", **prepare_options: Any) -> str:
    """Return ``dataset_dir/datalist.json``, generating and preparing the demo dataset there if the folder is new.

    Generation happens in a temporary sibling folder that is moved into place when complete, so concurrent callers
    (e.g. several ranks) and interruptions never leave a half-written dataset behind.

    Args:
        dataset_dir: the bundle's dataset folder.
        name: dataset name (selects the demo and the prepare reader).
        prepare_options: options of the prepare step for the demo (e.g. ``lb_ratio``); a prepared dataset is used
            as it was prepared.

    Returns:
        The datalist path.

    Raises:
        DataError: ``dataset_dir`` exists, is not empty and has no datalist (the message gives the prepare command).
    """
    target = Path(dataset_dir)
    datalist = target / DATALIST
    if datalist.is_file():
        with open(datalist) as stream:
            if json.load(stream).get("synthetic"):
                _warn_synthetic(datalist, name)
        return str(datalist)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DataError(
            target,
            f"no {DATALIST} here. Prepare the data first: python -m synfoc_components.data prepare {name} "
            f"--source <downloaded {name} data> --out {target}  (or point dataset_dir to an empty or new folder "
            "to get the synthetic demo dataset)",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(staging_folder(target.parent, f".{target.name}.demo-"))
    try:
        source = write_demo(name, str(staging / "source"))
        prepare(name, source=source, out=str(staging), **prepare_options)
        try:
            os.replace(staging, target)
        except OSError:
            if not datalist.is_file():  # not a concurrent caller that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _warn_synthetic(datalist, name)
    return str(datalist)
