"""Bad inputs of training, evaluation and inference, run in this process (see test_bad_inputs.py for the CLIs).

Each case runs the bundle command as ``python -m monai.bundle run`` would, expects it to fail, and checks the line
the bundles' error report prints last (:func:`synfoc_components.error_report.summary_line`): it names the file or
option and what is wrong. Every output that existed before must be intact, with no temporary file left.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from bundle_runs import (
    TINY,
    assert_intact,
    bundle_in_process,
    copy_root,
    first_labeled,
    one_torch_thread,
    snapshot,
    stop_loader_workers,
    train_tiny,
    truncate,
)

from synfoc_components.error_report import summary_line
from synfoc_components.networks import SamAdapter, settings_file

LONGER = [*TINY, "--max_iterations", "4", "--val_interval", "2"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A bundle root with its data and 2 trained iterations: models/model.pt, model_unet.pt, train_state.pt, eval/."""
    return train_tiny(tmp_path_factory.mktemp("trained"))


@pytest.fixture()
def root(trained, tmp_path) -> Path:
    """A private copy of the trained bundle root."""
    return copy_root(trained, tmp_path / "bundle")


def bundle_error(run_id: str, configs: list[str], root: Path, *overrides: str) -> str:
    """Run a bundle command in this process; it must fail: return the last line its error report prints."""
    with pytest.raises(Exception) as failed:
        bundle_in_process(run_id, configs, root, *overrides)
    return summary_line(failed.value)


def _datalist(root: Path) -> dict:
    return json.loads((root / "data" / "datalist.json").read_text())


def test_train_refuses_an_empty_labeled_split(root):
    document = _datalist(root) | {"labeled": []}
    (root / "data" / "datalist.json").write_text(json.dumps(document))
    before = snapshot(root)
    line = bundle_error("run", ["train.json"], root, *LONGER)
    assert re.fullmatch(r"DataError: .*/data/datalist\.json: the 'labeled' split is empty or missing; .*", line)
    assert_intact(before, root)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_train_names_a_truncated_training_image(root, workers):
    image = first_labeled(root)
    truncate(image)
    before = snapshot(root)
    line = bundle_error("run", ["train.json"], root, *LONGER, "--num_workers", workers)
    stop_loader_workers()  # the failed run's loader workers: now rather than at a later garbage collection
    assert line.endswith(f"DataError: {image}: unreadable image (image file is truncated)"), line
    assert_intact(before, root)


def test_train_refuses_an_unknown_dataset_name(root):
    before = snapshot(root)
    line = bundle_error("run", ["train.json"], root, *LONGER, "--dataset_name", "nosuch")
    assert line == "ValueError: unknown dataset 'nosuch'; known datasets: acdc, busi, fundus, mnms, mscmrseg, prostate"
    assert_intact(before, root)


def test_train_names_a_missing_medsam_checkpoint(root):
    before = snapshot(root)
    line = bundle_error("run", ["train.json", "medsam_vit_b.json"], root, *LONGER, "--foundation", "medsam_vit_b")
    path = root / "models" / "medsam_vit_b.pth"
    assert line.startswith(f"FileNotFoundError: checkpoint {path} not found: it should be a MedSAM ViT-B state dict")
    assert_intact(before, root)


def test_train_refuses_a_foundation_checkpoint_of_another_model(root):
    before = snapshot(root)
    unet_file = root / "models" / "model_unet.pt"
    line = bundle_error("run", ["train.json"], root, *LONGER, "--foundation_checkpoint", str(unet_file))
    assert line.startswith(f"ValueError: checkpoint {unet_file} does not fit backbone 'tiny'; it looks like no SAM")
    assert_intact(before, root)


def test_resume_refuses_a_training_state_of_another_configuration(root):
    before = snapshot(root)
    line = bundle_error("run", ["train.json"], root, *LONGER, "--unet_channels", "8")
    state = root / "models" / "train_state.pt"
    assert line.startswith(f"RuntimeError: {state}: cannot resume 'unet' from it"), line
    assert line.endswith("delete it or set another bundle_root")
    assert_intact(before, root)


def test_resume_refuses_an_unreadable_training_state(root):
    state = root / "models" / "train_state.pt"
    truncate(state)
    before = snapshot(root)
    line = bundle_error("run", ["train.json"], root, *LONGER)
    assert re.fullmatch(rf"RuntimeError: {re.escape(str(state))}: unreadable training state \(.*\); delete it .*", line)
    assert_intact(before, root)


