"""A trained model remembers its settings: the plain inference and evaluation commands rebuild it as trained.

One prostate bundle root is trained with ``demo.json`` (LiteMedSAM at 96, a U-Net with 16 channels at 128) for one
iteration on the tiny dataset. The foundation model's learning rate is 1e-7: one step at the demo's rate already makes
its fresh mask tokens answer background everywhere, at any input size, and the comparisons would prove nothing; near
its initial state its masks depend on the size it is built at (asserted below). The plain ``inference.json`` (with and without ``inference_unet.json``) and
``['train.json','evaluate.json']`` must then give exactly what the same commands give with ``demo.json`` layered in;
a contradicting value stops with an error naming both values; a model without a settings file keeps the old
behaviour, with a warning naming the values assumed.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bundle_runs import CONFIGS, bundle_in_process, last_line, one_torch_thread, run_bundle, tiny_dataset
from synfoc_components.error_report import root_cause
from synfoc_components.io import file_hash
from synfoc_components.networks import settings_file

pytestmark = pytest.mark.slow

QUICK = ["--max_iterations", "1", "--val_interval", "1", "--num_workers", "0", "--batch_size", "2", "--sam_lr", "1e-7"]
DEMO = json.loads((CONFIGS / "demo.json").read_text())
NETWORKS = {"sam": ["inference.json"], "unet": ["inference.json", "inference_unet.json"]}
MODELS = {"sam": "model.pt", "unet": "model_unet.pt"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A bundle root trained with ``demo.json`` for one iteration on the tiny dataset, and a folder of test images."""
    root = tmp_path_factory.mktemp("demo_trained")
    tiny_dataset(root)
    with one_torch_thread():
        bundle_in_process("run", ["train.json", "demo.json"], root, *QUICK)
    inputs = root / "in"
    inputs.mkdir()
    for item in json.loads((root / "data" / "datalist.json").read_text())["test"]:
        shutil.copy(root / "data" / item["image"], inputs / Path(item["image"]).name)
    return root


def infer(root: Path, configs: list[str], out: Path, *overrides: str) -> dict[str, np.ndarray]:
    """Run inference in process on ``root/in``; the masks by file name."""
    with one_torch_thread():
        bundle_in_process("run", configs, root, "--input_dir", str(root / "in"), "--output_dir", str(out), *overrides)
    return {p.name: np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))}


def evaluate(root: Path, configs: list[str], out: Path, *overrides: str) -> dict:
    """Run ``evaluate.json`` in process; its ``metrics.json``."""
    with one_torch_thread():
        bundle_in_process("run", configs, root, "--output_dir", str(out), "--num_workers", "0", *overrides)
    return json.loads((out / "metrics.json").read_text())


def without_settings(trained: Path, to: Path) -> Path:
    """A copy of the trained root whose models have no settings files (as bundles saved them before)."""
    root = Path(shutil.copytree(trained, to, ignore=shutil.ignore_patterns("eval")))
    for model in MODELS.values():
        settings_file(root / "models" / model).unlink()
    return root


def test_training_writes_settings_beside_each_model(trained):
    version = json.loads((CONFIGS / "metadata.json").read_text())["version"]
    for network, model in (("SamAdapter", "model.pt"), ("UNet", "model_unet.pt")):
        weights = trained / "models" / model
        saved = json.loads(settings_file(weights).read_text())
        assert saved["network"] == network and saved["weights_sha256"] == file_hash(weights)
        assert {k: saved[k] for k in ("foundation", "sam_size", "unet_size", "unet_channels")} == {
            "foundation": "lite_medsam", "sam_size": 96, "unet_size": 128, "unet_channels": 16,
        }  # fmt: skip
        assert saved["sam_logit_stride"] == 1 and saved["lora_rank"] == 4
        assert (saved["num_classes"], saved["in_channels"], saved["class_names"]) == (2, 1, ["prostate"])
        assert saved["bundle_version"] == version


