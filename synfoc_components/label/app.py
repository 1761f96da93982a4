"""The ``monaibundle`` sample app, copied out of the installed monailabel wheel, with bundles linked into ``model/``.

MONAI Label names a served model after its folder in ``<app>/model`` and takes the task type from that name, so
bundle ``bundles/prostate`` is linked as ``<app>/model/prostate_segmentation`` (a symbolic link: retraining or
editing the bundle needs no copy). With ``--conf zoo_source github`` an existing folder there is used as it is,
without asking the Model Zoo (docs/install.md "MONAI Label").
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["SAMPLE_APP", "SUFFIX", "copy_app", "link_bundles", "model_name", "linked_models"]

logger = logging.getLogger(__name__)

SAMPLE_APP = "monaibundle"
SUFFIX = "_segmentation"
"""Appended to a bundle's folder name: MONAI Label serves ``*_segmentation`` folders as segmentation models."""
REQUIRED = ("configs/inference.json", "configs/train.json", "configs/metadata.json")


def model_name(bundle: str | os.PathLike) -> str:
    """The MONAI Label model name of a bundle folder: ``bundles/prostate`` -> ``prostate_segmentation``."""
    return Path(bundle).resolve().name + SUFFIX


def copy_app(python: str | os.PathLike, app: str | os.PathLike) -> Path:
    """Copy the ``monaibundle`` sample app of the environment's monailabel into ``app`` (kept if already there).

    Args:
        python: the MONAI Label environment's interpreter.
        app: the app folder to create, e.g. ``apps/monaibundle``.

    Returns:
        The app folder.

    Raises:
        RuntimeError: ``monailabel apps --download`` failed (its output is included).
        FileExistsError: ``app`` exists but is not a MONAI Label app (no ``main.py``).
    """
    app = Path(app).absolute()
    if (app / "main.py").is_file():
        logger.info("MONAI Label app %s exists; kept", app)
        return app
    if app.exists() and any(app.iterdir()):
        raise FileExistsError(f"{app}: exists and is not a MONAI Label app (no main.py); remove it or choose another")
    app.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=app.parent, prefix=".download-") as staging:
        cmd = [str(python), "-m", "monailabel.main", "apps", "--download", "--name", SAMPLE_APP, "--output", staging]
        result = subprocess.run(cmd, capture_output=True, text=True)
        copied = Path(staging) / SAMPLE_APP
        if result.returncode != 0 or not (copied / "main.py").is_file():
            output = result.stdout + result.stderr
            raise RuntimeError(f"copying the {SAMPLE_APP} sample app failed: {' '.join(cmd)}\n{output}")
        if app.exists():
            app.rmdir()
        shutil.move(str(copied), str(app))
    logger.info("copied MONAI Label's %s sample app to %s", SAMPLE_APP, app)
    return app


def link_bundles(app: str | os.PathLike, bundles: list[str | os.PathLike]) -> dict[str, Path]:
    """Link each bundle folder into ``<app>/model`` as ``<name>_segmentation``.

    A link of that name is replaced (it may point to an older location); anything else of that name is an error.

    Returns:
        Model name -> link.

    Raises:
        FileNotFoundError: a bundle lacks one of ``configs/inference.json``, ``train.json``, ``metadata.json``.
        FileExistsError: ``<app>/model/<name>`` exists and is not a link.
    """
    models = Path(app) / "model"
    models.mkdir(parents=True, exist_ok=True)
    linked = {}
    for bundle in bundles:
        target = Path(bundle).resolve()
        missing = [name for name in REQUIRED if not (target / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{target}: not a bundle for MONAI Label, it lacks {', '.join(missing)}")
        link = models / model_name(target)
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise FileExistsError(f"{link}: exists and is not a link to a bundle; remove it to link {target}")
        link.symlink_to(target, target_is_directory=True)
        logger.info("linked %s as MONAI Label model %s", target, link.name)
        linked[link.name] = link
    return linked


def linked_models(app: str | os.PathLike) -> list[str]:
    """Names of the bundles linked into ``<app>/model`` (``*_segmentation``), sorted."""
    models = Path(app) / "model"
    return sorted(p.name for p in models.iterdir() if p.name.endswith(SUFFIX)) if models.is_dir() else []
