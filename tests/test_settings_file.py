"""ModelSettings: the settings file beside a model's weights, read, checked and assumed (no training here)."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
import torch

from synfoc_components.data import describe
from synfoc_components.networks import ModelSettings, settings_file

SAVED = ModelSettings("lite_medsam", 96, 1, 4, 128, 16, 2, 1, class_names=("prostate",))


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "models" / "model_unet.pt"
    path.parent.mkdir()
    torch.save({"w": torch.ones(2)}, path)
    SAVED.write(path, "UNet")
    return path


def test_check_compares_what_the_saved_network_depends_on(weights):
    saved = ModelSettings.read(weights, describe("prostate"))
    assert saved.network == "UNet" and settings_file(weights).name == "model_unet.settings.json"
    assert saved.check(dataclasses.replace(SAVED, sam_size=256, foundation="tiny"))  # a U-Net has no foundation
    with pytest.raises(ValueError) as wrong:
        saved.check(dataclasses.replace(SAVED, unet_size=384, unet_channels=64, sam_size=256))
    assert str(wrong.value) == (
        f"{settings_file(weights)}: given on the command line or in a config file: unet_size 384 (the model was "
        "trained with 128), unet_channels 64 (the model was trained with 16); leave these keys out to use the trained "
        "values"
    )


def test_an_unreadable_settings_file_is_named(weights):
    content = json.loads(settings_file(weights).read_text())
    del content["unet_size"]
    settings_file(weights).write_text(json.dumps(content))
    with pytest.raises(ValueError, match=r"model_unet\.settings\.json: not a readable model settings file"):
        ModelSettings.read(weights, describe("prostate"))
    settings_file(weights).write_text(json.dumps({**content, "unet_size": -1, "lora_rank": 0}))
    with pytest.raises(ValueError, match=r"not valid \(unet_size -1\)"):  # rank 0 (no LoRA) is valid
        ModelSettings.read(weights, describe("prostate"))


def test_without_a_file_the_old_configs_values_are_assumed_and_said(tmp_path, caplog):
    assumed = ModelSettings.read(tmp_path / "model.pt", describe("fundus"))
    assert (assumed.foundation, assumed.sam_size, assumed.sam_logit_stride, assumed.unet_channels) == (
        "lite_medsam", 256, 1, 64)  # fmt: skip
    assert (assumed.unet_size, assumed.num_classes, assumed.in_channels) == (256, 3, 3)  # from the description
    with caplog.at_level(logging.WARNING):
        assert assumed.check(dataclasses.replace(assumed, sam_size=96))  # given values are used as they are
    assert "model.pt: no settings file model.settings.json beside it" in caplog.text
    assert "assuming foundation lite_medsam, sam_size 96, sam_logit_stride 1" in caplog.text
