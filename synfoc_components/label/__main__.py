"""Command line: ``python -m synfoc_components.label {setup,studies,start}`` (a ``fire`` CLI).

Examples (from the repository root, with the project's environment active)::

    python -m synfoc_components.label setup --venv .venv-monailabel --app apps/monaibundle --bundles bundles/prostate
    python -m synfoc_components.label studies --datalist bundles/prostate/data/datalist.json --out datasets/prostate
    python -m synfoc_components.label start --venv .venv-monailabel --app apps/monaibundle --studies datasets/prostate
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import fire

from synfoc_components.label.app import copy_app, link_bundles, linked_models
from synfoc_components.label.environment import ensure_environment, venv_python
from synfoc_components.label.server import server_command
from synfoc_components.label.studies import write_studies

logger = logging.getLogger("synfoc_components.label")


def setup(
    venv: str = ".venv-monailabel",
    app: str = "apps/monaibundle",
    bundles: str | list[str] | tuple[str, ...] = ("bundles/prostate",),
    force: bool = False,
) -> str:
    """Create MONAI Label's environment, copy the ``monaibundle`` app and link the bundles as ``<name>_segmentation``.

    Args:
        venv: the environment's folder (reused when complete; about 3 minutes to build).
        app: the app folder.
        bundles: bundle folders, e.g. ``bundles/prostate`` or ``"[bundles/prostate,bundles/fundus]"``.
        force: rebuild the environment.

    Returns:
        The served model names, comma separated.
    """
    bundles = [bundles] if isinstance(bundles, str) else list(bundles)
    python = ensure_environment(venv, force=force)
    copy_app(python, app)
    names = ",".join(link_bundles(app, bundles))
    logger.info("MONAI Label is set up; start it with: python -m synfoc_components.label start --venv %s --app %s "
                "--studies <folder of images>", venv, app)  # fmt: skip
    return names


def studies(datalist: str, out: str, labeled: int = 8, unlabeled: int = 4) -> str:
    """Fill a MONAI Label studies folder from a prepared ``datalist.json`` (labeled images with their labels).

    Args:
        datalist: e.g. ``bundles/prostate/data/datalist.json`` (written by the first training or by ``prepare``).
        out: the studies folder.
        labeled: images of the ``labeled`` split, copied with labels into ``labels/final``.
        unlabeled: images of the ``test`` split, copied without labels.
    """
    return str(write_studies(datalist, out, labeled=labeled, unlabeled=unlabeled))


def start(
    studies: str,
    venv: str = ".venv-monailabel",
    app: str = "apps/monaibundle",
    host: str = "127.0.0.1",
    port: int = 8000,
    models: str | None = None,
    skip_trainers: bool = False,
) -> None:
    """Run the MONAI Label server in this process (it replaces this command) until stopped with Ctrl-C.

    Args:
        studies: the datastore folder (images; labels in ``labels/final``).
        venv: the environment made by ``setup``.
        app: the app made by ``setup``.
        host: address to listen on (loopback by default; ``0.0.0.0`` serves the network).
        port: TCP port.
        models: comma-separated model names; all linked ``*_segmentation`` bundles by default.
        skip_trainers: serve inference only.

    Raises:
        FileNotFoundError: the environment, the app or the studies folder is missing (run ``setup`` first).
    """
    python, app, studies = venv_python(Path(venv).absolute()), Path(app).absolute(), Path(studies).absolute()
    for path, what in ((python, "MONAI Label environment"), (app / "main.py", "MONAI Label app")):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no {what}; run python -m synfoc_components.label setup first")
    if not studies.is_dir():
        raise FileNotFoundError(f"{studies}: no studies folder (a folder of images; see the 'studies' command)")
    names = models.split(",") if models else linked_models(app)
    conf = {"skip_trainers": "true"} if skip_trainers else {}
    cmd = server_command(python, app, studies, names, host=host, port=port, conf=conf)
    logger.info("%s", " ".join(cmd))
    sys.stdout.flush()
    os.execv(cmd[0], cmd)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a missing file or a failed step is reported as one error line and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    commands = {"setup": setup, "studies": studies, "start": start}
    try:
        fire.Fire(commands, command=argv, name="python -m synfoc_components.label")
    except (ValueError, OSError, RuntimeError) as err:
        logger.error("%s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
