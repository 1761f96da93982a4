"""Bit-exact resume and reproducibility of the prostate bundle's training, on a tiny dataset on the CPU.

In-process runs of ``train.json`` (the same objects ``python -m monai.bundle run`` builds) check that the losses of
10 iterations repeat exactly, with and without loader workers, and that a run stopped by SIGTERM in the middle of an
epoch resumes to the same weights; real bundle commands killed by SIGKILL at a random point and rerun end with
weights equal bit for bit to the uninterrupted run's.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from bundle_runs import (
    CONFIGS,
    ONE_THREAD,
    REPO,
    TINY,
    as_overrides,
    bundle_command,
    one_torch_thread,
    run_bundle,
    stop_loader_workers,
    tiny_dataset,
)
from ignite.engine import Events
from monai.bundle import ConfigParser

SCHEDULE = ["--max_iterations", "10", "--val_interval", "5"]
SAVED = ("train_state.pt", "model.pt", "model_unet.pt")


def train_in_process(root: Path, data: Path, *overrides: str, stop_at: int | None = None) -> list[dict]:
    """Train as the bundle's ``run`` does (initialize, then build and run the trainer); return every iteration's output.

    Args:
        root: bundle_root.
        data: dataset_dir.
        overrides: ``--key value`` overrides after TINY and SCHEDULE.
        stop_at: send this process SIGTERM after that iteration (the run then saves and exits with 143).
    """
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "train.json"))
    parser.update({"bundle_root": str(root), "dataset_dir": str(data), **as_overrides(*TINY, *SCHEDULE, *overrides)})
    parser.get_parsed_content("initialize")
    trainer = parser.get_parsed_content("train#trainer")
    outputs: list[dict] = []

    @trainer.on(Events.ITERATION_COMPLETED)
    def record(engine) -> None:
        outputs.append(dict(engine.state.output))
        if engine.state.iteration == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)

    if stop_at is None:
        trainer.run()
    else:
        with pytest.raises(SystemExit) as stopped:
            trainer.run()
        assert stopped.value.code == 128 + signal.SIGTERM
    return outputs


def assert_same_weights(expected: Path, actual: Path) -> None:
    """The saved models and every network of the training state are equal bit for bit."""
    for name in SAVED:
        a = torch.load(expected / "models" / name, weights_only=False)
        b = torch.load(actual / "models" / name, weights_only=False)
        nets = ("network", "unet", "sam_teacher", "unet_teacher") if name == "train_state.pt" else (None,)
        for net in nets:
            sa, sb = (a, b) if net is None else (a[net], b[net])
            assert sa.keys() == sb.keys()
            different = [k for k in sa if not torch.equal(sa[k], sb[k])]
            assert not different, f"{name} {net or ''}: {len(different)} tensors differ, e.g. {different[:3]}"
        if name == "train_state.pt":
            assert a["trainer"]["iteration"] == b["trainer"]["iteration"] == 10
            assert a["best_sam"] == b["best_sam"] and a["best_unet"] == b["best_unet"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data) -> tuple[Path, list[dict]]:
    """An uninterrupted in-process run of 10 iterations (2 validations), without loader workers."""
    root = tmp_path_factory.mktemp("reference")
    return root, train_in_process(root, data)


def test_same_seed_and_data_give_identical_losses_with_or_without_workers(reference, data, tmp_path):
    root, losses = reference
    assert len(losses) == 10
    again = train_in_process(tmp_path / "workers", data, "--num_workers", "2")
    stop_loader_workers()  # the run's loader workers: now rather than at a later garbage collection
    assert again == losses  # every loss term of every iteration, exactly
    assert_same_weights(root, tmp_path / "workers")


def test_sigterm_mid_epoch_saves_and_resumes_bit_exactly(reference, data, tmp_path):
    root, losses = reference
    first = train_in_process(tmp_path, data, stop_at=7)  # iteration 7 lies inside the second epoch (6..10)
    assert torch.load(tmp_path / "models" / "train_state.pt", weights_only=False)["trainer"]["iteration"] == 7
    rest = train_in_process(tmp_path, data)
    assert first + rest == losses
    assert_same_weights(root, tmp_path)


def _kill_at_random_point(root: Path, data: Path, workers: str, rng: random.Random) -> str:
    """Start the training command, SIGKILL it after a random number of logged iterations plus a random delay."""
    after, delay = rng.randint(1, 9), rng.uniform(0.0, 0.5)
    args = bundle_command("run", ["train.json"], root, *TINY, *SCHEDULE, "--dataset_dir", str(data))
    args += ["--num_workers", workers]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=ONE_THREAD
    )
    seen = 0
    for line in proc.stdout:
        seen += " Iter: " in line
        if seen == after:
            time.sleep(delay)
            break
    proc.kill()
    proc.wait()
    return f"killed after {seen} logged iterations (+{delay:.2f} s) with num_workers {workers}"


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "2"])
def test_sigkill_at_random_point_then_rerun_ends_bit_exact(reference, data, tmp_path, workers):
    where = _kill_at_random_point(tmp_path, data, workers, random.Random())
    overrides = [*TINY, *SCHEDULE, "--dataset_dir", str(data), "--num_workers", workers]
    result = run_bundle("run", ["train.json"], tmp_path, *overrides)
    assert result.returncode == 0, where + "\n" + result.stdout[-2000:] + result.stderr[-2000:]
    assert not list((tmp_path / "models").glob(".*.tmp")), f"{where}: an interrupted save left a temporary file"
    try:
        assert_same_weights(reference[0], tmp_path)
    except AssertionError as error:
        raise AssertionError(f"{where}: {error}") from error
