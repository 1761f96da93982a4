"""The bundle family: every bundle is shaped like ``bundles/prostate`` and differs from it only in dataset facts.

A bundle's shared configs are written from one template with the bundle's name as ``dataset_name``
(``python -m synfoc_components.zoo sync``); what differs between datasets lives in
``synfoc_components.data.describe(<name>)``. Each dataset bundle's training command runs here with tiny overrides on
a small version of its demo data; its inference and evaluation configs run in process, as the command runs them
(``test_prostate_bundle.py`` covers prostate, and the command lines, in more depth).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from bundle_runs import BUNDLES, REPO, TINY, bundle_in_process, one_torch_thread, run_bundle
from monai.bundle import ConfigParser
from PIL import Image
from zoo_helpers import ENV

from synfoc_components.data import describe, prepare
from synfoc_components.data.demo import DEMOS
from synfoc_components.data.preparation.readers import READERS
from synfoc_components.zoo.__main__ import main as zoo_main

OTHERS = [b for b in BUNDLES if b != "prostate"]


def configs(bundle: str) -> Path:
    return REPO / "bundles" / bundle / "configs"


def sync(*options: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python -m synfoc_components.zoo sync <options>`` run in ``cwd`` (whose ``bundles/`` it syncs by default)."""
    cmd = [sys.executable, "-m", "synfoc_components.zoo", "sync", *options]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=ENV)


def sync_in_process(*options: str, cwd: Path, monkeypatch, capsys) -> str:
    """The same command's ``main`` run in this process in ``cwd`` (exit status 2 raises ``SystemExit``); its
    stdout."""
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    zoo_main(["sync", *options])
    return capsys.readouterr().out


@pytest.mark.parametrize("bundle", BUNDLES)
def test_bundle_is_complete(bundle):
    folder = REPO / "bundles" / bundle
    for name in ("LICENSE", "large_files.yml", "docs/README.md", "docs/data_license.txt", "configs/metadata.json",
                 "configs/demo.json"):
        assert (folder / name).is_file(), f"{bundle}: {name} missing"
    assert not list(folder.rglob("*.py")), f"{bundle}: Python code belongs in synfoc_components, not in a bundle"
    description = describe(bundle)
    assert bundle in READERS and bundle in DEMOS
    metadata = json.loads((folder / "configs" / "metadata.json").read_text())
    assert metadata["network_data_format"]["outputs"]["pred"]["channel_def"] == description.channel_def
    assert metadata["network_data_format"]["inputs"]["image"]["num_channels"] == description.in_channels
    assert metadata["version"] in metadata["changelog"]
    long = {v: len(text) for v, text in metadata["changelog"].items() if len(text) > 250 or "\n" in text}
    assert not long, f"{bundle}: changelog entries are one short line each (the story goes in docs/README.md): {long}"
    readme = (folder / "docs" / "README.md").read_text()
    assert all(f"**{version}**" in readme for version in metadata["changelog"]), f"{bundle}: release notes missing"


def test_shared_configs_are_as_the_template_writes_them(monkeypatch, capsys):
    assert f"{len(BUNDLES)} bundle(s)" in sync_in_process("--check", "True", cwd=REPO, monkeypatch=monkeypatch,
                                                          capsys=capsys)  # fmt: skip


@pytest.mark.parametrize("bundle", BUNDLES)
def test_dataset_facts_come_from_the_bundle_name(bundle):
    for name in ("train.json", "inference.json"):
        parser = ConfigParser()
        parser.read_config(str(configs(bundle) / name))
        assert parser["dataset_name"] == bundle, f"{bundle}/configs/{name}: dataset_name is not the bundle's name"
    parser = ConfigParser()
    parser.read_config(str(configs(bundle) / "train.json"))
    assert parser.get_parsed_content("max_iterations") == describe(bundle).max_iterations
    parser.update({"max_iterations": 7, "val_interval": 2})  # as --max_iterations 7 on the command line
    assert (parser.get_parsed_content("max_iterations"), parser.get_parsed_content("max_epochs")) == (7, 3)


