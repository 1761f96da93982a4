"""The pipelines bundles build: labeled (weak), unlabeled (weak + strong copy), evaluation (docs/method.md 3.1-3.2).

Each builder returns one flat ``Compose`` whose deterministic loading prefix ``CacheDataset`` can cache; every
random step is a MONAI ``Randomizable``, so ``set_determinism`` / ``Compose.set_random_state`` and MONAI's
``DataLoader`` worker seeding make runs reproducible. The bundles' ``train.json`` lists the weak and strong steps
as transform dicts of their own (``train#weak_transforms``, ``train#strong_transforms``, the same steps as
:func:`weak_augmentation` and :func:`strong_augmentation`) and passes them to the builders as ``weak`` / ``strong``,
so one step can be overridden from JSON.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from monai.transforms import (
    Compose,
    CopyItemsd,
    EnsureTyped,
    MapTransform,
    RandFlipd,
    RandScaleIntensityd,
    ScaleIntensityRanged,
)

from synfoc_components.transforms.blur import RandGaussianBlurd
from synfoc_components.transforms.contrast import RandContrastd
from synfoc_components.transforms.elastic import RandElasticd
from synfoc_components.transforms.loading import IMAGE, IMAGE_STRONG, LABEL, label_to_ids, load_transforms
from synfoc_components.transforms.rotate import RandRotationd
from synfoc_components.transforms.scale_crop import RandScaleCropd

__all__ = ["weak_augmentation", "strong_augmentation", "labeled_transforms", "unlabeled_transforms", "eval_transforms"]


def weak_augmentation(
    keys: Sequence[str] = (IMAGE, LABEL),
    prob: float = 0.5,
    scale_range: Sequence[float] = (1.0, 1.5),
    rotate_degrees: float = 20.0,
) -> list[MapTransform]:
    """Joint geometric augmentation, each step with probability ``prob``, in the upstream order: independent
    per-axis up-scaling + random crop, rotation in [-rotate_degrees, rotate_degrees] (zero fill = background),
    horizontal flip, elastic deformation (as strong relative to the image as upstream's at 512 px at any size).
    Images are interpolated bilinearly, labels by nearest neighbour.

    Args:
        keys: image key first, then label keys.
        prob: probability of every step.
        scale_range: per-axis scale factor range.
        rotate_degrees: maximum absolute rotation angle.

    Returns:
        The list of transforms.
    """
    keys = list(keys)
    smooth = ["bilinear"] + ["nearest"] * (len(keys) - 1)
    return [
        RandScaleCropd(keys, prob, scale_range, mode=["bilinear"] + ["nearest-exact"] * (len(keys) - 1)),
        RandRotationd(keys, prob, max_degrees=rotate_degrees, mode=smooth),
        RandFlipd(keys, prob=prob, spatial_axis=0),  # spatial axis 0 is x (PILReader): a left-right flip
        RandElasticd(keys, prob=prob, mode=smooth),
    ]


def strong_augmentation(
    brightness_contrast: Sequence[float] = (0.1, 2.0), blur_sigma: Sequence[float] = (0.1, 2.0)
) -> list[MapTransform]:
    """``image_strong`` = a copy of ``image`` with brightness and contrast factors in ``brightness_contrast``
    (PIL ``ImageEnhance`` semantics, clipped to [0, 1] like 8-bit images) and a Gaussian blur; geometry unchanged.

    Args:
        brightness_contrast: range of both factors (``DatasetDescription.brightness_contrast``).
        blur_sigma: range of the blur sigma in pixels at 512 px (scaled with the image side).

    Returns:
        The list of transforms.
    """
    low, high = float(brightness_contrast[0]), float(brightness_contrast[1])
    return [
        CopyItemsd(keys=IMAGE, names=IMAGE_STRONG),
        RandScaleIntensityd(keys=IMAGE_STRONG, factors=(low - 1.0, high - 1.0), prob=1.0),
        ScaleIntensityRanged(keys=IMAGE_STRONG, a_min=0.0, a_max=1.0, b_min=0.0, b_max=1.0, clip=True),
        RandContrastd(keys=IMAGE_STRONG, factors=(low, high), prob=1.0),
        RandGaussianBlurd(keys=IMAGE_STRONG, sigma_range=blur_sigma, prob=1.0),
    ]


def _plain(keys: list[str]) -> list[MapTransform]:
    """Plain tensors (no MetaTensor) for fast collation in training; labels as int64."""
    images = EnsureTyped(keys=[k for k in keys if k != LABEL], dtype=torch.float32, track_meta=False)
    return [images] + ([label_to_ids(track_meta=False)] if LABEL in keys else [])


def _own(steps: Sequence[MapTransform]) -> list[MapTransform]:
    """Deep copies of configured steps: the labeled and unlabeled pipelines share one config list, and each must
    own its transforms (and their random states)."""
    return copy.deepcopy(list(steps))


def labeled_transforms(
    image_size: int, augment: bool = True, prob: float = 0.5, weak: Sequence[MapTransform] | None = None
) -> Compose:
    """Labeled training samples: ``image`` 1|3 x S x S float in [0, 1] and ``label`` 1 x S x S int64 class ids.

    Args:
        image_size: the base training size S (the foundation model's input size).
        augment: apply the weak augmentation.
        prob: probability of each weak step (for the default steps only).
        weak: the weak steps (e.g. ``train#weak_transforms``; copied), keys ``image`` and ``label``; None:
            :func:`weak_augmentation` with ``prob``.
    """
    steps = load_transforms(image_size, label_size=image_size)
    if augment:
        steps += weak_augmentation((IMAGE, LABEL), prob) if weak is None else _own(weak)
    return Compose(steps + _plain([IMAGE, LABEL]))


def unlabeled_transforms(
    image_size: int,
    brightness_contrast: Sequence[float] = (0.1, 2.0),
    with_label: bool = False,
    prob: float = 0.5,
    weak: Sequence[MapTransform] | None = None,
    strong: Sequence[MapTransform] | None = None,
) -> Compose:
    """Unlabeled training samples: weakly augmented ``image`` and its strong copy ``image_strong`` (same geometry).

    Args:
        image_size: the base training size S.
        brightness_contrast: range of the strong brightness and contrast factors (for the default steps only).
        with_label: also load and carry ``label`` (for monitoring only; the method never uses it).
        prob: probability of each weak step (for the default steps only).
        weak: the weak steps (copied); without ``with_label`` the item has no ``label``, so steps keyed on it need
            ``allow_missing_keys`` (as ``train#weak_transforms`` has); None: :func:`weak_augmentation`.
        strong: the strong steps (copied), which make ``image_strong`` from ``image``; None:
            :func:`strong_augmentation` of ``brightness_contrast``.
    """
    keys = [IMAGE, LABEL] if with_label else [IMAGE]
    steps = load_transforms(image_size, label_size=image_size, with_label=with_label)
    steps += weak_augmentation(keys, prob) if weak is None else _own(weak)
    steps += strong_augmentation(brightness_contrast) if strong is None else _own(strong)
    return Compose(steps + _plain(keys + [IMAGE_STRONG]))


def eval_transforms(image_size: int, label_size: int | None = None, label_optional: bool = True) -> Compose:
    """Evaluation / inference samples: ``image`` at S x S; ``label`` (where present) nearest-resized to
    ``label_size`` (None: the file's size), int64. MetaTensors are kept so predictions can be inverted and saved.

    Args:
        image_size: the model input size S.
        label_size: the evaluation resolution R (e.g. ``DatasetDescription.unet_size``), or None.
        label_optional: accept items without ``label``.
    """
    steps = load_transforms(image_size, label_size=label_size, label_optional=label_optional)
    return Compose(steps + [label_to_ids(label_optional=label_optional)])
