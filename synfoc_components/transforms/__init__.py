"""Transforms for SynFoC: loading, weak (joint geometric) and strong (intensity) augmentation, box copy-paste.

Builders for bundle configs: ``labeled_transforms``, ``unlabeled_transforms``, ``eval_transforms`` (each a flat
``Compose``; ``train.json`` passes them its ``train#weak_transforms`` and ``train#strong_transforms`` lists), and the
parts ``load_transforms``, ``weak_augmentation``, ``strong_augmentation``. ``box_mix`` and
``BoxMaskSampler`` mix labeled boxes into unlabeled batches on the device (docs/method.md 3.6).
"""

from __future__ import annotations

from synfoc_components.transforms.blur import RandGaussianBlurd
from synfoc_components.transforms.box_mix import BoxMaskSampler, box_mix
from synfoc_components.transforms.contrast import RandContrastd
from synfoc_components.transforms.elastic import RandElasticd
from synfoc_components.transforms.inference import (
    MatchChannelsd,
    SaveMaskd,
    ScaleToUnitd,
    inference_transforms,
)
from synfoc_components.transforms.loading import (
    IMAGE,
    IMAGE_STRONG,
    LABEL,
    NetworkInputd,
    label_to_ids,
    load_transforms,
)
from synfoc_components.transforms.pipelines import (
    eval_transforms,
    labeled_transforms,
    strong_augmentation,
    unlabeled_transforms,
    weak_augmentation,
)
from synfoc_components.transforms.rotate import RandRotationd
from synfoc_components.transforms.scale_crop import RandScaleCropd

__all__ = [
    "MatchChannelsd",
    "SaveMaskd",
    "ScaleToUnitd",
    "inference_transforms",
    "BoxMaskSampler",
    "IMAGE",
    "IMAGE_STRONG",
    "LABEL",
    "NetworkInputd",
    "RandContrastd",
    "RandElasticd",
    "RandGaussianBlurd",
    "RandRotationd",
    "RandScaleCropd",
    "box_mix",
    "eval_transforms",
    "label_to_ids",
    "labeled_transforms",
    "load_transforms",
    "strong_augmentation",
    "unlabeled_transforms",
    "weak_augmentation",
]
