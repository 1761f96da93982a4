"""A corpus of bad inputs: the prepare CLI, and the bundle commands end to end (see also test_bad_bundle_inputs.py).

Each case asserts the one line that says what is wrong, naming the file or option (the last line of output of a
failed command, whose exit status is non-zero), and that every output that existed before is intact, with no
temporary file left. Conversions the prepare step accepts (16-bit, RGBA, palette) are asserted as warnings naming
the file.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from bundle_runs import (
    REPO,
    TINY,
    assert_intact,
    copy_root,
    first_labeled,
    last_line,
    one_torch_thread,
    run_bundle,
    snapshot,
    train_tiny,
    truncate,
    write_source,
)
from PIL import Image

from synfoc_components.data import prepare
from synfoc_components.io import atomic_torch_save

PREPARE_ARGS = ["--lb_num", "4", "--num_classes", "2", "--val_fraction", "0.34"]
LONGER = [*TINY, "--max_iterations", "4", "--val_interval", "2"]


# ------------------------------------------------------------------------------------------------------------ prepare


def _image(src: Path, name: str = "00_00", domain: str = "A", split: str = "train", kind: str = "image") -> Path:
    return src / domain / split / kind / f"{name}.png"


def _nifti_pair(src: Path, image: np.ndarray, mask: np.ndarray | None = None) -> Path:
    """Add ``B/train/{image,mask}/vol.nii.gz`` (2 slices of 40 x 40) and return the image path."""
    if mask is None:
        mask = np.zeros((40, 40, 2), np.uint8)
        mask[10:20, 12:24] = 1
    for kind, array in (("image", image), ("mask", mask)):
        path = src / "B" / "train" / kind / "vol.nii.gz"
        nib.save(nib.Nifti1Image(array, np.eye(4)), str(path))
    return src / "B" / "train" / "image" / "vol.nii.gz"


def _volume(value: float | None = None) -> np.ndarray:
    volume = np.random.default_rng(0).normal(100, 10, (40, 40, 2)).astype(np.float32)
    if value is not None:
        volume[5, 5, 0] = value
    return volume


def _inf_mask(src: Path) -> None:
    mask = np.zeros((40, 40, 2), np.float32)
    mask[10:20, 12:24], mask[0, 0, 1] = 1, np.inf
    _nifti_pair(src, _volume(), mask)


def _remove_split(src: Path) -> None:
    for kind in ("image", "mask"):
        for p in (src / "B" / "test" / kind).iterdir():
            p.unlink()


def _mask_of_other_size(src: Path) -> None:
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(_image(src, kind="mask"))


def _mask_value(src: Path) -> None:
    mask = np.asarray(Image.open(_image(src, kind="mask"))).copy()
    mask[0, 0] = 7
    Image.fromarray(mask).save(_image(src, kind="mask"))


def _sixteen_bit(src: Path) -> None:
    array = (np.asarray(Image.open(_image(src)), np.int32) * 16).astype(np.uint16)
    Image.fromarray(array).save(_image(src))


def _converted(mode: str) -> Callable[[Path], None]:
    def convert(src: Path) -> None:
        Image.open(_image(src)).convert(mode).save(_image(src))

    return convert


# (id, change to the good source, extra CLI arguments, expected last line (regex), exit status)
PREPARE_CASES = [
    ("truncated PNG", lambda s: truncate(_image(s)), [], r"00_00\.png: unreadable image \(.*truncated", 2),
    ("corrupt PNG", lambda s: _image(s).write_bytes(b"\x89PNG not really"), [], r"00_00\.png: unreadable image", 2),
    ("empty file", lambda s: _image(s, kind="mask").write_bytes(b""), [], r"mask/00_00\.png: unreadable image", 2),
    ("truncated NIfTI", lambda s: truncate(_nifti_pair(s, _volume())), [], r"vol\.nii\.gz: unreadable NIfTI", 2),
    ("mask of other size", _mask_of_other_size, [], r"00_00\.png: mask size 30x30 differs from image size 40x40", 2),
    ("mask value outside the encoding", _mask_value, [], r"00_00\.png: mask values 7 are not class ids 0\.\.1", 2),
    ("NaN intensities", lambda s: _nifti_pair(s, _volume(np.nan)), [], r"vol\.nii\.gz: image contains NaN or Inf", 2),
    ("Inf in a mask", _inf_mask, [], r"mask/vol\.nii\.gz: mask contains NaN or Inf values", 2),
    ("missing mask", lambda s: _image(s, kind="mask").unlink(), [], r"00_00\.png: no mask named 00_00\.\* in", 2),
    ("empty domain", _remove_split, [], r"B/test/image: no images .*this domain's test split is empty", 2),
    ("zero labeled images", None, ["--lb_num", "0"], r"--lb_num: 0 labeled slices; at least one is needed", 2),
    ("lb_num too large", None, ["--lb_num", "99"], r"--lb_num: 99 is larger than the 6 training slices of A", 2),
    ("unknown domain", None, ["--lb_domain", "Z"], r"--lb_domain: unknown domain 'Z'; domains: A, B", 2),
    ("16-bit image", _sixteen_bit, [], r"WARNING .*00_00\.png: I;16 image rescaled to 8 bits", 0),
    ("RGBA image", _converted("RGBA"), [], r"WARNING .*00_00\.png: RGBA image converted to 8-bit gray", 0),
    ("palette image", _converted("P"), [], r"WARNING .*00_00\.png: P image converted to 8-bit gray", 0),
]


def prepare_cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "synfoc_components.data", "prepare", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


@pytest.mark.parametrize("case, change, args, expected, status", PREPARE_CASES, ids=[c[0] for c in PREPARE_CASES])
def test_prepare_refuses_or_converts(tmp_path, case, change, args, expected, status):
    src, out = write_source(tmp_path / "src"), tmp_path / "out"
    prepare("folder", str(src), str(out), lb_num=4, num_classes=2, val_fraction=0.34)  # an existing good dataset
    before = snapshot(out)
    if change is not None:
        change(src)
    result = prepare_cli("folder", "--source", str(src), "--out", str(out), *PREPARE_ARGS, *args)
    assert result.returncode == status, result.stderr[-2000:]
    if status:
        assert re.search(expected, last_line(result.stderr)), result.stderr[-2000:]
        assert_intact(before, out)
    else:
        assert re.search(expected, result.stderr), result.stderr[-2000:]
        assert json.loads((out / "datalist.json").read_text())["labeled"]


def test_prepare_unknown_dataset(tmp_path):
    result = prepare_cli("nosuch", "--source", str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert re.search(r"unknown dataset 'nosuch'; known datasets: acdc, busi, folder, fundus, mnms, mscmrseg, prostate", last_line(result.stderr))


def test_prepare_into_a_folder_that_cannot_be_written(tmp_path):
    src, blocker = write_source(tmp_path / "src"), tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = prepare_cli("folder", "--source", str(src), "--out", str(blocker / "out"), *PREPARE_ARGS)
    assert result.returncode == 2
    assert re.search(r"Not a directory: '.*a_file/out'", last_line(result.stderr)), result.stderr[-2000:]
    assert blocker.read_text() == "not a folder"


# ---------------------------------------------------------- bundle commands end to end: last line and exit status
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    with one_torch_thread():
        return train_tiny(tmp_path_factory.mktemp("trained"))


@pytest.fixture()
def root(trained, tmp_path) -> Path:
    return copy_root(trained, tmp_path / "bundle")


def test_cli_missing_datalist_file_ends_with_one_line_naming_it(root):
    image = first_labeled(root)
    image.unlink()
    before = snapshot(root)
    result = run_bundle("run", ["train.json"], root, *LONGER)
    assert result.returncode != 0
    expected = f"DataError: {image}: missing, but listed in {root / 'data' / 'datalist.json'} ('labeled' image)"
    assert last_line(result.stderr).startswith(expected), result.stderr[-3000:]
    assert_intact(before, root)


def test_cli_non_finite_loss_stops_with_iteration_and_term_and_keeps_the_last_good_state(root):
    before = snapshot(root)
    result = run_bundle("run", ["train.json"], root, *LONGER, "--consistency", "$float('nan')")
    assert result.returncode != 0
    assert re.fullmatch(
        r"FloatingPointError: iteration 3: loss term '\w+' is nan; training stopped, the last saved state is kept",
        last_line(result.stderr),
    ), result.stderr[-3000:]
    assert_intact(before, root)  # train_state.pt (iteration 2), model.pt and model_unet.pt untouched


def test_cli_inference_skips_bad_images_reports_them_and_writes_the_good_ones(root, tmp_path):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    good = first_labeled(root)
    shutil.copy(good, inputs / "good.png")
    gray = np.asarray(Image.open(good))
    Image.fromarray(gray).convert("RGBA").save(inputs / "rgba.png")
    Image.fromarray(gray).convert("P").save(inputs / "palette.png")
    Image.fromarray(gray.astype(np.uint16) * 200).save(inputs / "sixteen_bit.png")
    shutil.copy(good, inputs / "truncated.png")
    truncate(inputs / "truncated.png")
    (inputs / "empty.png").write_bytes(b"")
    volume = np.stack([gray, gray], -1).astype(np.float32)
    volume[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(inputs / "nan.nii.gz"))
    outputs.mkdir()
    (outputs / "earlier.png").write_bytes(b"an earlier result")
    overrides = [*TINY[:6], "--input_dir", str(inputs), "--output_dir", str(outputs)]
    result = run_bundle("run", ["inference.json"], root, *overrides)
    assert result.returncode != 0
    log = result.stdout + result.stderr
    for name, problem in (("truncated.png", "image file is truncated"), ("empty.png", "empty file \\(0 bytes\\)"),
                          ("nan.nii.gz", "image contains NaN or Inf values")):  # fmt: skip
        assert re.search(rf"{re.escape(str(inputs / name))}: .*{problem}.*; skipped", log), name
    assert re.search(r"WARNING - .*palette\.png: P image converted to RGB", log)
    summary = "DataError: 3 of 7 input images: skipped, the other masks were written: "
    assert last_line(result.stderr).startswith(summary), result.stderr[-2000:]
    for name in ("good.png", "rgba.png", "palette.png", "sixteen_bit.png"):
        mask = np.asarray(Image.open(outputs / name))
        assert mask.shape == gray.shape and set(np.unique(mask)) <= {0, 1}, name
    written = sorted(p.name for p in outputs.iterdir())
    assert written == ["earlier.png", "good.png", "palette.png", "rgba.png", "sixteen_bit.png"]
    assert (outputs / "earlier.png").read_bytes() == b"an earlier result"


def test_atomic_save_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    atomic_torch_save({"w": torch.ones(2)}, target)
    original = target.read_bytes()

    def full(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    expected = rf"\[Errno 28\] {re.escape(str(target))}: not written \(No space left on device\)"
    with pytest.raises(OSError, match=expected):
        atomic_torch_save({"w": torch.zeros(2)}, target)
    assert target.read_bytes() == original and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


@pytest.fixture
def group_umask():
    """Run under umask 027 (group may read, others nothing), as on a shared lab server; the old umask after."""
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_atomic_save_gives_the_permissions_a_plain_open_gives(tmp_path, group_umask):
    plain, saved = tmp_path / "plain.pt", tmp_path / "model.pt"
    plain.write_bytes(b"")
    atomic_torch_save({"w": torch.ones(2)}, saved)
    assert stat.S_IMODE(saved.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o640
    saved.chmod(0o600)  # a file the user made private stays private when it is written again
    atomic_torch_save({"w": torch.zeros(2)}, saved)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
