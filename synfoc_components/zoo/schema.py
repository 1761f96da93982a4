"""Offline ``verify_metadata``: MONAI's check of ``configs/metadata.json`` against the schema this package ships."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

from monai.bundle import verify_metadata

from .problems import Problem

__all__ = ["SCHEMA_PATH", "schema_problems"]

SCHEMA_PATH = Path(__file__).with_name("meta_schema.json")
"""The JSON schema of ``metadata.json`` (package data). MONAI's ``verify_metadata`` downloads the schema named in the
metadata's ``"schema"`` URL only when ``--filepath`` does not exist yet, so passing this file keeps it offline."""


def schema_problems(bundle: str | Path, meta_file: str = "configs/metadata.json") -> list[Problem]:
    """Run ``python -m monai.bundle verify_metadata`` (in process) with :data:`SCHEMA_PATH`.

    Args:
        bundle: the bundle folder.
        meta_file: the metadata file, relative to ``bundle``.

    Returns:
        No problem, or one ``metadata-schema`` problem with MONAI's reason.
    """
    path = Path(bundle) / meta_file
    if not path.is_file():
        return [Problem(meta_file, "required-file", "missing (the MONAI Bundle Specification requires it)")]
    quiet = [logging.getLogger(name) for name in ("monai.bundle.scripts", "monai.apps")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:  # verify_metadata logs its argument summary and the schema download at INFO
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():  # the shipped schema is read, not downloaded: no hash to check
            warnings.filterwarnings("ignore", message="No hash value provided")
            verify_metadata(meta_file=str(path), filepath=str(SCHEMA_PATH))
    except ValueError as err:  # invalid JSON, no "schema" key, or a schema violation
        reason = re.sub(r"\s*against schema `[^`]*`\.?$", "", str(err).strip())  # MONAI names the URL, not the file
        reason = " ".join(reason.split()).removesuffix(" Failed validating").rstrip(".")
        return [Problem(meta_file, "metadata-schema", f"{reason} (checked against {SCHEMA_PATH})")]
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)
    return []