def test_train_refuses_a_models_folder_that_cannot_be_written(root):
    shutil.rmtree(root / "models")
    (root / "models").write_text("not a folder")
    before = snapshot(root)
    line = bundle_error("run", ["train.json"], root, *LONGER)
    models = root / "models"
    assert line == f"NotADirectoryError: [Errno 20] {models}: this output folder cannot be written (it is a file)"
    assert_intact(before, root)


def test_full_disk_while_saving_keeps_the_previous_files(root, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    before = snapshot(root / "models")  # the reports of the validation before the failed save are updated, as always
    line = bundle_error("run", ["train.json"], root, *LONGER)
    expected = r"OSError: \[Errno 28\] .*/models/(model|model_unet|train_state)\.pt: not written \(No space left on"
    assert re.match(expected, line), line
    assert_intact(before, root / "models")


def test_evaluate_refuses_a_model_of_another_class_count(root):
    weights = root / "models" / "model.pt"
    torch.save(SamAdapter("tiny", num_classes=3, img_size=64).state_dict(), weights)
    before = snapshot(root)
    line = bundle_error("run", ["train.json", "evaluate.json"], root, *TINY)
    assert line.startswith(f"ValueError: {settings_file(weights)}: records other weights than {weights} holds")
    settings_file(weights).unlink()  # weights from elsewhere, with no settings: the file names what does not fit
    before = snapshot(root)
    line = bundle_error("run", ["train.json", "evaluate.json"], root, *TINY)
    assert line.startswith(f"ValueError: {root / 'models' / 'model.pt'}: does not fit the configured SamAdapter (")
    assert "file vs model shapes mask_decoder.mask_tokens.weight (3, 32) vs (2, 32)" in line
    assert_intact(before, root)


def test_evaluate_names_a_missing_model(root):
    (root / "models" / "model_unet.pt").unlink()
    before = snapshot(root)
    line = bundle_error("run", ["train.json", "evaluate.json"], root, *TINY)
    missing = root / "models" / "model_unet.pt"
    assert line == f"FileNotFoundError: {missing}: model file not found; train the bundle first or set bundle_root"
    assert_intact(before, root)


def test_evaluate_names_a_damaged_model(root):
    truncate(root / "models" / "model.pt")
    before = snapshot(root)
    line = bundle_error("run", ["train.json", "evaluate.json"], root, *TINY)
    assert f"records other weights than {root / 'models' / 'model.pt'} holds" in line and "damaged" in line
    settings_file(root / "models" / "model.pt").unlink()  # with no settings file, the loader names the damage
    before = snapshot(root)
    line = bundle_error("run", ["train.json", "evaluate.json"], root, *TINY)
    assert line.startswith(f"ValueError: {root / 'models' / 'model.pt'}: not a readable PyTorch state dict (")
    assert_intact(before, root)


def test_inference_refuses_a_unet_of_another_width(root, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(first_labeled(root), inputs / "a.png")
    before = snapshot(root)
    overrides = [*TINY, "--unet_channels", "8", "--input_dir", str(inputs), "--output_dir", str(tmp_path / "out")]
    line = bundle_error("run", ["inference.json", "inference_unet.json"], root, *overrides)
    weights = root / "models" / "model_unet.pt"
    assert line.startswith(f"ValueError: {settings_file(weights)}: given on the command line or in a config file: "
                           "unet_channels 8 (the model was trained with 4)")  # fmt: skip
    assert_intact(before, root)
    settings_file(weights).unlink()  # a model saved with no settings file: built as told, refused by the loader
    before = snapshot(root)
    line = bundle_error("run", ["inference.json", "inference_unet.json"], root, *overrides)
    assert line.startswith(f"ValueError: {weights}: does not fit the configured UNet (")
    assert_intact(before, root)
    assert not (tmp_path / "out" / "a.png").exists()


def test_inference_refuses_an_output_folder_that_cannot_be_written(root, tmp_path):
    inputs, blocker = tmp_path / "in", tmp_path / "a_file"
    inputs.mkdir()
    shutil.copy(first_labeled(root), inputs / "a.png")
    blocker.write_text("not a folder")
    overrides = [*TINY, "--input_dir", str(inputs), "--output_dir", str(blocker / "out")]
    line = bundle_error("run", ["inference.json"], root, *overrides)
    out = blocker / "out"
    assert line == f"NotADirectoryError: [Errno 20] {out}: this output folder cannot be written (Not a directory)"
    assert blocker.read_text() == "not a folder"


def test_inference_names_an_empty_input_folder(root, tmp_path):
    (tmp_path / "in").mkdir()
    line = bundle_error("run", ["inference.json"], root, *TINY, "--input_dir", str(tmp_path / "in"))
    assert line.startswith(f"DataError: {tmp_path / 'in'}: no images to segment")


