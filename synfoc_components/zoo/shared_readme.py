"""The sections every bundle README shares (commands, Model Zoo, MONAI Label), written from one template.

A bundle's ``docs/README.md`` holds its own sections (overview, data, training configuration, performance, release
notes, references) and, between :data:`BEGIN` and :data:`END`, the shared ones: ``template/docs/shared_sections.md``
with the bundle's facts filled in. The facts come from the bundle's folder name and its ``configs/metadata.json``
(version, input channels and size, output channels and their names, the U-Net's size), so a README cannot say 384
where the metadata says 256. ``python -m synfoc_components.zoo sync`` rewrites the block; ``--check`` reports it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .layout import META

__all__ = ["BEGIN", "END", "README", "SECTIONS_TEMPLATE", "expected_readme", "readme_facts"]

README = "docs/README.md"
"""A bundle's README, relative to the bundle folder."""

SECTIONS_TEMPLATE = Path(__file__).resolve().parent / "template" / "docs" / "shared_sections.md"
"""The shared sections, once, with ``{{fact}}`` placeholders."""

BEGIN = (
    "<!-- shared sections: written by `python -m synfoc_components.zoo sync` from "
    "synfoc_components/zoo/template/docs/shared_sections.md; edit the template, not this block -->\n"
)
END = "<!-- end of shared sections -->\n"


def readme_facts(bundle: str | Path) -> dict[str, str]:
    """The values of the template's placeholders for ``bundle``, read from its folder name and metadata.

    Returns:
        ``name``, ``version``, ``in_channels``, ``sam_size``, ``pred_channels``, ``unet_size`` and ``labels`` (the
        label names MONAI Label takes from ``channel_def``: lower case, background left out).

    Raises:
        FileNotFoundError: when the bundle has no metadata.
        ValueError: naming the metadata file when a field the template needs is missing.
    """
    path = Path(bundle) / META
    metadata = json.loads(path.read_text())
    try:
        image = metadata["network_data_format"]["inputs"]["image"]
        pred = metadata["network_data_format"]["outputs"]["pred"]
        unet_image = metadata["unet_data_format"]["inputs"]["image"]
        names = {int(k): v.lower() for k, v in pred["channel_def"].items() if v.lower() != "background"}
        facts = {
            "name": Path(bundle).resolve().name,
            "version": metadata["version"],
            "in_channels": str(image["num_channels"]),
            "sam_size": str(image["spatial_shape"][0]),
            "pred_channels": str(pred["num_channels"]),
            "unet_size": str(unet_image["spatial_shape"][0]),
        }
    except (KeyError, IndexError, AttributeError) as err:
        raise ValueError(f"{path}: the README's shared sections need {err} (network/unet_data_format)") from err
    pairs = ", ".join(f"`{name}` = {k}" for k, name in sorted(names.items()))
    facts["labels"] = f"label{'s' if len(names) > 1 else ''} {pairs}"
    return facts


def expected_readme(bundle: str | Path, template: Path = SECTIONS_TEMPLATE) -> bytes:
    """``bundle``'s README with the block between :data:`BEGIN` and :data:`END` written from the template.

    Raises:
        FileNotFoundError: when the README or the template is missing.
        ValueError: naming the README when it lacks the markers (one of each, in order), or naming the template when
            a placeholder has no value.
    """
    path = Path(bundle) / README
    text = path.read_text()
    start, stop = text.find(BEGIN), text.find(END)
    if text.count(BEGIN) != 1 or text.count(END) != 1 or stop < start:
        raise ValueError(f"{path}: needs one shared-sections block, from the line\n  {BEGIN.strip()}\nto\n  {END.strip()}")
    block, facts = template.read_text(), readme_facts(bundle)
    for key, value in facts.items():
        block = block.replace("{{" + key + "}}", value)
    if "{{" in block:
        unknown = block[block.index("{{"):].split("}}")[0] + "}}"
        raise ValueError(f"{template}: placeholder {unknown} has no value (known: {sorted(facts)})")
    return (text[: start + len(BEGIN)] + block + text[stop:]).encode()
