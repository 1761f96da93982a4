"""Metadata of the model actually trained: each data format's tensors from its weights' settings file.

``configs/metadata.json`` describes the networks the configs build by default (``train.json``'s settings). A model
trained with other settings (``demo.json``, ``--sam_size`` ...) carries them in ``models/<weights>.settings.json``;
``python -m synfoc_components.zoo describe <bundle>`` writes what they imply into the metadata (so that
``ckpt_export``, ``verify_net_in_out`` and the shared archive describe that model), and the ``trained-model`` rule of
``check`` and ``package`` names a metadata that does not.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from synfoc_components.io import atomic_write
from synfoc_components.networks.settings import ModelSettings, settings_file

from .layout import META
from .problems import Problem

__all__ = ["described_tensors", "describe_trained", "trained_model_problems", "weights_of"]

logger = logging.getLogger(__name__)



def weights_of(data_format: str) -> str:
    """The weights a data format describes: ``network_data_format`` -> ``models/model.pt``, ``<name>_data_format``
    -> ``models/model_<name>.pt`` (as ``configs/inference_<name>.json`` loads them)."""
    name = data_format.removesuffix("_data_format")
    return "models/model.pt" if data_format == "network_data_format" else f"models/model_{name}.pt"


def described_tensors(settings: ModelSettings) -> dict[str, dict[str, Any]]:
    """What a data format says of the network saved with ``settings``, by ``inputs.image`` and ``outputs.pred``.

    Raises:
        ValueError: the settings name a network this package does not describe.
    """
    if settings.network == "SamAdapter":
        size, out = settings.sam_size, settings.sam_size // settings.sam_logit_stride
    elif settings.network == "UNet":
        size = out = settings.unet_size
    else:
        raise ValueError(f"{settings.source}: network {settings.network!r} is neither SamAdapter nor UNet")
    channel_def = {str(i): name for i, name in enumerate(("background", *settings.class_names))}
    return {
        "inputs.image": {"num_channels": settings.in_channels, "spatial_shape": [size, size]},
        "outputs.pred": {"num_channels": settings.num_classes, "spatial_shape": [out, out], "channel_def": channel_def},
    }


def _trained(root: Path, meta: dict[str, Any]) -> tuple[dict[str, ModelSettings], list[Problem]]:
    """The saved settings of each data format whose weights have a settings file, and unreadable ones as problems."""
    found, problems = {}, []
    for key in sorted(k for k in meta if k.endswith("_data_format")):
        weights = root / weights_of(key)
        if not settings_file(weights).is_file():
            continue
        try:
            found[key] = ModelSettings.read(weights, description=None)
        except ValueError as error:
            problems.append(Problem(str(settings_file(weights).relative_to(root)), "trained-model", str(error)))
    return found, problems


def _differences(meta: dict[str, Any], key: str, settings: ModelSettings) -> list[tuple[str, str, Any, Any]]:
    """(tensor, field, described, trained) for every field the metadata describes otherwise than the settings."""
    found = []
    for tensor, wanted in described_tensors(settings).items():
        group, name = tensor.split(".")
        described = meta[key].get(group, {}).get(name, {})
        found += [(tensor, f, described.get(f), v) for f, v in wanted.items() if described.get(f) != v]
    return found


def trained_model_problems(bundle: str | Path, meta: dict[str, Any]) -> list[Problem]:
    """``trained-model``: each data format describes the weights in ``models/`` as their settings file says.

    Weights without a settings file are not compared (their settings are unknown).
    """
    root = Path(bundle)
    trained, problems = _trained(root, meta)
    for key, settings in trained.items():
        for tensor, name, described, value in _differences(meta, key, settings):
            message = (
                f"{key}.{tensor}.{name} is {described!r}, but {weights_of(key)} was trained for {value!r} "
                f"({Path(settings.source or '').name}): run python -m synfoc_components.zoo describe {root}"
            )
            problems.append(Problem(META, "trained-model", message))
    return problems


def describe_trained(bundle: str | Path) -> list[str]:
    """Write into ``configs/metadata.json`` what the trained weights' settings files say (atomically).

    Returns:
        One line per field changed (none: the metadata already describes the trained model).

    Raises:
        ValueError: a settings file is unreadable or was not saved with its weights; or no weights have one.
    """
    root = Path(bundle)
    meta = json.loads((root / META).read_text(encoding="utf-8"))
    trained, problems = _trained(root, meta)
    if problems:
        raise ValueError("; ".join(p.describe(root) for p in problems))
    if not trained:
        raise ValueError(f"{root / 'models'}: no weights with a settings file (train the bundle first)")
    changes = []
    for key, settings in trained.items():
        for tensor, name, described, value in _differences(meta, key, settings):
            group, tensor_name = tensor.split(".")
            meta[key][group][tensor_name][name] = value
            changes.append(f"{key}.{tensor}.{name}: {described!r} -> {value!r}")
    if changes:
        atomic_write(root / META, lambda f: f.write(json.dumps(meta, indent=4) + "\n"))
    for change in changes:
        logger.info("%s: %s", root / META, change)
    return changes
