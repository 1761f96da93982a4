"""One resize for both networks: what a network gets from an image in training, at evaluation and at inference is
the same tensor (docs/method.md 3.1), through the real code paths: the labeled pipeline and ``SynFoCTrainer``, the
prostate bundle's ``validate`` pipeline and inferers, and its ``inference.json`` (+ ``inference_unet.json``)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.bundle import ConfigParser
from monai.data import list_data_collate
from monai.utils import convert_to_tensor
from PIL import Image
from torch.utils.data import DataLoader

from bundle_runs import CONFIGS, one_torch_thread
from synfoc_components.engines import SynFoCTrainer
from synfoc_components.networks import SamAdapter, UNet
from synfoc_components.resize import network_input
from synfoc_components.transforms import labeled_transforms


class Recorder:
    """Forward pre-hook keeping a copy of every input a module gets."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.inputs: list[torch.Tensor] = []
        module.register_forward_pre_hook(self.keep)

    def keep(self, module: torch.nn.Module, args: tuple) -> None:
        self.inputs.append(convert_to_tensor(args[0], track_meta=False).detach().clone())


@pytest.fixture(scope="module")
def item(tmp_path_factory) -> dict:
    """A 150 x 110 gray PNG (not square, not of any network's size) with fine detail, and its label."""
    root = tmp_path_factory.mktemp("one_image")
    rng = np.random.default_rng(7)
    rows, cols = np.mgrid[0:110, 0:150]
    label = (((rows - 50) / 35.0) ** 2 + ((cols - 80) / 50.0) ** 2 < 1).astype(np.uint8)
    stripes = 40 * np.sin(cols / 1.7) * np.cos(rows / 2.3)  # detail a dropped row or column would show
    image = (60 + 120 * label + stripes + rng.normal(0, 10, label.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(image).save(root / "image.png")
    Image.fromarray(label).save(root / "label.png")
    return {"image": str(root / "image.png"), "label": str(root / "label.png"), "domain": "A", "case": "0", "slice": 0}


def training_inputs(item: dict, sam_size: int, unet_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What the SAM student and the U-Net student get in a training iteration (no augmentation, supervised only)."""
    torch.manual_seed(0)
    sam, unet = SamAdapter("tiny", num_classes=2, img_size=sam_size), UNet(1, 2, base_channels=4)
    teachers = copy.deepcopy(sam), copy.deepcopy(unet)
    seen = Recorder(sam), Recorder(unet)
    loader = DataLoader([labeled_transforms(max(sam_size, unet_size), augment=False)(item)], batch_size=1)
    trainer = SynFoCTrainer(
        device="cpu", max_epochs=1, epoch_length=1, train_data_loader=loader, unlabeled_data_loader=None,
        network=sam, optimizer=torch.optim.SGD(sam.trainable_parameters(), lr=0.0), unet=unet,
        unet_optimizer=torch.optim.SGD(unet.parameters(), lr=0.0), sam_teacher=teachers[0],
        unet_teacher=teachers[1], structures=[(1,)], num_classes=2, unet_size=unet_size, max_iterations=1,
    )  # fmt: skip
    with one_torch_thread():
        trainer.run()
    return seen[0].inputs[0], seen[1].inputs[0]


def bundle_inputs(
    parser: ConfigParser, preprocessing: str, inferer: str, item: dict, network: torch.nn.Module
) -> torch.Tensor:
    """What ``network`` gets from the bundle's ``preprocessing`` and ``inferer`` (config ids) for ``item``."""
    seen = Recorder(network)
    batch = list_data_collate([parser.get_parsed_content(preprocessing)(dict(item))])
    with torch.no_grad(), one_torch_thread():
        parser.get_parsed_content(inferer)(batch["image"], network)
    return seen.inputs[0]


def bundle(files: list[str], tmp_path: Path, sam_size: int, unet_size: int) -> ConfigParser:
    """The prostate bundle's configs ``files`` at these sizes (no trained model: nothing is loaded)."""
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / name) for name in files])
    parser.update({"bundle_root": str(tmp_path), "sam_size": sam_size, "unet_size": unet_size, "in_channels": 1})
    return parser


@pytest.mark.parametrize("sam_size, unet_size", [(48, 64), (64, 48)])
def test_training_evaluation_and_inference_inputs_are_equal(item, tmp_path, sam_size, unet_size):
    train_sam, train_unet = training_inputs(item, sam_size, unet_size)
    assert train_sam.shape == (1, 1, sam_size, sam_size) and train_unet.shape == (1, 1, unet_size, unet_size)
    sam, unet = SamAdapter("tiny", num_classes=2, img_size=sam_size), UNet(1, 2, base_channels=4)
    train = bundle(["train.json"], tmp_path, sam_size, unet_size)
    inference = bundle(["inference.json"], tmp_path, sam_size, unet_size)
    inference_unet = bundle(["inference.json", "inference_unet.json"], tmp_path, sam_size, unet_size)
    label_free = {"image": item["image"]}
    for network, trained, paths in (
        (sam, train_sam, [(train, "validate#preprocessing", "validate#sam_inferer", item),
                          (inference, "preprocessing", "inferer", label_free)]),
        (unet, train_unet, [(train, "validate#preprocessing", "validate#unet_inferer", item),
                            (inference_unet, "preprocessing", "inferer", label_free)]),
    ):  # fmt: skip
        for parser, preprocessing, inferer, data in paths:
            seen = bundle_inputs(parser, preprocessing, inferer, data, network)
            assert torch.equal(seen, trained), f"{type(network).__name__}: {inferer} gets another input than training"


def test_network_input_is_antialiased_bilinear():
    """Shrinking weighs every source pixel in; nearest, 128 -> 96, keeps 3 of every 4 rows and drops the fourth."""
    rows = torch.zeros(1, 1, 128, 128)
    rows[..., 3::4, :] = 1.0  # every fourth row bright: exactly the rows nearest drops
    assert F.interpolate(rows, size=(96, 96), mode="nearest").max().item() == 0.0
    small = network_input(rows, 96)
    assert small.shape == (1, 1, 96, 96)
    assert small.mean().item() == pytest.approx(0.25, abs=0.01)  # the bright rows' share survives
    assert 0.0 < small.max().item() < 1.0  # blended with their neighbours
    assert network_input(rows, 128) is rows
