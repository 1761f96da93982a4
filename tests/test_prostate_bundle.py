"""End to end: the prostate bundle's real training command (train, resume, rerun when complete) with tiny overrides,
and its evaluation and inference configs run in process on what it trained, as the command runs them (their command
lines run in ``test_bad_inputs.py``, ``test_model_settings.py`` and ``test_zoo_archive.py``)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from PIL import Image

from bundle_runs import (
    CONFIGS,
    ONE_THREAD,
    REPO,
    TINY,
    as_overrides,
    bundle_command,
    bundle_in_process,
    one_torch_thread,
    tiny_dataset,
)


def bundle(run_id: str, configs: list[str], root: Path, *overrides: str) -> subprocess.CompletedProcess:
    """Run ``python -m monai.bundle run <run_id>`` on the prostate bundle's ``configs`` under ``root``."""
    cmd = bundle_command(run_id, configs, root, *overrides)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO, env=ONE_THREAD)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prostate_demo) -> Path:
    """A bundle root trained for 4 iterations (2 validations) on a copy of the session's demo data, then tested."""
    root = tmp_path_factory.mktemp("prostate")
    shutil.copytree(prostate_demo.folder, root / "data")
    result = bundle("training", ["train.json"], root, *TINY, "--max_iterations", "4", "--val_interval", "2")
    (root / "train.log").write_text(result.stdout + result.stderr)
    return root


def test_training_writes_models_state_and_reports(trained):
    for name in ("model.pt", "model_unet.pt", "train_state.pt"):
        assert (trained / "models" / name).is_file()
    log = (trained / "train.log").read_text()
    assert "SYNTHETIC DEMO DATA" in log
    assert "val_dice_sam/BIDMC" in log and "val_dice_unet/UCL" in log  # per-site validation table
    report = json.loads((trained / "eval" / "metrics.json").read_text())
    assert set(report) == {"sam", "unet"}
    domains = report["sam"]["slices"]["domains"]
    assert set(domains) == {"BIDMC", "BMC", "HK", "I2CVB", "RUNMC", "UCL"}
    dice = domains["BIDMC"]["prostate"]["dice"]
    assert 0.0 <= dice <= 1.0
    assert report["sam"]["cases"], "3D per-case metrics are missing for the volumetric prostate data"
    assert list((trained / "eval").glob("events.out.tfevents.*")), "no TensorBoard events"
    state = torch.load(trained / "models" / "train_state.pt", weights_only=False)
    assert state["trainer"]["iteration"] == 4


def test_training_reports_pseudo_label_quality_at_each_validation(trained):
    unlabeled = json.loads((trained / "data" / "datalist.json").read_text())["unlabeled"]
    domains = {item["domain"] for item in unlabeled if item.get("label")}
    report = json.loads((trained / "eval" / "pseudo_labels.json").read_text())
    assert [r["iteration"] for r in report["validations"]] == [2, 4]
    for record in report["validations"]:
        assert set(record["pseudo_labels"]) == domains | {"Mean"}
        for values in record["pseudo_labels"].values():
            assert set(values) == set(report["quantities"]) and all(0 <= v <= 1 for v in values.values())
        assert set(record["students"]) == {"val_dice_sam", "val_dice_unet"}
    rows = (trained / "eval" / "pseudo_labels.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * (len(domains) + 1)
    assert Image.open(trained / "eval" / "pseudo_labels.png").size[0] > 400
    assert "pseudo_dice_ensemble/BIDMC" in (trained / "train.log").read_text()
    state = torch.load(trained / "models" / "train_state.pt", weights_only=False)
    assert state["pseudo_labels"]["history"] == report["validations"]


def test_model_loads_strictly_into_inference_network(trained):
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    parser.update({"bundle_root": str(trained), "foundation": "tiny", "sam_size": 64, "sam_logit_stride": 4})
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(torch.load(trained / "models" / "model.pt", weights_only=True), strict=True)


def test_rerun_resumes_from_saved_iteration(trained, tmp_path, caplog):
    root = tmp_path / "resume"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("eval"))
    result = bundle("run", ["train.json"], root, *TINY, "--max_iterations", "6", "--val_interval", "2")
    assert "resumed from" in result.stdout + result.stderr
    state = torch.load(root / "models" / "train_state.pt", weights_only=False)
    assert state["trainer"]["iteration"] == 6
    report = json.loads((root / "eval" / "pseudo_labels.json").read_text())
    assert [r["iteration"] for r in report["validations"]] == [2, 4, 6]  # the curve goes on
    with one_torch_thread(), caplog.at_level(logging.INFO):  # once more, in process: nothing left to do
        bundle_in_process("run", ["train.json"], root, *TINY, "--max_iterations", "6", "--val_interval", "2")
    assert "training already complete at iteration 6" in caplog.text


