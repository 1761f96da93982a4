"""MONAI Label's own virtual environment: torch first, then monailabel 0.8.5 without SAM2, then this project.

monailabel 0.8.5 forces numpy 1.26.4 and needs ``pydicom<3``, ``pynetdicom<3`` and ``dicomweb-client<0.60`` to
start, so it cannot share the project's environment. Its ``sam2`` dependency is a source package whose build
installs a second torch (minutes, several GB) and whose model the bundles do not use (the server runs with
``--conf sam2 false``), so monailabel is installed with ``--no-deps`` and its declared requirements are installed
afterwards without ``sam2``, with MONAI's extras reduced to those the server imports (``itk-io`` replaces the
1.6 GB ``itk``). The project's ``requirements.txt`` is installed with them, and the project itself is linked by a
``.pth`` file naming its folder, so the bundles' ``$import synfoc_components`` resolves inside the server and its
training processes.

A stamp file in the environment records what was installed; a second ``setup`` with the same requirements returns
at once, after pointing the ``.pth`` link at the given project. So one environment serves any checkout of the
project (tests keep theirs in a cache folder outside the checkout, and a fresh clone reuses it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["MONAILABEL", "TORCH", "PINS", "ensure_environment", "venv_python"]

logger = logging.getLogger(__name__)

MONAILABEL = "monailabel==0.8.5"
TORCH = ("torch==2.14.1", "torchvision==0.29.1")
"""Installed first and alone: these versions come from the local disk (docs/install.md "Install order")."""
PINS = ("pydicom<3", "pynetdicom<3", "dicomweb-client[gcp]<0.60", "itk-io")
"""What monailabel 0.8.5 needs beside its declared requirements to start (docs/install.md "MONAI Label")."""
MONAI_EXTRAS = "fire,ignite,nibabel,pillow,psutil,skimage,tensorboard,torchvision,tqdm"
"""monailabel's ``monai[...]`` requirement without ``itk``, ``mlflow``, ``openslide``, ``lmdb`` and ``gdown``."""
DROPPED = ("sam2",)
STAMP = ".synfoc-monailabel.json"
LINK = "synfoc_project.pth"
"""The file in the environment's site-packages that puts the project's folder on ``sys.path``."""
_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*(\[[^\]]*\])?(.*)")
"""A requirement string: name, extras, the rest (versions, markers)."""

REPO = Path(__file__).resolve().parents[2]


def venv_bin(venv: str | os.PathLike, name: str) -> Path:
    """The executable ``name`` of virtual environment ``venv``."""
    return Path(venv) / ("Scripts" if os.name == "nt" else "bin") / name


def venv_python(venv: str | os.PathLike) -> Path:
    """The Python interpreter of virtual environment ``venv``."""
    return venv_bin(venv, "python.exe" if os.name == "nt" else "python")


def _run(cmd: list[str], what: str) -> str:
    """Run ``cmd``, log how long it took, and return its stdout.

    Raises:
        RuntimeError: naming ``what`` failed, with the end of pip's output.
    """
    logger.info("%s: %s", what, " ".join(cmd))
    start = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"MONAI Label environment: {what} failed (exit {result.returncode}):\n{tail}")
    logger.info("%s: done in %.0f s", what, time.monotonic() - start)
    return result.stdout


def _monailabel_requirements(python: Path) -> list[str]:
    """monailabel's declared requirements as installed, less ``sam2`` and with MONAI's extras reduced."""
    code = "import importlib.metadata as m, json; print(json.dumps(m.requires('monailabel') or []))"
    declared = json.loads(_run([str(python), "-c", code], "read monailabel's requirements").strip().splitlines()[-1])
    kept = []
    for requirement in declared:
        name, _extras, rest = _REQUIREMENT.match(requirement).groups()
        if name.lower() in DROPPED:
            continue
        kept.append(f"monai[{MONAI_EXTRAS}]{rest}" if name.lower() == "monai" else requirement)
    return kept


def _fingerprint(project: Path) -> str:
    """What decides the environment's contents: the pins above and the project's requirements file."""
    text = json.dumps([MONAILABEL, TORCH, PINS, MONAI_EXTRAS, DROPPED]) + (project / "requirements.txt").read_text()
    return hashlib.sha256(text.encode()).hexdigest()


def _link_project(python: Path, project: Path) -> Path:
    """Point the environment's :data:`LINK` at ``project`` (importable from any working directory); returns
    ``python``."""
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(_run([str(python), "-c", code], "find site-packages").strip().splitlines()[-1])
    (purelib / LINK).write_text(f"{project}\n")
    return python


def ensure_environment(venv: str | os.PathLike, project: str | os.PathLike = REPO, force: bool = False) -> Path:
    """Create (or reuse) the MONAI Label virtual environment ``venv`` and return its Python interpreter.

    Args:
        venv: the environment's folder, e.g. ``.venv-monailabel``.
        project: this repository (its ``requirements.txt`` installed, its folder linked by :data:`LINK`).
        force: reinstall even when the stamp says the environment is complete.

    Returns:
        Path of ``<venv>/bin/python`` (run the server as ``python -m monailabel.main``).

    Raises:
        RuntimeError: a step failed (which one, with pip's last lines), e.g. no package index reachable.
    """
    venv, project = Path(venv).absolute(), Path(project).absolute()
    stamp, fingerprint = venv / STAMP, _fingerprint(project)
    if not force and stamp.is_file() and venv_python(venv).is_file():
        if json.loads(stamp.read_text()).get("fingerprint") == fingerprint:
            logger.info("MONAI Label environment %s is complete (remove it or pass --force to rebuild)", venv)
            return _link_project(venv_python(venv), project)
    start = time.monotonic()
    stamp.unlink(missing_ok=True)
    if not venv_python(venv).is_file():
        _run([sys.executable, "-m", "venv", str(venv)], f"create {venv}")
    python = str(venv_python(venv))
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    _run(pip + list(TORCH), "install torch")
    _run(pip + ["--no-deps", MONAILABEL], "install monailabel")
    requirements = _monailabel_requirements(Path(python)) + list(PINS)
    _run(pip + requirements + ["-r", str(project / "requirements.txt")], "install dependencies")
    _link_project(Path(python), project)
    _run([python, "-c", "import monailabel.main, synfoc_components.networks, segment_anything"], "check imports")
    seconds = round(time.monotonic() - start)
    stamp.write_text(json.dumps({"fingerprint": fingerprint, "setup_seconds": seconds}, indent=1))
    logger.info("MONAI Label environment ready in %s (%d s)", venv, seconds)
    return venv_python(venv)
