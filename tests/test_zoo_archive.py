"""A packaged bundle runs where it lands: unzipped elsewhere and run by an interpreter that cannot import this
repository's ``synfoc_components``, it uses the code it carries and segments exactly as the repository does.

The sender's side (training, ``zoo describe`` and ``zoo package``, the repository's inference) runs in this process;
every command of the receiver runs in its own isolated interpreter, as it must."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bundle_runs import TINY, bundle_in_process, one_torch_thread, train_tiny
from zoo_helpers import ENV, REPO, copy_bundle, output, packaged_and_unzipped

INFER = ["--foundation", "tiny", "--sam_size", "64", "--sam_logit_stride", "4", "--unet_size", "64"]
INFER += ["--unet_channels", "4"]


def _isolated_python(folder: Path) -> Path:
    """A virtual environment that sees this one's installed packages but not the editable install of this
    repository (a ``.pth`` line adds a site-packages folder to ``sys.path``, not the ``.pth`` hooks inside it)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    purelib = Path(sysconfig.get_paths()["purelib"])
    target = Path(subprocess.run(
        [str(folder / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())  # fmt: skip
    (target / "host_packages.pth").write_text(f"{purelib}\n")
    return folder / "bin" / "python"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in ENV.items() if k != "PYTHONPATH"}


def _pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.mark.slow
def test_unzipped_archive_runs_without_the_repository(tmp_path: Path) -> None:
    bundle = copy_bundle(REPO / "bundles" / "prostate", tmp_path / "src")
    train_tiny(bundle)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in sorted((bundle / "data" / "images").rglob("*.png"))[:3]:
        shutil.copy(path, inputs / f"{path.parent.parent.name}_{path.name}")
    unzipped = packaged_and_unzipped(bundle, tmp_path)
    python = _isolated_python(tmp_path / "venv")

    probe = [str(python), "-c", "import synfoc_components; print(synfoc_components.__file__)"]
    assert subprocess.run(probe, capture_output=True, text=True, cwd=tmp_path, env=_clean_env()).returncode != 0
    found = subprocess.run(probe, capture_output=True, text=True, cwd=unzipped, env=_clean_env())
    assert found.stdout.strip() == str(unzipped / "synfoc_components" / "__init__.py"), found.stderr

    def receiver(*args: str) -> subprocess.CompletedProcess:
        command = [str(python), "-m", "monai.bundle", "run", *args, "--bundle_root", "."]
        return subprocess.run(command, capture_output=True, text=True, cwd=unzipped, env=_clean_env(), timeout=600)

    for configs, name in ((["inference.json"], "sam"), (["inference.json", "inference_unet.json"], "unet")):
        here = tmp_path / f"repository_{name}"
        with one_torch_thread():  # as the repository's command runs (one thread: the same arithmetic as the receiver)
            bundle_in_process("run", configs, bundle, *INFER, "--input_dir", str(inputs), "--output_dir", str(here))
        there = tmp_path / f"receiver_{name}"
        files = "[" + ",".join(f"'configs/{c}'" for c in configs) + "]"
        done = receiver("--config_file", files, "--input_dir", str(inputs), "--output_dir", str(there))  # as trained
        assert done.returncode == 0, output(done)
        assert _pngs(there) and _pngs(there) == _pngs(here)

    dataset = ["--dataset_dir", str(bundle / "data")]
    done = receiver("training", "--config_file", "['configs/train.json']", *TINY, *dataset, "--max_iterations", "2")
    assert done.returncode == 0, output(done)
    assert (unzipped / "models" / "train_state.pt").is_file() and (unzipped / "eval" / "metrics.json").is_file()
    done = receiver("--config_file", "['configs/train.json','configs/evaluate.json']", *TINY, *dataset)
    assert done.returncode == 0, output(done)
