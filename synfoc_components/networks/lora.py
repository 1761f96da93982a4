"""LoRA on the fused ``qkv`` projection of attention blocks (q and v adapted, k untouched).

Follows SAMed / upstream SynFoC (docs/method.md 2.1): ``q += B_q(A_q(x))`` and ``v += B_v(A_v(x))`` with A
Kaiming-uniform (a = sqrt(5)), B zero (so an adapted encoder starts identical to the frozen one) and no alpha / r
scaling.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LoRAQKV", "apply_lora", "qkv_layout"]

logger = logging.getLogger(__name__)


def qkv_layout(attn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the query and value features lie in the output of ``attn.qkv``.

    Two layouts are known: segment_anything's ViT (``[q | k | v]``, each ``out/3`` wide) and TinyViT (per head
    ``[q_h | k_h | v_h]``, with widths ``key_dim, key_dim, d``; recognised by its ``key_dim`` and ``d`` attributes).

    Args:
        attn: an attention module with a fused ``qkv`` ``nn.Linear``.

    Returns:
        The output indices of the query features and of the value features (int64 tensors).

    Raises:
        ValueError: if the layout is not one of the known two.
    """
    out = attn.qkv.out_features
    if hasattr(attn, "key_dim") and hasattr(attn, "d") and hasattr(attn, "num_heads"):
        key_dim, d, heads = int(attn.key_dim), int(attn.d), int(attn.num_heads)
        stride = 2 * key_dim + d
        if heads * stride != out:
            raise ValueError(f"{type(attn).__name__}: qkv has {out} outputs, expected {heads} heads x {stride}")
        start = torch.arange(heads).unsqueeze(1) * stride
        return (start + torch.arange(key_dim)).flatten(), (start + 2 * key_dim + torch.arange(d)).flatten()
    if out % 3:
        raise ValueError(f"{type(attn).__name__}: qkv has {out} outputs, not a fused [q | k | v] projection")
    n = out // 3
    return torch.arange(n), torch.arange(2 * n, 3 * n)


class LoRAQKV(nn.Linear):
    """A frozen fused qkv ``nn.Linear`` plus rank-r updates of its query and value outputs.

    It keeps the wrapped layer's ``weight`` and ``bias`` (the same Parameter objects, so state-dict keys stay
    ``...qkv.weight`` / ``...qkv.bias``) and adds ``lora_a_q``, ``lora_b_q``, ``lora_a_v``, ``lora_b_v``.

    Args:
        base: the fused qkv projection to adapt.
        rank: LoRA rank r (> 0).
        q_index: output indices of the query features (see :func:`qkv_layout`).
        v_index: output indices of the value features.
    """

    def __init__(self, base: nn.Linear, rank: int, q_index: torch.Tensor, v_index: torch.Tensor) -> None:
        if rank <= 0:
            raise ValueError(f"LoRA rank must be positive, got {rank}")
        super().__init__(base.in_features, base.out_features, bias=base.bias is not None, device="meta")
        self.weight = base.weight
        self.bias = base.bias
        self.rank = rank
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_a_q = nn.Parameter(torch.empty(rank, base.in_features, **factory))
        self.lora_b_q = nn.Parameter(torch.zeros(len(q_index), rank, **factory))
        self.lora_a_v = nn.Parameter(torch.empty(rank, base.in_features, **factory))
        self.lora_b_v = nn.Parameter(torch.zeros(len(v_index), rank, **factory))
        nn.init.kaiming_uniform_(self.lora_a_q, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.lora_a_v, a=math.sqrt(5))
        self.register_buffer("lora_index", torch.cat([q_index, v_index]).to(base.weight.device), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Base projection plus the placed low-rank updates (two small matmuls, no scatter on activations)."""
        down = F.linear(x, torch.cat([self.lora_a_q, self.lora_a_v]))
        up = torch.block_diag(self.lora_b_q, self.lora_b_v)
        up = up.new_zeros(self.out_features, up.shape[1]).index_copy(0, self.lora_index, up)
        return F.linear(x, self.weight, self.bias) + F.linear(down, up)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}"


def apply_lora(encoder: nn.Module, rank: int) -> list[LoRAQKV]:
    """Freeze ``encoder`` and wrap the fused ``qkv`` of every attention block in :class:`LoRAQKV`.

    Every module with a ``qkv`` ``nn.Linear`` attribute is an attention block: ``blocks[i].attn`` of a
    segment_anything ViT, the ``attn`` of each TinyViT block of LiteMedSAM.

    Args:
        encoder: the image encoder; all its existing parameters get ``requires_grad = False``.
        rank: LoRA rank; 0 only freezes.

    Returns:
        The LoRA layers added (their parameters are the only trainable ones of the encoder).

    Raises:
        ValueError: if ``rank`` is negative, or rank > 0 and the encoder has no attention block with a fused qkv.
    """
    if rank < 0:
        raise ValueError(f"LoRA rank must be >= 0, got {rank}")
    encoder.requires_grad_(False)
    if rank == 0:
        return []
    attns = [m for m in encoder.modules() if isinstance(getattr(m, "qkv", None), nn.Linear)]
    layers = []
    for attn in attns:
        if isinstance(attn.qkv, LoRAQKV):
            raise ValueError(f"{type(encoder).__name__} already carries LoRA layers")
        q_index, v_index = qkv_layout(attn)
        attn.qkv = LoRAQKV(attn.qkv, rank, q_index, v_index)
        layers.append(attn.qkv)
    if not layers:
        raise ValueError(f"{type(encoder).__name__} has no attention block with a fused qkv nn.Linear")
    logger.debug("LoRA rank %d on %d attention blocks of %s", rank, len(layers), type(encoder).__name__)
    return layers