def test_evaluate_writes_metrics(trained, tmp_path):
    root = tmp_path / "evaluate"
    shutil.copytree(trained, root, ignore=shutil.ignore_patterns("eval"))
    with one_torch_thread():
        bundle_in_process("run", ["train.json", "evaluate.json"], root, *TINY)
    report = json.loads((root / "eval" / "metrics.json").read_text())
    assert report["sam"]["slices"]["Mean"]["prostate"]["dice"] is not None
    rows = (root / "eval" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("model") and len(rows) > 100  # one row per slice, structure and model
    assert (root / "eval" / "sam_overlays.png").is_file()


def test_inference_on_png_and_nifti_keeps_names_sizes_and_geometry(trained, tmp_path):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    test_images = sorted((trained / "data" / "images" / "HK" / "test").glob("*.png"))[:2]
    for path in test_images:
        shutil.copy(path, inputs / path.name)
    Image.open(test_images[0]).resize((100, 80)).save(inputs / "small.png")
    volume = np.stack([np.asarray(Image.open(p), dtype=np.int16) * 7 for p in test_images], axis=-1)
    affine = np.diag([0.6, 0.6, 3.0, 1.0])
    affine[:3, 3] = [10.0, -5.0, 2.0]
    nib.save(nib.Nifti1Image(volume, affine), inputs / "case.nii.gz")

    for configs, out in ((["inference.json"], outputs / "sam"), (["inference.json", "inference_unet.json"], outputs / "unet")):
        overrides = [*TINY[:6], "--unet_channels", "4", "--input_dir", str(inputs), "--output_dir", str(out)]
        with one_torch_thread():
            bundle_in_process("run", configs, trained, *overrides)
        for path in inputs.glob("*.png"):
            mask = np.asarray(Image.open(out / path.name))
            assert mask.shape == np.asarray(Image.open(path)).shape and mask.dtype == np.uint8
            assert set(np.unique(mask)) <= {0, 1}
        written = nib.load(out / "case.nii.gz")
        assert written.shape == volume.shape
        np.testing.assert_allclose(written.affine, affine, atol=1e-5)


def test_compiled_training_saves_models_that_load_strictly(tmp_path):
    """``compile: true`` trains through compiled students and teachers and still writes plain state dicts.

    The ``eager`` backend keeps this quick on a CPU (inductor needs minutes of C++ compilation here): dynamo captures
    the same graphs and the modules are wrapped the same way; ``test_trainer.py`` runs AOTAutograd's backward too.
    """
    from monai.bundle import ConfigWorkflow

    tiny_dataset(tmp_path)
    overrides = {**as_overrides(*TINY, "--max_iterations", "2", "--val_interval", "2"),
                 "compile": True, "compile_kwargs": {"backend": "eager"}}  # fmt: skip
    workflow = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), meta_file=str(CONFIGS / "metadata.json"),
                              logging_file=False, run_id="run", bundle_root=str(tmp_path), **overrides)  # fmt: skip
    with one_torch_thread():
        workflow.initialize()
        workflow.run()
        workflow.finalize()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert trainer.state.iteration == 2 and type(trainer.unet).__name__ == "OptimizedModule"

    state = torch.load(tmp_path / "models" / "train_state.pt", weights_only=False)
    assert not [k for name in ("network", "unet", "sam_teacher", "unet_teacher") for k in state[name] if "_orig_mod" in k]
    for configs, model in ((["inference.json"], "model.pt"), (["inference.json", "inference_unet.json"], "model_unet.pt")):
        parser = ConfigParser()
        parser.read_config([str(CONFIGS / c) for c in configs])
        parser.update({"bundle_root": str(tmp_path), **as_overrides(*TINY[:10])})
        network = parser.get_parsed_content("network_def")
        network.load_state_dict(torch.load(tmp_path / "models" / model, weights_only=True), strict=True)

    # inference.json's own compile key: the plain model file loads into the network the compiled evaluator runs
    inputs = tmp_path / "in"
    inputs.mkdir()
    image = min((tmp_path / "data").rglob("*.png"))
    shutil.copy(image, inputs / "x.png")
    workflow = ConfigWorkflow(config_file=str(CONFIGS / "inference.json"), meta_file=str(CONFIGS / "metadata.json"),
                              logging_file=False, run_id="run", bundle_root=str(tmp_path), input_dir=str(inputs),
                              output_dir=str(tmp_path / "out"), compile=True, compile_kwargs={"backend": "eager"},
                              **as_overrides(*TINY[:6]))  # fmt: skip
    with one_torch_thread():
        workflow.initialize()
        workflow.run()
        workflow.finalize()
    assert type(workflow.parser.get_parsed_content("evaluator").network).__name__ == "OptimizedModule"
    assert np.asarray(Image.open(tmp_path / "out" / "x.png")).shape == np.asarray(Image.open(image)).shape
