"""Per-sample, per-structure Dice, Jaccard, HD95 and ASD with the upstream rules for empty masks (docs/method.md 5).

Rules, for each sample and structure (a structure's mask is the union of its class ids):

- Dice and Jaccard are the plain overlap scores. With an empty ground truth they are 1 when the prediction is empty
  too and 0 otherwise (``monai.metrics.compute_iou(ignore_empty=False)``).
- HD95 (MONAI's symmetric 95th-percentile Hausdorff distance) and ASD (MONAI's average surface distance from the
  prediction to the ground truth, as medpy's ``asd(pred, gt)``) are measured in pixels (voxels) and, when a spacing is
  given, in mm. An empty prediction scores ``EMPTY_PREDICTION_PENALTY`` = 100 pixels (upstream's penalty; in mm the
  same 100 pixels times the mean spacing). With an empty ground truth they are NaN, so means leave them out.

Everything works on any number of spatial dimensions, so 3D per-case metrics reuse it on stacked volumes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_iou
from monai.utils import convert_to_tensor

from synfoc_components.resize import resize_labels

__all__ = [
    "EMPTY_PREDICTION_PENALTY",
    "METRIC_NAMES",
    "as_batch",
    "class_map",
    "dice_jaccard",
    "slice_metrics",
    "structure_masks",
    "surface_distances",
]

EMPTY_PREDICTION_PENALTY = 100.0
METRIC_NAMES = ("dice", "jaccard", "hd95", "asd", "hd95_mm", "asd_mm")


def as_batch(items: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """A plain tensor B x C x spatial from a batched tensor or a decollated list of C x spatial tensors."""
    if isinstance(items, torch.Tensor):
        return convert_to_tensor(items, track_meta=False)
    return torch.stack([convert_to_tensor(i, track_meta=False) for i in items])


def class_map(pred: torch.Tensor, size: Sequence[int] | None = None) -> torch.Tensor:
    """Turn a batched prediction into class ids B x 1 x spatial, optionally at another spatial size.

    Args:
        pred: logits / probabilities / one-hot B x K x spatial (K > 1: argmax over channels), or class ids
            B x 1 x spatial.
        size: target spatial size; a class map of another size is resized with nearest neighbour, as upstream's
            nearest zoom to the evaluation resolution.

    Returns:
        A long tensor B x 1 x ``size`` (or the input's spatial size).
    """
    pred = convert_to_tensor(pred, track_meta=False)
    labels = pred.argmax(dim=1, keepdim=True) if pred.shape[1] > 1 else pred.round().long()
    if size is not None and tuple(labels.shape[2:]) != tuple(size):
        if labels.dim() != 4:
            raise ValueError(f"class_map: can only resize 2D maps, got shape {tuple(labels.shape)} -> {tuple(size)}")
        labels = resize_labels(labels, tuple(size))
    return labels


def structure_masks(labels: torch.Tensor, structures: Sequence[Sequence[int]]) -> torch.Tensor:
    """Binary masks B x S x spatial, one channel per structure (the union of its class ids).

    Args:
        labels: class ids B x 1 x spatial.
        structures: class-id tuples, e.g. ``[(1,), (1, 2)]`` for fundus cup and disc.

    Returns:
        A bool tensor B x S x spatial.
    """
    labels = convert_to_tensor(labels, track_meta=False)
    if labels.dim() < 3 or labels.shape[1] != 1:
        raise ValueError(f"structure_masks: expected class ids B x 1 x spatial, got shape {tuple(labels.shape)}")
    ids = [torch.as_tensor(list(s), device=labels.device, dtype=labels.dtype) for s in structures]
    return torch.cat([torch.isin(labels, i) for i in ids], dim=1)


def dice_jaccard(pred_masks: torch.Tensor, true_masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dice and Jaccard per sample and structure, on the masks' device with no host synchronisation.

    Jaccard is ``monai.metrics.compute_iou(ignore_empty=False)``; Dice is derived from it as 2J / (1 + J), which is
    exactly 2|A n G| / (|A| + |G|) and gives the same empty-mask rules.

    Args:
        pred_masks: bool B x S x spatial.
        true_masks: bool B x S x spatial.

    Returns:
        ``(dice, jaccard)``, float tensors B x S.
    """
    jaccard = compute_iou(pred_masks.float(), true_masks.float(), include_background=True, ignore_empty=False)
    return 2.0 * jaccard / (1.0 + jaccard), jaccard


def surface_distances(
    pred_masks: torch.Tensor, true_masks: torch.Tensor, spacing: Sequence[Sequence[float]] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """HD95 and ASD per sample and structure, with the empty-mask rules of this module (computed on the CPU).

    Args:
        pred_masks: bool B x S x spatial.
        true_masks: bool B x S x spatial.
        spacing: per-sample spacing (one value per spatial dimension, in the tensor's dimension order); ``None``
            measures in pixels.

    Returns:
        ``(hd95, asd)``, float CPU tensors B x S.
    """
    pred_masks, true_masks = pred_masks.detach().cpu(), true_masks.detach().cpu()
    batch, num = pred_masks.shape[:2]
    spatial = pred_masks.dim() - 2
    scale = torch.ones(batch) if spacing is None else torch.tensor([sum(s) / len(s) for s in spacing]).float()
    for sp in spacing or ():
        if len(sp) != spatial:
            raise ValueError(f"surface_distances: spacing {tuple(sp)} does not have {spatial} values")
    hd95 = torch.full((batch, num), float("nan"))
    asd = torch.full((batch, num), float("nan"))
    pred_empty = pred_masks.flatten(2).sum(-1) == 0
    true_empty = true_masks.flatten(2).sum(-1) == 0
    penalty = (EMPTY_PREDICTION_PENALTY * scale)[:, None].expand(batch, num)
    fill = pred_empty & ~true_empty
    hd95[fill], asd[fill] = penalty[fill], penalty[fill]
    for b, s in (~pred_empty & ~true_empty).nonzero().tolist():
        p, t = pred_masks[b : b + 1, s : s + 1], true_masks[b : b + 1, s : s + 1]
        sp = None if spacing is None else [list(spacing[b])]
        hd95[b, s] = compute_hausdorff_distance(p, t, include_background=True, percentile=95, spacing=sp)[0, 0]
        asd[b, s] = compute_average_surface_distance(p, t, include_background=True, spacing=sp)[0, 0]
    return hd95, asd


def slice_metrics(
    pred: torch.Tensor,
    label: torch.Tensor,
    structures: Sequence[Sequence[int]],
    spacing: Sequence[Sequence[float]] | None = None,
) -> dict[str, torch.Tensor]:
    """All metrics per sample and structure.

    Args:
        pred: logits B x K x spatial or class ids B x 1 x spatial (resized to the label's size if it differs).
        label: class ids B x 1 x spatial.
        structures: class-id tuples, one per structure.
        spacing: per-sample spacing in mm (one value per spatial dimension), or ``None``.

    Returns:
        ``{"dice", "jaccard", "hd95", "asd"}`` (+ ``"hd95_mm", "asd_mm"`` with a spacing), float CPU tensors B x S;
        distances in pixels unless the key ends in ``_mm``.
    """
    label = convert_to_tensor(label, track_meta=False)
    pred_masks = structure_masks(class_map(pred, label.shape[2:]), structures)
    true_masks = structure_masks(label, structures)
    dice, jaccard = dice_jaccard(pred_masks, true_masks)
    out = {"dice": dice.cpu(), "jaccard": jaccard.cpu()}
    out["hd95"], out["asd"] = surface_distances(pred_masks, true_masks)
    if spacing is not None and all(len(set(sp)) == 1 for sp in spacing):  # isotropic: distances just scale
        scale = torch.tensor([float(sp[0]) for sp in spacing])[:, None]
        out["hd95_mm"], out["asd_mm"] = out["hd95"] * scale, out["asd"] * scale
    elif spacing is not None:
        out["hd95_mm"], out["asd_mm"] = surface_distances(pred_masks, true_masks, spacing)
    return out