@pytest.mark.parametrize("network", NETWORKS)
def test_plain_inference_gives_the_trained_models_masks(trained, tmp_path, network):
    plain = infer(trained, NETWORKS[network], tmp_path / "plain")
    demo = infer(trained, [*NETWORKS[network], "demo.json"], tmp_path / "demo")
    assert plain and plain.keys() == demo.keys()
    for name in plain:
        np.testing.assert_array_equal(plain[name], demo[name], err_msg=name)
    # the settings matter here: built as the configs assumed before (LiteMedSAM at 256, U-Net at 384), other masks
    old = without_settings(trained, tmp_path / "old")
    before = {"sam": [], "unet": ["--unet_channels", "16"]}[network]  # 64 channels would not even load
    assumed = infer(old, NETWORKS[network], tmp_path / "assumed", *before)
    assert any(not np.array_equal(assumed[name], demo[name]) for name in demo), "the sizes do not change the masks"


def test_plain_evaluation_gives_the_trained_models_dice(trained, tmp_path):
    plain = evaluate(trained, ["train.json", "evaluate.json"], tmp_path / "plain")
    demo = evaluate(trained, ["train.json", "evaluate.json", "demo.json"], tmp_path / "demo")
    assert plain == demo
    assert set(plain) == {"sam", "unet"}
    old = without_settings(trained, tmp_path / "old")
    assumed = evaluate(old, ["train.json", "evaluate.json"], tmp_path / "assumed", "--unet_channels", "16")
    assert assumed["sam"] != demo["sam"], "LiteMedSAM at 256 scores as at 96: the test cannot tell them apart"


def test_a_contradicting_value_stops_with_both_values(trained, tmp_path):
    cmd = ["--input_dir", str(trained / "in"), "--output_dir", str(tmp_path / "out"), "--sam_size", "256"]
    result = run_bundle("run", ["inference.json"], trained, *cmd)
    assert result.returncode != 0
    line = last_line(result.stderr)
    assert "model.settings.json" in line and "sam_size 256 (the model was trained with 96)" in line, line
    assert not list((tmp_path / "out").glob("*.png"))
    with pytest.raises(Exception) as caught:
        evaluate(trained, ["train.json", "evaluate.json"], tmp_path / "eval", "--unet_channels", "64")
    message = str(root_cause(caught.value))
    assert "model_unet.settings.json" in message and "unet_channels 64 (the model was trained with 16)" in message


def test_weights_not_saved_with_their_settings_are_refused(trained, tmp_path):
    root = Path(shutil.copytree(trained, tmp_path / "root", ignore=shutil.ignore_patterns("eval")))
    weights = root / "models" / "model.pt"
    state = torch.load(weights, weights_only=True)
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in state.items()}, weights)
    with pytest.raises(Exception) as caught:
        infer(root, ["inference.json"], tmp_path / "out")
    assert "records other weights than" in str(root_cause(caught.value))


def test_a_model_without_settings_keeps_the_old_behaviour_with_a_warning(trained, tmp_path, caplog):
    old = without_settings(trained, tmp_path / "old")
    demo = infer(trained, ["inference.json"], tmp_path / "demo")
    with caplog.at_level(logging.WARNING, logger="synfoc_components.networks.settings"):
        sizes = ("--sam_size", str(DEMO["sam_size"]), "--unet_size", str(DEMO["unet_size"]))  # the base size too
        given = infer(old, ["inference.json"], tmp_path / "given", *sizes)
    warning = [r.getMessage() for r in caplog.records if "no settings file" in r.getMessage()]
    assert len(warning) == 1 and "model.settings.json" in warning[0]
    assert "assuming foundation lite_medsam, sam_size 96, sam_logit_stride 1, lora_rank 4" in warning[0]
    for name in demo:  # what users did before: repeat the training's values
        np.testing.assert_array_equal(given[name], demo[name], err_msg=name)
