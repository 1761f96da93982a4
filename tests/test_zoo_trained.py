"""The metadata and the TorchScript describe the model actually trained: ``zoo describe`` and the ``trained-model`` rule.

A bundle copy gets weights saved with settings other than ``train.json``'s (a tiny foundation model at 64 with logits
at 16, a U-Net with 4 channels at 64), as training saves them: weights, then their settings file.
"""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest
import torch
from monai.bundle import ckpt_export, verify_net_in_out
from monai.data import load_net_with_metadata

from synfoc_components.data import describe
from synfoc_components.networks import ModelSettings, SamAdapter, UNet, settings_file
from synfoc_components.zoo import describe_trained, package_bundle
from synfoc_components.zoo.__main__ import main
from synfoc_components.zoo.network import network_io_problems
from synfoc_components.zoo.rules import bundle_problems
from zoo_helpers import REPO, copy_bundle, output, run

PROSTATE = REPO / "bundles" / "prostate"
SETTINGS = ModelSettings(foundation="tiny", sam_size=64, sam_logit_stride=4, lora_rank=4, unet_size=64,
                         unet_channels=4, num_classes=2, in_channels=1, class_names=("prostate",))  # fmt: skip

pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")


@pytest.fixture
def trained(tmp_path) -> Path:
    """A copy of the prostate bundle whose models were saved with :data:`SETTINGS`."""
    bundle = copy_bundle(PROSTATE, tmp_path)
    models = bundle / "models"
    models.mkdir(exist_ok=True)
    networks = {"model.pt": SamAdapter("tiny", 2, 64, lora_rank=4, logit_stride=4), "model_unet.pt": UNet(1, 2, 4)}
    for name, network in networks.items():
        torch.save(network.state_dict(), models / name)
        SETTINGS.write(models / name, type(network).__name__)
    return bundle


def _meta(bundle: Path) -> dict:
    return json.loads((bundle / "configs" / "metadata.json").read_text())


def test_check_names_a_metadata_that_does_not_describe_the_trained_model(trained):
    problems = [p for p in bundle_problems(trained) if p.rule == "trained-model"]
    messages = "\n".join(p.message for p in problems)
    assert {p.path for p in problems} == {"configs/metadata.json"}
    assert "network_data_format.inputs.image.spatial_shape is [256, 256], but models/model.pt was trained for [64, 64]" \
        in messages  # fmt: skip
    assert "network_data_format.outputs.pred.spatial_shape is [256, 256]" in messages and "[16, 16]" in messages
    assert "unet_data_format.inputs.image.spatial_shape is [384, 384], but models/model_unet.pt" in messages
    assert f"python -m synfoc_components.zoo describe {trained}" in messages
    assert len(problems) == 4, messages


def test_describe_writes_the_trained_shapes_and_export_carries_them(trained, tmp_path):
    result = run("-m", "synfoc_components.zoo", "describe", str(trained))
    assert result.returncode == 0, output(result)
    assert result.stdout.strip().endswith("4 field(s) changed")
    meta = _meta(trained)
    image, pred = meta["network_data_format"]["inputs"]["image"], meta["network_data_format"]["outputs"]["pred"]
    assert (image["spatial_shape"], pred["spatial_shape"], pred["num_channels"]) == ([64, 64], [16, 16], 2)
    assert meta["unet_data_format"]["outputs"]["pred"]["spatial_shape"] == [64, 64]
    assert pred["channel_def"] == describe("prostate").channel_def
    assert not [p for p in bundle_problems(trained) if p.rule == "trained-model"]
    assert network_io_problems(trained) == []  # the networks inference.json now builds match the metadata
    assert describe_trained(trained) == []

    meta_file, configs = str(trained / "configs" / "metadata.json"), str(trained / "configs" / "inference.json")
    verify_net_in_out("network_def", meta_file, configs, device="cpu", bundle_root=str(trained))
    target = tmp_path / "model.ts"  # traced at the metadata's input shape: the trained 64, not 256
    ckpt_export("network_def", str(target), str(trained / "models" / "model.pt"), meta_file, configs,
                bundle_root=str(trained), use_trace=True)  # fmt: skip
    exported, embedded, _ = load_net_with_metadata(str(target))
    assert embedded["network_data_format"]["inputs"]["image"]["spatial_shape"] == [64, 64]
    assert exported(torch.rand(1, 1, 64, 64)).shape == (1, 2, 16, 16)


def test_the_shared_archive_holds_the_settings_and_the_trained_metadata(trained, tmp_path):
    assert len(describe_trained(trained)) == 4
    archive_path = package_bundle(trained, tmp_path / "dist")
    with zipfile.ZipFile(archive_path) as archive:
        names = set(archive.namelist())
        meta = json.loads(archive.read("prostate/configs/metadata.json"))
    plain = tmp_path / "plain.zip"  # what open() gives a new file: colleagues can read the archive and the weights
    plain.touch()
    readable = stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE(archive_path.stat().st_mode) == readable
    assert stat.S_IMODE((trained / "models" / "model.pt").stat().st_mode) == readable
    assert {"prostate/models/model.settings.json", "prostate/models/model_unet.settings.json"} <= names
    assert meta["network_data_format"]["inputs"]["image"]["spatial_shape"] == [64, 64]


def _describe_fails(bundle: Path, caplog) -> str:
    """Run the ``describe`` command in process; it must exit with status 2; its error line."""
    with pytest.raises(SystemExit) as stopped:
        main(["describe", str(bundle)])
    assert stopped.value.code == 2
    return caplog.records[-1].getMessage()


def test_describe_refuses_weights_not_saved_with_their_settings(trained, caplog):
    torch.save(UNet(1, 2, 8).state_dict(), trained / "models" / "model_unet.pt")
    problems = [p for p in bundle_problems(trained) if p.rule == "trained-model"]
    assert [p.path for p in problems if "records other weights" in p.message] == ["models/model_unet.settings.json"]
    assert "records other weights than" in _describe_fails(trained, caplog)


def test_describe_without_settings_says_to_train_first(tmp_path, caplog):
    bundle = copy_bundle(PROSTATE, tmp_path)
    assert not settings_file(bundle / "models" / "model.pt").exists()
    assert "no weights with a settings file (train the bundle first)" in _describe_fails(bundle, caplog)
