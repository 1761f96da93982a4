"""What a trained network is rebuilt with, saved beside its weights: ``models/model.settings.json`` for ``model.pt``.

Training writes the file right after each weights file (:meth:`ModelSettings.write`, from ``BestModelSaver``), with
the weights' SHA-256, so a pair that was not saved together is detected instead of silently used. Inference,
evaluation, MONAI Label and the TorchScript export build their networks from it: their configs read it once
(:meth:`ModelSettings.read`, key ``saved_settings``), take ``foundation``, ``sam_size``... from it by default, and
check the values they end up with (:meth:`ModelSettings.check`): a value given on the command line or in a layered
config file that contradicts the saved one stops with an error naming both. ``model.pt`` stays a bare state dict.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synfoc_components.io import atomic_write, file_hash

__all__ = ["ASSUMED", "NETWORK_FIELDS", "REBUILD_FIELDS", "ModelSettings", "settings_file"]

logger = logging.getLogger(__name__)

SUFFIX = ".settings.json"

REBUILD_FIELDS = ("foundation", "sam_size", "sam_logit_stride", "lora_rank", "unet_size", "unet_channels",
                  "num_classes", "in_channels")  # fmt: skip
"""The settings that decide how the networks are built (the rest of :class:`ModelSettings` is descriptive)."""

NETWORK_FIELDS: dict[str, tuple[str, ...]] = {
    "SamAdapter": ("foundation", "sam_size", "sam_logit_stride", "lora_rank", "num_classes", "in_channels"),
    "UNet": ("unet_size", "unet_channels", "num_classes", "in_channels"),
}
"""The settings each saved network depends on (its class name as the settings file records it)."""

ASSUMED: dict[str, Any] = {"foundation": "lite_medsam", "sam_size": 256, "sam_logit_stride": 1, "lora_rank": 4,
                           "unet_channels": 64}  # fmt: skip
"""What the configs assumed of a model saved with no settings file (bundles before models carried their settings);
the dataset's description gives the U-Net size, the classes and the channels, as those configs did. Fixed: these are
the old configs' values, not today's defaults."""


def settings_file(weights: str | os.PathLike) -> Path:
    """The settings file of a weights file: ``models/model.pt`` -> ``models/model.settings.json``."""
    path = Path(weights)
    return path.with_name(path.stem + SUFFIX)


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


@dataclass(frozen=True)
class ModelSettings:
    """The settings both networks of a SynFoC bundle are built with (the keys of the same names in the configs).

    Args:
        foundation: the foundation backbone (``SamAdapter(backbone=...)``).
        sam_size: its input size.
        sam_logit_stride: its logits come out at ``sam_size / sam_logit_stride``.
        lora_rank: its LoRA rank.
        unet_size: the U-Net's input size.
        unet_channels: the U-Net's base channels.
        num_classes: classes incl. background (both networks' output channels).
        in_channels: image channels the networks see.
        class_names: the foreground classes' names (class ids 1, 2, ...); descriptive, not checked.
        bundle_version: the version of the bundle that trained the model; descriptive, not checked.
        network: the class of the saved network (``SamAdapter``, ``UNet``); set when read from a settings file.
        source: the settings file read; None when the settings are assumed (no file) or given by a config.
        weights: the weights file the settings were read for.
    """

    foundation: str
    sam_size: int
    sam_logit_stride: int
    lora_rank: int
    unet_size: int
    unet_channels: int
    num_classes: int
    in_channels: int
    class_names: tuple[str, ...] = ()
    bundle_version: str | None = None
    network: str | None = None
    source: str | None = field(default=None, compare=False)
    weights: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        wrong = [] if isinstance(self.foundation, str) else [f"foundation {self.foundation!r}"]
        for name in REBUILD_FIELDS[1:]:
            value, least = getattr(self, name), 0 if name == "lora_rank" else 1  # LoRA rank 0: no LoRA
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                wrong.append(f"{name} {value!r}")
        if wrong:
            raise ValueError(f"{self.source or 'model settings'}: not valid ({', '.join(wrong)})")
        object.__setattr__(self, "class_names", tuple(self.class_names))

    def rebuild_values(self, network: str | None = None) -> dict[str, Any]:
        """The settings ``network`` depends on (all of :data:`REBUILD_FIELDS` when None or unknown), by name."""
        return {name: getattr(self, name) for name in NETWORK_FIELDS.get(network or "", REBUILD_FIELDS)}

    def write(self, weights: str | os.PathLike, network: str) -> Path:
        """Write the settings file of ``weights`` (after the weights: it records their SHA-256), atomically.

        Args:
            weights: the saved weights file, e.g. ``models/model.pt``.
            network: the saved network's class name (``SamAdapter``, ``UNet``).

        Returns:
            The settings file.
        """
        target = settings_file(weights)
        content = {k: v for k, v in asdict(self).items() if k not in ("source", "weights")}
        content.update(network=network, class_names=list(self.class_names))
        content.update(weights=Path(weights).name, weights_sha256=file_hash(weights))
        atomic_write(target, lambda f: f.write(json.dumps(content, indent=2) + "\n"))
        return target

    @classmethod
    def read(cls, weights: str | os.PathLike, description: Any) -> ModelSettings:
        """The settings ``weights`` were trained with: from their settings file, or assumed when there is none.

        Args:
            weights: the weights file, e.g. ``models/model.pt`` (need not exist yet).
            description: the dataset's ``DatasetDescription``; it gives the U-Net size, classes and channels of
                the assumed settings.

        Raises:
            ValueError: the settings file is unreadable or incomplete, or records another SHA-256 than the weights
                have (they were not saved together).
        """
        path = settings_file(weights)
        if not path.is_file():
            assumed = {**ASSUMED, "unet_size": description.unet_size, "num_classes": description.num_classes,
                       "in_channels": description.in_channels, "class_names": description.class_names}  # fmt: skip
            return cls(**assumed, weights=str(weights))
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
            digest = content.pop("weights_sha256")
            content.pop("weights", None)
            settings = cls(**content, source=str(path), weights=str(weights))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise ValueError(f"{path}: not a readable model settings file ({error})") from None
        if Path(weights).is_file() and file_hash(weights) != digest:
            raise ValueError(
                f"{path}: records other weights than {weights} holds (SHA-256 {digest[:12]}... differs): the weights "
                "changed after this file was written (damaged, replaced, or an interrupted save); retrain, or delete "
                "the settings file and give the settings the weights were trained with"
            )
        return settings

    def check(self, given: ModelSettings) -> bool:
        """Check the settings the configs give (``given``) against these saved ones before a network is built.

        With no settings file, the given settings are used as they are and a warning says what is assumed.

        Returns:
            True (for use in a config's ``_requires_``).

        Raises:
            ValueError: naming each setting whose given value differs from the saved one, with both values.
        """
        wanted = given.rebuild_values(self.network)
        if self.source is None:
            logger.warning(
                "%s: no settings file %s beside it (saved before models carried their settings): assuming %s; if it "
                "was trained with other values, give them on the command line (e.g. --sam_size 96 after a demo.json "
                "run)", self.weights, settings_file(self.weights or "model.pt").name, _describe(wanted),
            )  # fmt: skip
            return True
        saved = self.rebuild_values(self.network)
        wrong = [f"{k} {wanted[k]!r} (the model was trained with {saved[k]!r})" for k in saved if wanted[k] != saved[k]]
        if wrong:
            raise ValueError(
                f"{self.source}: given on the command line or in a config file: {', '.join(wrong)}; leave these "
                "keys out to use the trained values"
            )
        return True
