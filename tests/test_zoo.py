"""Model Zoo format: the offline metadata schema (MONAI's verify_metadata), the Zoo rules, and the packaging CLI."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest
import torch
import yaml
from monai.bundle import verify_metadata

from synfoc_components.zoo import SCHEMA_PATH
from synfoc_components.zoo.__main__ import main as zoo_main
from synfoc_components.zoo.large_files import LARGE_FILES, file_hash
from synfoc_components.zoo.layout import SIZE_LIMIT
from synfoc_components.zoo.package import code_files
from synfoc_components.zoo.rules import README_SECTIONS, bundle_problems
from zoo_helpers import BUNDLE_DIRS, BUNDLE_IDS, REPO, copy_bundle, output, run

PROSTATE = REPO / "bundles" / "prostate"


def test_shipped_schema_is_a_valid_json_schema_and_package_data():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validators.validator_for(schema).check_schema(schema)
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "zoo/*.json" in package_data["synfoc_components"], "meta_schema.json would not be installed"
    template = {"zoo/template/configs/*", "zoo/template/docs/*"}
    assert template <= set(package_data["synfoc_components"]), "zoo sync's template would not be installed"


def test_verify_metadata_command_offline_with_shipped_schema():
    meta = PROSTATE / "configs" / "metadata.json"
    result = run("-m", "monai.bundle", "verify_metadata", "--meta_file", str(meta), "--filepath", str(SCHEMA_PATH))
    assert result.returncode == 0, output(result)
    assert "metadata is verified with no error" in result.stdout + result.stderr


@pytest.mark.filterwarnings("ignore:No hash value provided")  # the schema is read, not downloaded
@pytest.mark.parametrize("bundle", BUNDLE_DIRS, ids=BUNDLE_IDS)
def test_verify_metadata_with_shipped_schema(bundle):
    """The verb of the command above, in process (no download: the schema file exists)."""
    verify_metadata(meta_file=str(bundle / "configs" / "metadata.json"), filepath=str(SCHEMA_PATH))


def test_verify_metadata_names_what_is_wrong(tmp_path):
    meta = json.loads((PROSTATE / "configs" / "metadata.json").read_text())
    del meta["network_data_format"]["outputs"]["pred"]["channel_def"]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    result = run("-m", "monai.bundle", "verify_metadata", "--meta_file", str(tmp_path / "metadata.json"),
                 "--filepath", str(SCHEMA_PATH))  # fmt: skip
    assert result.returncode != 0
    assert "'channel_def' is a required property" in result.stdout + result.stderr


@pytest.mark.parametrize("bundle", BUNDLE_DIRS, ids=BUNDLE_IDS)
def test_bundle_follows_zoo_rules(bundle):
    assert [p.describe(bundle) for p in bundle_problems(bundle)] == []
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert meta["version"] in meta["changelog"]
    for key in [k for k in meta if k.endswith("data_format")]:
        assert list(meta[key]["inputs"]) == ["image"] and list(meta[key]["outputs"]) == ["pred"]
        assert len(meta[key]["inputs"]["image"]["spatial_shape"]) == 2
    entries = yaml.safe_load((bundle / LARGE_FILES).read_text())["large_files"]
    assert {e["path"] for e in entries} >= {"models/medsam_vit_b.pth"}


@pytest.mark.parametrize("bundle", BUNDLE_DIRS, ids=BUNDLE_IDS)
def test_no_committed_bundle_file_over_the_size_limit(bundle):
    files = subprocess.run(["git", "ls-files", "-z", str(bundle.relative_to(REPO))], cwd=REPO, capture_output=True)
    if files.returncode != 0:
        reason = f"not a git checkout, so no committed files to check ({files.stderr.decode().strip()[:200]})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}: CI runs in a git clone, where this check must run", pytrace=False)
        pytest.skip(reason)  # e.g. an unpacked source archive
    for name in filter(None, files.stdout.decode().split("\0")):
        assert (REPO / name).stat().st_size <= SIZE_LIMIT, f"{name} is over the Model Zoo's 25 MB limit"


@pytest.mark.parametrize("bundle", BUNDLE_DIRS, ids=BUNDLE_IDS)
def test_readme_documents_zoo_commands(bundle):
    text = (bundle / "docs" / "README.md").read_text()
    commands = text.split("## MONAI Bundle Commands", 1)[1].split("\n## ", 1)[0]
    for needle in ("verify_metadata", "synfoc_components/zoo/meta_schema.json", "verify_net_in_out network_def",
                   "ckpt_export network_def", "--use_trace True", "inference_unet.json", "download_large_files",
                   "python -m synfoc_components.zoo package", "python -m synfoc_components.zoo describe",
                   "--tracking mlflow"):  # fmt: skip
        assert needle in commands, f"{bundle.name} README: MONAI Bundle Commands do not show {needle!r}"


def _edit_json(path: Path, change) -> None:
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content, indent=4))


def _drop_section(bundle: Path, title: str) -> None:
    readme = bundle / "docs" / "README.md"
    head, rest = readme.read_text().split(f"## {title}\n", 1)
    readme.write_text(head + (rest[rest.index("\n## ") + 1 :] if "\n## " in rest else ""))


BREAKAGES = {
    "no LICENSE": (lambda b: (b / "LICENSE").unlink(), "LICENSE", "required-file"),
    "no data licence": (lambda b: (b / "docs" / "data_license.txt").unlink(), "docs/data_license.txt", "required-file"),
    "version without changelog": (
        lambda b: _edit_json(b / "configs" / "metadata.json", lambda m: m.update(version="9.9.9")),
        "configs/metadata.json",
        "version-changelog",
    ),
    "schema violation": (
        lambda b: _edit_json(b / "configs" / "metadata.json", lambda m: m.pop("authors")),
        "configs/metadata.json",
        "metadata-schema",
    ),
    "input not named image": (
        lambda b: _edit_json(
            b / "configs" / "metadata.json",
            lambda m: m["network_data_format"].update(inputs={"img": m["network_data_format"]["inputs"]["image"]}),
        ),
        "configs/metadata.json",
        "io-names",
    ),
    "3D spatial shape": (
        lambda b: _edit_json(
            b / "configs" / "metadata.json",
            lambda m: m["network_data_format"]["inputs"]["image"].update(spatial_shape=[96, 96, 96]),
        ),
        "configs/metadata.json",
        "spatial-2d",
    ),
    "optional_packages_version": (
        lambda b: _edit_json(b / "configs" / "metadata.json", lambda m: m.update(optional_packages_version={})),
        "configs/metadata.json",
        "deprecated-key",
    ),
    "README without References": (lambda b: _drop_section(b, "References"), "docs/README.md", "readme-sections"),
    "Performance without figures": (
        lambda b: (b / "docs" / "README.md").write_text(
            "\n".join(f"## {s}\n\ntext\n" for s in README_SECTIONS)
        ),
        "docs/README.md",
        "readme-performance",
    ),
    "bad hash type": (
        lambda b: (b / LARGE_FILES).write_text(
            "large_files:\n  - path: models/medsam_vit_b.pth\n    url: https://example.org/m.pth\n"
            "    hash_val: abc\n    hash_type: crc32\n"
        ),
        LARGE_FILES,
        "large-files",
    ),
    "MedSAM checkpoint not listed": (
        lambda b: (b / LARGE_FILES).write_text("large_files: []\n"),
        LARGE_FILES,
        "large-files",
    ),
    "large_files.yml under configs": (
        lambda b: (b / LARGE_FILES).rename(b / "configs" / LARGE_FILES),
        "configs/large_files.yml",
        "large-files",
    ),
    "file over 25 MB": (
        lambda b: (b / "docs" / "figure.png").write_bytes(b"\0" * (SIZE_LIMIT + 1)),
        "docs/figure.png",
        "file-size",
    ),
}


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_rules_name_the_file_and_the_rule(tmp_path, name):
    breakage, path, rule = BREAKAGES[name]
    bundle = copy_bundle(PROSTATE, tmp_path)
    breakage(bundle)
    found = {(p.path, p.rule) for p in bundle_problems(bundle)}
    assert (path, rule) in found, found


def _trained_copy(tmp_path: Path) -> Path:
    """The prostate bundle with freshly saved (tiny) weights, a training state, data and reports."""
    from synfoc_components.networks import SamAdapter, UNet

    bundle = copy_bundle(PROSTATE, tmp_path / "src")
    (bundle / "models").mkdir(exist_ok=True)
    torch.save(SamAdapter("tiny", 2, 64, lora_rank=4, logit_stride=4).state_dict(), bundle / "models" / "model.pt")
    torch.save(UNet(1, 2, 4).state_dict(), bundle / "models" / "model_unet.pt")
    torch.save({"trainer": {"iteration": 2}}, bundle / "models" / "train_state.pt")
    for folder in ("data", "eval"):
        (bundle / folder).mkdir()
        (bundle / folder / "x.json").write_text("{}")
    return bundle


def _package(bundle: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    return run("-m", "synfoc_components.zoo", "package", str(bundle), "--out", str(out), *options)


def test_package_writes_the_shareable_archive(tmp_path):
    bundle = _trained_copy(tmp_path)
    version = json.loads((bundle / "configs" / "metadata.json").read_text())["version"]
    result = _package(bundle, tmp_path / "dist")
    assert result.returncode == 0, output(result)
    archive = tmp_path / "dist" / f"prostate_v{version}.zip"
    assert result.stdout.strip().splitlines()[-1] == str(archive)
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert z.read("prostate/large_files.yml").decode() == (bundle / LARGE_FILES).read_text()
        assert z.read("prostate/models/model.pt") == (bundle / "models" / "model.pt").read_bytes()
    configs = {f"prostate/configs/{p.name}" for p in (bundle / "configs").iterdir()}
    docs = {f"prostate/docs/{p.name}" for p in (bundle / "docs").iterdir()}
    models = {"prostate/models/model.pt", "prostate/models/model_unet.pt"}
    code = {f"prostate/{name}" for name in code_files()}
    assert "prostate/synfoc_components/networks/sam_adapter.py" in code
    assert "prostate/synfoc_components/zoo/meta_schema.json" in code
    assert not [n for n in code if "/zoo/template/" in n], "the config template stays out: the bundle has its configs"
    assert names == configs | docs | models | code | {"prostate/LICENSE", "prostate/large_files.yml"}
    first = archive.read_bytes()
    zoo_main(["package", str(bundle), "--out", str(tmp_path / "dist")])  # again, in process (exit status 2 raises)
    assert archive.read_bytes() == first, "the same bundle must give the same archive"


def test_package_lists_large_weights_instead_of_packing_them(tmp_path):
    bundle = _trained_copy(tmp_path)
    torch.save(torch.zeros(SIZE_LIMIT // 4 + 1000), bundle / "models" / "model.pt")  # over 25 MB
    refused = _package(bundle, tmp_path / "dist")
    assert refused.returncode == 2
    text = refused.stdout + refused.stderr
    assert "models/model.pt: [file-size]" in text and "--weights_url" in text
    assert not list((tmp_path / "dist").glob("*.zip")), "nothing is written when a rule is broken"

    url = "https://example.org/synfoc/prostate"
    zoo_main(["package", str(bundle), "--out", str(tmp_path / "dist"), "--weights_url", url])  # in process
    with zipfile.ZipFile(next((tmp_path / "dist").glob("prostate_v*.zip"))) as z:
        assert "prostate/models/model.pt" not in z.namelist()
        assert "prostate/models/model_unet.pt" in z.namelist()
        text = z.read("prostate/large_files.yml").decode()
    entries = {e["path"]: e for e in yaml.safe_load(text)["large_files"]}
    assert entries["models/model.pt"] == {
        "path": "models/model.pt",
        "url": f"{url}/model.pt",
        "hash_val": file_hash(bundle / "models" / "model.pt"),
        "hash_type": "sha256",
    }
    assert "models/medsam_vit_b.pth" in entries
    assert "download_large_files" in text  # the bundle's comments are kept


def test_package_refuses_a_bundle_that_breaks_rules(tmp_path):
    bundle = copy_bundle(PROSTATE, tmp_path)
    _drop_section(bundle, "Performance")
    _edit_json(bundle / "configs" / "metadata.json", lambda m: m.update(version="9.9.9"))
    result = _package(bundle, tmp_path / "dist")
    assert result.returncode == 2
    text = result.stdout + result.stderr
    assert f"{bundle}/docs/README.md: [readme-sections] no '## Performance' section" in text
    assert f"{bundle}/configs/metadata.json: [version-changelog] changelog has no entry for version 9.9.9" in text
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


def test_check_cli():
    result = run("-m", "synfoc_components.zoo", "check", str(PROSTATE))
    assert result.returncode == 0, output(result)
    assert result.stdout.strip().endswith("follows the Model Zoo rules")


def _third_party_imports(package: Path) -> set[str]:
    """Top-level modules that ``package`` imports and that are neither the standard library nor itself."""
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != package.name}


@pytest.mark.parametrize("bundle", BUNDLE_DIRS, ids=BUNDLE_IDS)
def test_required_packages_are_installable_and_cover_the_code(bundle: Path):
    """A receiver installs ``required_packages_version`` with pip: only registry packages (the bundle's own code
    travels in its archive), at the versions this suite runs with, covering every package the code imports."""
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    required = meta["required_packages_version"]
    assert "synfoc_components" not in required
    assert {name: metadata.version(name) for name in required} == required
    own_keys = {"monai": meta["monai_version"], "torch": meta["pytorch_version"], "numpy": meta["numpy_version"]}
    assert all(metadata.version(name) == value for name, value in own_keys.items())
    distributions = metadata.packages_distributions()
    listed = {name.lower() for name in [*required, *own_keys]}
    for module in _third_party_imports(REPO / "synfoc_components"):
        assert {d.lower() for d in distributions[module]} & listed, f"{module} is imported but not required"
