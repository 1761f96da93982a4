"""Networks: the foundation model behind :class:`SamAdapter` (SAM / MedSAM / LiteMedSAM with LoRA) and the U-Net."""

from __future__ import annotations

from .backbones import BACKBONES, DEFAULT_IMG_SIZES, SamParts, build_backbone, build_sam_decoder, build_vit_parts
from .checkpoints import FRESH_HEADS, lite_medsam_asset, load_sam_weights, read_state_dict, resize_position_tables
from .lora import LoRAQKV, apply_lora, qkv_layout
from .sam_adapter import SamAdapter
from .settings import ModelSettings, settings_file
from .unet import UNet
from .wrappers import compiled, plain_state_dict, unwrap

__all__ = [
    "BACKBONES",
    "DEFAULT_IMG_SIZES",
    "FRESH_HEADS",
    "LoRAQKV",
    "ModelSettings",
    "SamAdapter",
    "SamParts",
    "UNet",
    "apply_lora",
    "build_backbone",
    "build_sam_decoder",
    "build_vit_parts",
    "compiled",
    "lite_medsam_asset",
    "load_sam_weights",
    "plain_state_dict",
    "qkv_layout",
    "read_state_dict",
    "resize_position_tables",
    "settings_file",
    "unwrap",
]
