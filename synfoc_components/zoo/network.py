"""Network I/O against ``metadata.json``: what ``verify_net_in_out`` checks, plus the output's spatial shape.

``python -m monai.bundle verify_net_in_out`` compares only the output's channel count and dtype with
``network_data_format``. Here the output's spatial shape is compared too, for ``network_data_format`` (built from
``configs/inference.json``) and for every other ``<name>_data_format`` (built from ``inference.json`` plus
``configs/inference_<name>.json``, e.g. ``unet_data_format`` and ``inference_unet.json``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser

from .layout import META
from .problems import Problem

__all__ = ["data_format_configs", "network_io_problems"]

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}


def data_format_configs(bundle: str | Path) -> dict[str, list[str]]:
    """Each ``*data_format`` of the metadata and the inference config files that build its network (bundle-relative).

    Raises:
        ValueError: when the metadata is not valid JSON.
    """
    root = Path(bundle)
    meta = ConfigParser.load_config_file(root / META)
    found = {}
    for key in meta:
        if key == "network_data_format":
            found[key] = ["configs/inference.json"]
        elif key.endswith("_data_format"):
            extra = f"configs/inference_{key.removesuffix('_data_format')}.json"
            found[key] = ["configs/inference.json", extra] if (root / extra).is_file() else []
    return found


def _fixed(shape: list[Any]) -> list[int] | None:
    """The shape as ints, or None when an entry is an expression (``"*"``, ``"2**p"``...)."""
    return [int(s) for s in shape] if all(isinstance(s, int) for s in shape) else None


def network_io_problems(
    bundle: str | Path,
    overrides: Mapping[str, Any] | None = None,
    device: str = "cpu",
    data_formats: Collection[str] | None = None,
) -> list[Problem]:
    """Build each described network, run it on one random input of the described size, compare its output.

    Args:
        bundle: the bundle folder.
        overrides: config ids and values to set first (e.g. a tiny foundation model in tests).
        device: where to run the networks.
        data_formats: only these data formats of the metadata (e.g. ``["unet_data_format"]``); default: every one.

    Returns:
        ``network-io`` problems: a data format with no config, or an output whose channels, dtype or spatial shape
        differ from its description.
    """
    root = Path(bundle)
    found = []
    meta = ConfigParser.load_config_file(root / META)
    for key, configs in data_format_configs(root).items():
        if data_formats is not None and key not in data_formats:
            continue
        if not configs:
            message = f"{key}: no configs/inference_{key.removesuffix('_data_format')}.json builds its network"
            found.append(Problem(META, "network-io", message))
            continue
        image, pred = meta[key]["inputs"]["image"], meta[key]["outputs"]["pred"]
        size = _fixed(image["spatial_shape"])
        if size is None:
            continue  # an input of any size: verify_net_in_out's --p/--n/--any pick one
        parser = ConfigParser()
        parser.read_config([str(root / c) for c in configs])
        parser.read_meta(str(root / META))
        parser.update({"bundle_root": str(root), **dict(overrides or {})})
        network = parser.get_parsed_content("network_def").to(device).eval()
        with torch.no_grad():
            x = torch.rand(1, image["num_channels"], *size, dtype=_DTYPES.get(image["dtype"], torch.float32))
            y = network(x.to(device))
        got = {
            "num_channels": y.shape[1],
            "dtype": str(y.dtype).removeprefix("torch."),
            "spatial_shape": list(y.shape[2:]),
        }
        want = {k: pred[k] for k in ("num_channels", "dtype")} | {"spatial_shape": _fixed(pred["spatial_shape"])}
        for name, value in want.items():
            if value is not None and got[name] != value:
                built = " + ".join(Path(c).name for c in configs)
                message = f"{key}.outputs.pred: {name} is {value}, but network_def of {built} gives {got[name]}"
                found.append(Problem(META, "network-io", message))
    return found