def test_sync_check_names_stale_files_and_sync_repairs_them(tmp_path, monkeypatch, capsys):
    shutil.copytree(REPO / "bundles", tmp_path / "bundles", ignore=shutil.ignore_patterns("data", "eval", "models"))
    here = tmp_path / "bundles"
    edited, removed = here / "fundus/configs/evaluate.json", here / "mnms/configs/logging.conf"
    own = here / "acdc/configs/labeled_3.json"
    edited.write_text(edited.read_text().replace("{", '{\n    "note": "edited by hand",', 1))
    removed.unlink()
    own.write_text(own.read_text() + " ")  # a bundle's own file: not the template's business
    before = {p: p.read_bytes() for p in here.rglob("*") if p.is_file()}

    refused = sync("--check", "True", cwd=tmp_path)
    assert refused.returncode == 2
    listed = [line.strip() for line in refused.stderr.splitlines() if line.startswith("  ")]
    assert listed == ["bundles/fundus/configs/evaluate.json", "bundles/mnms/configs/logging.conf"], refused.stderr
    assert {p: p.read_bytes() for p in here.rglob("*") if p.is_file()} == before, "--check must write nothing"

    assert "2 shared file(s) written" in sync_in_process(cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    for path in (edited, removed):
        assert path.read_bytes() == (REPO / path.relative_to(tmp_path)).read_bytes()
    assert own.read_bytes() == before[own]
    sync_in_process("--check", "True", "--bundles", f"{here / 'fundus'},{here / 'mnms'}", cwd=tmp_path,
                    monkeypatch=monkeypatch, capsys=capsys)  # fmt: skip


SMALL_DEMOS: dict[str, tuple[dict, dict]] = {
    "acdc": ({"size": 48, "train_patients": 6, "test_patients": 2, "slices": 4}, {}),
    "busi": ({"size": 48, "benign": 16, "malignant": 8, "normal": 1}, {}),
    "fundus": ({"size": 48, "train": 4, "test": 2}, {"lb_num": 3}),
    "mnms": ({"size": 48, "train_cases": 3, "test_cases": 1, "slices": 2}, {}),
    "mscmrseg": ({"size": 48, "patients": 5, "slices": 4}, {}),
}
"""Per dataset bundle: its demo writer's options (48 px, a few cases per domain, every domain and structure kept) and
the prepare options they need. The default demos (hundreds of images at 160-384 px) cost a run 10-20 s more to
generate, prepare, validate and test on; the demo writers themselves are tested in ``test_data_*.py``."""


def small_demo(bundle: str, root: Path) -> Path:
    """The bundle's demo, small (:data:`SMALL_DEMOS`), written and prepared into ``root/data`` as the bundle would."""
    writer, options = SMALL_DEMOS[bundle]
    source = root / "source"
    DEMOS[bundle](str(source), seed=0, **writer)
    prepare(bundle, str(source), str(root / "data"), **options)
    shutil.rmtree(source)
    return root / "data"


def test_small_demos_cover_every_dataset_bundle():
    assert sorted(SMALL_DEMOS) == OTHERS


@pytest.fixture(scope="module", params=OTHERS)
def trained(request, tmp_path_factory) -> tuple[str, Path]:
    """A dataset bundle trained by its training command for 2 iterations on its (small) demo data, then tested."""
    bundle = request.param
    root = tmp_path_factory.mktemp(bundle)
    small_demo(bundle, root)
    result = run_bundle("training", ["train.json"], root, *TINY, "--max_iterations", "2", "--val_interval", "2",
                        bundle=bundle)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (root / "train.log").write_text(result.stdout + result.stderr)
    return bundle, root


def test_demo_training_reports_every_domain_and_structure(trained):
    bundle, root = trained
    description = describe(bundle)
    log = (root / "train.log").read_text()
    assert "SYNTHETIC DEMO DATA" in log
    report = json.loads((root / "eval" / "metrics.json").read_text())
    domains = report["sam"]["slices"]["domains"]
    datalist = json.loads((root / "data" / "datalist.json").read_text())
    assert set(domains) == {item["domain"] for item in datalist["test"]}
    for values in domains.values():
        assert set(values) >= set(description.structure_names)
    if description.volumetric:
        assert report["sam"]["cases"], f"{bundle}: 3D per-case metrics missing"


def test_model_loads_strictly_and_inference_keeps_sizes(trained, tmp_path):
    bundle, root = trained
    parser = ConfigParser()
    parser.read_config(str(configs(bundle) / "inference.json"))
    parser.update({"bundle_root": str(root), "foundation": "tiny", "sam_size": 64, "sam_logit_stride": 4})
    parser.get_parsed_content("network_def").load_state_dict(
        torch.load(root / "models" / "model.pt", weights_only=True), strict=True
    )
    inputs = tmp_path / "in"
    inputs.mkdir()
    datalist = json.loads((root / "data" / "datalist.json").read_text())
    for item in datalist["test"][:2]:
        shutil.copy(root / "data" / item["image"], inputs / Path(item["image"]).name)
    assert list(inputs.glob("*.png")), f"{bundle}: no PNG test image to segment"
    for extra, out in (([], tmp_path / "sam"), (["inference_unet.json"], tmp_path / "unet")):
        overrides = [*TINY[:6], "--unet_channels", "4", "--input_dir", str(inputs), "--output_dir", str(out)]
        with one_torch_thread():
            bundle_in_process("run", ["inference.json", *extra], root, *overrides, bundle=bundle)
        for path in inputs.glob("*.png"):
            mask = np.asarray(Image.open(out / path.name))
            assert mask.shape == np.asarray(Image.open(path)).shape[:2]
            assert set(np.unique(mask)) <= set(range(describe(bundle).num_classes))


def test_evaluate_writes_metrics(trained, tmp_path):
    bundle, trained_root = trained
    root = tmp_path / "evaluate"
    shutil.copytree(trained_root, root, ignore=shutil.ignore_patterns("eval"))
    with one_torch_thread():
        bundle_in_process("run", ["train.json", "evaluate.json"], root, *TINY, bundle=bundle)
    report = json.loads((root / "eval" / "metrics.json").read_text())
    assert set(report) == {"sam", "unet"}
    assert (root / "eval" / "metrics.csv").is_file()
