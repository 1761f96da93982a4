"""The GPU run (``bench/gpu_run.sh``) works end to end: a dry run of every step on the CPU with tiny sizes, so that
the script cannot break on a typo when the GPU minutes are counted; and the sizing of the paper-size run."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is not installed with the package: import it from the checkout
    sys.path.insert(0, str(REPO))

from bench.paper_run import pace, size_run  # noqa: E402
from synfoc_components.data import describe  # noqa: E402

#: A 6-site prostate phantom of 64 px, 2 training + 1 test case of 2 slices per site; tiny networks; 2 iterations.
TINY_TRAINING = [
    "--phantom", '{"size": 64, "train_cases": 2, "test_cases": 1, "slices": 2}', "--prepare", '{"lb_num": 2}',
    "--foundation", "tiny", "--sam-size", "64", "--sam-logit-stride", "4", "--unet-size", "64", "--unet-channels", "4",
    "--batch", "2", "--num-workers", "0", "--probe-warmup", "1", "--probe-iterations", "1", "--arm-seconds", "2",
    "--min-iterations", "2", "--max-iterations", "2", "--validations", "1",
]  # fmt: skip
TINY_GPU = "--device cpu --tiny --threads 1 --variants default tuned --skip-data --skip-infer"


def write_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (module ``carried_probe``), as gpu_wheels.sh downloads them."""
    files = {
        "carried_probe/__init__.py": "VALUE = 1\n",
        "carried_probe-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: carried-probe\nVersion: 0.1\n",
        "carried_probe-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }  # fmt: skip
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files["carried_probe-0.1.dist-info/RECORD"] = "\n".join(record + ["carried_probe-0.1.dist-info/RECORD,,"]) + "\n"
    folder.mkdir(parents=True)
    path = folder / "carried_probe-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.mark.slow
def test_gpu_run_dry_run_on_the_cpu(tmp_path):
    """Every step of ``bash bench/gpu_run.sh`` runs and writes its JSON with the keys the issue's figures come from."""
    out, site = tmp_path / "out", tmp_path / "site"
    write_wheel(tmp_path / "wheels")
    cmd = ["bash", str(REPO / "bench" / "gpu_run.sh"), "--wheels", str(tmp_path / "wheels"), "--site", str(site),
           "--work-dir", str(tmp_path / "work"), "--budget-s", "400", "--gpu-args", TINY_GPU,
           "--training-args", subprocess.list2cmdline(TINY_TRAINING)]  # fmt: skip
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    assert {p.name for p in out.iterdir()} == {"run.json", "environment.json", "environment.log", "gpu.json",
                                                "gpu.log", "training.json", "training.log"}  # fmt: skip

    run = json.loads((out / "run.json").read_text())
    assert {step: r["status"] for step, r in run["steps"].items()} == dict.fromkeys(
        ("install", "environment", "gpu", "training"), "ok"
    )
    assert run["steps"]["install"]["wheels"] == ["carried_probe-0.1-py3-none-any.whl"]
    assert (site / "carried_probe" / "__init__.py").is_file()

    environment = json.loads((out / "environment.json").read_text())
    path = environment["path"]
    assert path.index(str(site)) < min(i for i, p in enumerate(path) if "site-packages" in p)  # carried wheels first
    assert not [name for name, found in environment["packages"].items() if "error" in found]
    assert {"torch", "cuda", "cudnn", "cuda_available"} <= set(environment["torch"])
    assert environment["nvidia_smi"]["available"] == (shutil.which("nvidia-smi") is not None)

    gpu = json.loads((out / "gpu.json").read_text())
    assert not gpu["errors"], gpu["errors"]
    assert set(gpu["training"]) == {"tiny/default", "tiny/tuned"}
    for r in gpu["training"].values():
        assert r["ms_per_iteration"] > 0 and r["flops"] > 0 and r["reference_ratio"] > 0 and "syncs" in r

    training = json.loads((out / "training.json").read_text())
    assert "error" not in training
    assert training["dataset"]["counts"]["test"] == 6 * 2  # one test case of 2 slices per site
    assert training["probe"]["pace"]["mean_ms"] > 0 and training["probe"]["startup_s"] > 0
    assert training["plan"]["iterations"] == 2
    sites = set(describe("prostate").domains)
    for arm, configs in (("synfoc", ["train.json"]), ("supervised_only", ["train.json", "supervised_only.json"])):
        r = training["arms"][arm]
        assert r["configs"] == configs and r["overrides"]["max_iterations"] == 2 and r["wall_s"] > 0
        assert r["pace"]["median_ms"] > 0
        for model in ("sam", "unet"):
            assert set(r["test_dice"][model]["per_site"]) == sites
            assert 0 <= r["test_dice"][model]["mean"] <= 1
    assert "mean test Dice" in done.stdout  # the summary the device call's output ends with


def test_pace_leaves_validations_out_of_the_median():
    times = [(1, 10.0), (2, 10.1), (3, 10.2), (4, 15.2), (5, 15.3)]  # a 5 s validation after iteration 3
    result = pace(times, skip=2)
    assert result["iterations_timed"] == 3
    assert result["median_ms"] == pytest.approx(100.0)
    assert result["mean_ms"] == pytest.approx(5200.0 / 3)


def test_size_run_fits_both_arms_into_their_share():
    probe = {"pace": {"mean_ms": 25.0}, "startup_s": 20.0, "tail_s": 5.0}
    plan = size_run(probe, seconds_left=400, arm_seconds=150, validations=3, margin_s=20)
    # 150 s per arm, minus 20 s start-up and 4 x 5 s of validations and test: 110 s at 25 ms, in 3 whole intervals
    assert plan["iterations_that_fit"] == 4400 and plan["val_interval"] == 1466 and plan["iterations"] == 3 * 1466
    short = size_run(probe, seconds_left=160, arm_seconds=150, validations=3, margin_s=20)
    assert short["iterations"] == (70 - 40) * 40  # half of 140 s each
    assert size_run(probe, seconds_left=50, arm_seconds=150, validations=3, min_iterations=20)["iterations"] == 18
    assert size_run(probe, seconds_left=400, arm_seconds=150, validations=2, max_iterations=7)["iterations"] == 6
