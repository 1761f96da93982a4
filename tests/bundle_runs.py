"""Helpers shared by the reliability tests: a tiny prepared dataset and running the prostate bundle's commands."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from synfoc_components.data import prepare

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "bundles" / "prostate" / "configs"
TINY = [
    "--foundation", "tiny", "--sam_size", "64", "--sam_logit_stride", "4", "--unet_size", "64",
    "--unet_channels", "4", "--num_workers", "0", "--batch_size", "2", "--log_interval", "1",
]  # fmt: skip


@contextlib.contextmanager
def one_torch_thread():
    """One intra-op thread in this process, as the bundle commands get (``ONE_THREAD``): the same numerics, and
    tiny models run far faster on one thread of a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def write_source(root: Path, domains: tuple[str, ...] = ("A", "B"), cases: int = 3, size: int = 40) -> Path:
    """A small ``folder`` source: per domain ``cases`` train cases of 2 slices and 1 test case; masks hold 0/1."""
    rng = np.random.default_rng(0)
    for d, domain in enumerate(domains):
        for c in range(cases + 1):
            split = "train" if c < cases else "test"
            for k in range(2):
                mask = np.zeros((size, size), np.uint8)
                top, left = rng.integers(4, size // 2, 2)
                mask[top : top + 12 + k, left : left + 10 + c] = 1
                image = (rng.normal(60 + 20 * d, 10, mask.shape) + 120 * mask).clip(0, 255).astype(np.uint8)
                for folder, array in (("image", image), ("mask", mask)):
                    path = root / domain / split / folder / f"{c:02d}_{k:02d}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(array).save(path)
    return root


def tiny_dataset(root: Path) -> Path:
    """Prepare :func:`write_source` into ``root/data`` (4 labeled slices of A, 1 validation case per domain)."""
    source = write_source(root / "source")
    prepare("folder", str(source), str(root / "data"), lb_num=4, val_fraction=0.34, num_classes=2)
    return root / "data"


BUNDLES = sorted(p.parent.name for p in (REPO / "bundles").glob("*/configs"))
"""Names of the bundles in the repository (``bundles/<name>/configs``)."""


def bundle_command(
    run_id: str, configs: list[str], root: Path, *overrides: str, bundle: str = "prostate"
) -> list[str]:
    """The ``python -m monai.bundle run`` command line of ``bundle``'s ``configs`` under ``root``."""
    folder = REPO / "bundles" / bundle / "configs"
    files = "[" + ",".join(f"'{folder / c}'" for c in configs) + "]"
    cmd = [sys.executable, "-m", "monai.bundle", "run", run_id, "--config_file", files, "--bundle_root", str(root)]
    cmd += ["--meta_file", str(folder / "metadata.json"), "--logging_file", str(folder / "logging.conf")]
    return cmd + list(overrides)


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}
"""The environment of bundle commands in tests (see :func:`one_torch_thread`)."""


def run_bundle(
    run_id: str, configs: list[str], root: Path, *overrides: str, bundle: str = "prostate"
) -> subprocess.CompletedProcess:
    """Run a bundle command to its end and return it (stdout and stderr captured as text)."""
    cmd = bundle_command(run_id, configs, root, *overrides, bundle=bundle)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO, env=ONE_THREAD)


def _cli_value(text: str) -> Any:
    """A command-line value as ``fire`` reads it: a Python literal (``64``, ``0.005``, ``[1, 2]``) or else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def as_overrides(*args: str) -> dict:
    """``--key value`` pairs as a dict of config overrides (numbers and other literals parsed, as the CLI does)."""
    pairs = dict(zip(args[::2], args[1::2]))
    return {k.lstrip("-"): _cli_value(v) for k, v in pairs.items()}


def bundle_in_process(run_id: str, configs: list[str], root: Path, *overrides: str, bundle: str = "prostate") -> None:
    """Run a bundle command in this process, as ``python -m monai.bundle run`` does (minus its logging file)."""
    from monai.bundle import ConfigWorkflow

    folder = REPO / "bundles" / bundle / "configs"
    workflow = ConfigWorkflow(
        config_file=[str(folder / c) for c in configs],
        meta_file=str(folder / "metadata.json"),
        logging_file=False,
        run_id=run_id,
        bundle_root=str(root),
        **as_overrides(*overrides),
    )
    workflow.initialize()
    workflow.run()
    workflow.finalize()


def stop_loader_workers() -> int:
    """Shut down the worker processes of every multi-process DataLoader iterator alive in this process; how many.

    A training run that ended in process (done or failed) leaves its endless loaders' iterators in reference cycles.
    When the garbage collector takes them later, in whichever test runs then, their queues may be closed first, and
    torch then waits 5 s for each worker that never gets its stop message (10 s with 2 workers). Right after the run,
    while they are intact, shutting them down takes milliseconds.
    """
    import gc

    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

    found = [o for o in gc.get_objects() if isinstance(o, _MultiProcessingDataLoaderIter)]
    for iterator in found:
        iterator._shutdown_workers()
    return len(found)


def last_line(text: str) -> str:
    """The last non-empty line of ``text``."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def train_tiny(root: Path) -> Path:
    """``root`` with the tiny dataset in ``data/`` and 2 trained iterations (one validation): models, eval."""
    tiny_dataset(root)
    bundle_in_process("run", ["train.json"], root, *TINY, "--max_iterations", "2", "--val_interval", "2")
    return root


def copy_root(trained: Path, to: Path) -> Path:
    """A private copy of a bundle root."""
    return Path(shutil.copytree(trained, to))


def first_labeled(root: Path) -> Path:
    """The first labeled image of ``root/data``."""
    datalist = json.loads((root / "data" / "datalist.json").read_text())
    return root / "data" / datalist["labeled"][0]["image"]


def truncate(path: Path) -> None:
    """Cut a file in half (a damaged download or an interrupted copy)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_intact(before: dict[str, str], folder: Path) -> None:
    """Every file of ``before`` is still there, unchanged, and no temporary file of an atomic write is left."""
    after = snapshot(folder)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    assert not changed, f"outputs lost or overwritten: {changed[:5]}"
    leftovers = [name for name in after if name not in before and name.endswith(".tmp")]
    assert not leftovers, f"temporary files left: {leftovers}"
