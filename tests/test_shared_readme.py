"""The bundle READMEs' shared sections (commands, Model Zoo, MONAI Label) are written from one template by ``zoo sync``,
with each bundle's facts read from its metadata; the bundle's own sections are its own."""

from __future__ import annotations

import json
import shutil

import pytest
from bundle_runs import BUNDLES, REPO

from synfoc_components.zoo.shared_readme import BEGIN, END, README, expected_readme, readme_facts
from synfoc_components.zoo.sync import stale_configs, sync_bundles


@pytest.fixture
def bundles(tmp_path):
    """A copy of the repository's bundle folders (configs and docs only)."""
    shutil.copytree(REPO / "bundles", tmp_path / "bundles", ignore=shutil.ignore_patterns("data", "eval", "models"))
    return tmp_path / "bundles"


def shared_block(text: str) -> str:
    return text[text.index(BEGIN) + len(BEGIN): text.index(END)]


@pytest.mark.parametrize("bundle", BUNDLES)
def test_readme_states_the_bundles_own_facts(bundle):
    folder = REPO / "bundles" / bundle
    metadata = json.loads((folder / "configs" / "metadata.json").read_text())
    block = shared_block((folder / README).read_text())
    image = metadata["network_data_format"]["inputs"]["image"]
    pred = metadata["network_data_format"]["outputs"]["pred"]
    side, channels = image["spatial_shape"][0], image["num_channels"]
    unet_side = metadata["unet_data_format"]["inputs"]["image"]["spatial_shape"][0]
    assert f"`image`, {channels} x {side} x {side} in [0, 1]" in block
    assert f"`pred`, {pred['num_channels']}-channel" in block
    assert f"`unet_data_format` describes the U-Net (`inference_unet.json`) at {unet_side}." in block
    assert f"--weights_url https://<where you publish>/{bundle}/{metadata['version']}" in block
    labels = [f"`{name.lower()}` = {k}" for k, name in pred["channel_def"].items() if name != "background"]
    assert f"as `{bundle}_segmentation` (2D, label{'s' if len(labels) > 1 else ''} {', '.join(labels)})" in block
    assert "{{" not in block and all(f"bundles/{other}" not in block for other in BUNDLES if other != bundle)


def test_a_metadata_change_makes_the_readme_stale_and_sync_rewrites_it(bundles):
    meta = bundles / "fundus/configs/metadata.json"
    metadata = json.loads(meta.read_text())
    metadata["unet_data_format"]["inputs"]["image"]["spatial_shape"] = [320, 320]
    meta.write_text(json.dumps(metadata, indent=4))
    own = bundles / "mnms" / README  # a change outside the block is the bundle's own business
    own.write_text(own.read_text().replace("## Data\n", "## Data\n\nA sentence of the bundle's own.\n", 1))
    folders = sorted(p for p in bundles.iterdir() if p.is_dir())

    assert stale_configs(folders) == [bundles / "fundus" / README]
    assert sync_bundles(folders) == [bundles / "fundus" / README]
    text = (bundles / "fundus" / README).read_text()
    assert "(`inference_unet.json`) at 320." in shared_block(text)
    assert "A sentence of the bundle's own." in own.read_text()
    assert stale_configs(folders) == []


def test_an_edit_inside_the_block_is_undone_by_sync(bundles):
    readme = bundles / "acdc" / README
    original = readme.read_text()
    readme.write_text(original.replace("## MONAI Label\n", "## MONAI Label\n\nEdited by hand.\n", 1))
    assert stale_configs([bundles / "acdc"]) == [readme]
    sync_bundles([bundles / "acdc"])
    assert readme.read_text() == original


def test_a_readme_without_the_block_is_named(bundles):
    readme = bundles / "busi" / README
    readme.write_text(readme.read_text().replace(END, ""))
    with pytest.raises(ValueError, match=r"busi/docs/README\.md: needs one shared-sections block"):
        expected_readme(bundles / "busi")


def test_facts_name_the_metadata_that_lacks_them(bundles):
    meta = bundles / "mscmrseg/configs/metadata.json"
    metadata = json.loads(meta.read_text())
    del metadata["unet_data_format"]
    meta.write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=r"mscmrseg/configs/metadata\.json: the README's shared sections need"):
        readme_facts(bundles / "mscmrseg")
