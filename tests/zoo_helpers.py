"""Helpers of the Model Zoo tests: the bundle folders, running real commands, copies and demo-like images."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch

from synfoc_components.zoo.__main__ import main as zoo_main

REPO = Path(__file__).resolve().parents[1]
BUNDLE_DIRS = sorted(p.parents[1] for p in (REPO / "bundles").glob("*/configs/metadata.json"))
"""Every bundle folder (``bundles/<name>`` with ``configs/metadata.json``): new bundles are tested automatically."""

BUNDLE_IDS = [p.name for p in BUNDLE_DIRS]

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
"""Commands run on one thread (the machine is shared) and import this checkout's ``synfoc_components``."""


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python <args>`` from the repository root; stdout and stderr captured as text."""
    cmd = [sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=ENV)


def output(result: subprocess.CompletedProcess) -> str:
    """The end of a command's stdout and stderr, for assertion messages."""
    return result.stdout[-3000:] + result.stderr[-3000:]


def packaged_and_unzipped(bundle: Path, work: Path, *package_options: str) -> Path:
    """Share a trained ``bundle`` as its sender would (``zoo describe``, then ``zoo package`` into ``work/dist``) and
    unzip the archive under ``work/receiver``; returns the unzipped bundle folder.

    The two commands run in this process (``main`` of ``python -m synfoc_components.zoo``, which exits with status 2
    on a broken rule); ``test_zoo.py`` and ``test_zoo_trained.py`` run them as commands."""
    for verb in (["describe", str(bundle)], ["package", str(bundle), "--out", str(work / "dist"), *package_options]):
        zoo_main(verb)
    with zipfile.ZipFile(next((work / "dist").glob(f"{bundle.name}_v*.zip"))) as archive:
        archive.extractall(work / "receiver")
    return work / "receiver" / bundle.name


def copy_bundle(bundle: Path, to: Path) -> Path:
    """A copy of what the repository holds of ``bundle`` (no models, data or reports), named like it, under ``to``."""
    target = to / bundle.name
    shutil.copytree(bundle, target, ignore=shutil.ignore_patterns("data", "eval", "*.pt", "*.ts", "__pycache__"))
    return target


def demo_like_images(count: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    """Images like the demos': a bright smooth-edged ellipse (the organ) in a darker textured field, in [0, 1].

    Returns:
        ``count`` x ``channels`` x ``size`` x ``size`` float32.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    images = []
    for _ in range(count):
        cx, cy, rx, ry = rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), rng.uniform(0.2, 0.4), rng.uniform(0.2, 0.4)
        organ = 1 / (1 + np.exp(((xx - cx) ** 2 / rx**2 + (yy - cy) ** 2 / ry**2 - 1) * 12))
        field = 0.25 + 0.1 * np.sin(3 * xx + rng.uniform(0, 6)) * np.cos(2 * yy + rng.uniform(0, 6))
        image = field + 0.55 * organ + rng.normal(0, 0.04, (size, size))
        images.append(np.repeat(image[None], channels, axis=0) * rng.uniform(0.8, 1.0, (channels, 1, 1)))
    return torch.from_numpy(np.clip(np.stack(images), 0, 1).astype(np.float32))
