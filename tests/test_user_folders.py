"""A user's own folder as it usually comes: one volume per domain, cut into ``<volume>_<slice>.png``, binary masks
stored as 0 / 255, prepared with default options, then trained by the prostate bundle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bundle_runs import REPO, TINY, bundle_in_process, one_torch_thread
from data_fixtures import read_json, save_png
from release_fixtures import ellipse

SLICES = {"train": 30, "test": 4}
"""Slices of the one volume each domain holds per split (the default --lb_num is 20)."""


def _one_volume_per_domain(root: Path, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    for d, domain in enumerate(("scannerA", "scannerB")):
        for split, count in SLICES.items():
            for k in range(count):
                mask = ellipse(size, size, (0.5, 0.5), (0.2 + 0.005 * k, 0.25)).astype(np.uint8) * 255
                image = (rng.normal(50 + 30 * d, 8, mask.shape) + 0.5 * mask).clip(0, 255).astype(np.uint8)
                save_png(root / domain / split / "image" / f"t1_{k:03d}.png", image)
                save_png(root / domain / split / "mask" / f"t1_{k:03d}.png", mask)
    return root


@pytest.mark.slow
def test_one_volume_per_domain_prepares_with_defaults_and_trains(tmp_path: Path) -> None:
    source = _one_volume_per_domain(tmp_path / "source")
    command = [sys.executable, "-m", "synfoc_components.data", "prepare", "folder", "--source", str(source)]
    done = subprocess.run(command + ["--out", str(tmp_path / "root" / "data")], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "masks hold only 0 and 255" in done.stderr and "255 is read as class 1" in done.stderr
    assert done.stderr.count("validation takes a block of its last slices") == 1
    doc = read_json(tmp_path / "root" / "data" / "datalist.json")
    assert doc["num_classes"] == 2 and len(doc["labeled"]) == 20
    for domain in ("scannerA", "scannerB"):
        val = [i["slice"] for i in doc["val"] if i["domain"] == domain]
        assert val == list(range(30 - len(val), 30)) and len(val) == 3  # the last tenth of the volume
        train = [i["slice"] for s in ("labeled", "unlabeled") for i in doc[s] if i["domain"] == domain]
        assert sorted(train + val) == list(range(30))
    with one_torch_thread():
        bundle_in_process("training", ["train.json"], tmp_path / "root", *TINY, "--max_iterations", "2")
    assert (tmp_path / "root" / "models" / "model.pt").is_file()
    report = read_json(tmp_path / "root" / "eval" / "metrics.json")
    assert report["sam"]["slices"]["domains"]["scannerB"]["count"] == SLICES["test"]
