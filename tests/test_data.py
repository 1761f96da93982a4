"""Tests of the prepare step, the splits, the readers, the demo data and the CLI (synfoc_components.data)."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from data_fixtures import read_label
from monai.data import load_decathlon_datalist
from PIL import Image
from scipy import ndimage

from synfoc_components.data import DataError, describe, ensure_demo_dataset, prepare, write_demo
from synfoc_components.data.demo import DEMOS
from synfoc_components.data.demo.prostate import SITES as SITE_STYLES
from synfoc_components.data.demo.prostate import render_slice, write_prostate_demo

SITES = describe("prostate").domains
SPLITS = ("labeled", "unlabeled", "val", "test")
REPO = Path(__file__).resolve().parents[1]


def _png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def _png_prostate(root: Path, train_cases: int = 3, test_cases: int = 1, slices: int = 3, size: int = 24) -> Path:
    """Authors' layout: ProstateSlice/<SITE>/{train,test}/{image,mask}/<case>_<slice>.png, organ 0, background 255;
    each split numbers its cases from 00, as the release does."""
    base = root / "ProstateSlice"
    for s, site in enumerate(SITES):
        for c in range(train_cases + test_cases):
            split, number = ("train", c) if c < train_cases else ("test", c - train_cases)
            for k in range(slices):
                mask = np.full((size, size + 2), 255, np.uint8)
                mask[6 : 10 + k, 5 : 12 + c] = 0
                image = np.where(mask == 0, 200, 30 + 10 * s).astype(np.uint8)
                _png(base / site / split / "image" / f"{number:02d}_{k:02d}.png", image)
                _png(base / site / split / "mask" / f"{number:02d}_{k:02d}.png", mask)
    return base


def _nifti(path: Path, array: np.ndarray, spacing=(0.5, 0.6, 3.0)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.diag(list(spacing) + [1.0])), str(path))


def _nifti_prostate(root: Path) -> Path:
    """Raw release: <SITE>/CaseNN.nii.gz + CaseNN_segmentation.nii.gz; HK has 2 cases, BMC spells _Segmentation."""
    rng = np.random.default_rng(0)
    for site in SITES:
        for c in range(2 if site == "HK" else 5):
            label = np.zeros((20, 16, 6), np.uint8)
            label[6:12, 5:10, 1:5] = 1 if site != "RUNMC" else 2  # slices 0 and 5 hold no prostate
            image = (rng.normal(300, 20, label.shape) + 400 * (label > 0)).astype(np.int16)
            suffix = "_Segmentation" if site == "BMC" else "_segmentation"
            _nifti(root / site / f"Case{c:02d}.nii.gz", image)
            _nifti(root / site / f"Case{c:02d}{suffix}.nii.gz", label)
    return root


def _read(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def test_png_layout_splits(tmp_path: Path) -> None:
    _png_prostate(tmp_path / "src")
    datalist = prepare("prostate", str(tmp_path / "src"), str(tmp_path / "out"), lb_num=4, val_fraction=0.3)
    doc = _read(datalist)
    assert (doc["dataset"], doc["labeled_domain"], doc["num_classes"]) == ("prostate", "BIDMC", 2)
    assert doc["synthetic"] is False
    assert doc["domains"] == list(SITES)
    assert [(i["domain"], i["case"], i["slice"]) for i in doc["labeled"]] == [
        ("BIDMC", "00", 0), ("BIDMC", "00", 1), ("BIDMC", "00", 2), ("BIDMC", "01", 0)
    ]  # fmt: skip
    assert sum(len(doc[s]) for s in SPLITS) == 6 * 12
    assert {(i["domain"], i["case"]) for i in doc["test"]} == {(site, "00") for site in SITES}
    assert all("/test/" in i["image"] for i in doc["test"])  # test case 00 is not train case 00
    assert not [i for s in ("labeled", "unlabeled", "val") for i in doc[s] if "/train/" not in i["image"]]
    for site in SITES:
        val_cases = {i["case"] for i in doc["val"] if i["domain"] == site}
        train_cases = {i["case"] for s in ("labeled", "unlabeled") for i in doc[s] if i["domain"] == site}
        assert len(val_cases) == 1 and not val_cases & train_cases
    assert {i["case"] for i in doc["val"] if i["domain"] == "BIDMC"} == {"02"}  # cases 00, 01 hold labeled slices
    for split in SPLITS:
        items = load_decathlon_datalist(datalist, True, split)
        assert all(os.path.isabs(i["image"]) and os.path.isfile(i["label"]) for i in items)
        assert all(i["split"] == split and "spacing" not in i for i in items)
    item = load_decathlon_datalist(datalist, True, "labeled")[3]
    label = np.asarray(Image.open(item["label"]))
    source_mask = np.asarray(Image.open(tmp_path / "src/ProstateSlice/BIDMC/train/mask/01_00.png"))
    np.testing.assert_array_equal(label, (source_mask == 0).astype(np.uint8))


def test_prepare_is_deterministic_and_root_agnostic(tmp_path: Path) -> None:
    _png_prostate(tmp_path / "src")
    first = prepare("prostate", str(tmp_path / "src"), str(tmp_path / "a"), lb_num=5)
    second = prepare("prostate", str(tmp_path / "src" / "ProstateSlice"), str(tmp_path / "b"), lb_num=5)
    assert Path(first).read_text() == Path(second).read_text()
    for item in _read(first)["unlabeled"][:5]:
        assert (tmp_path / "a" / item["image"]).read_bytes() == (tmp_path / "b" / item["image"]).read_bytes()


def test_lb_domain_and_ratio(tmp_path: Path) -> None:
    _png_prostate(tmp_path / "src")
    doc = _read(prepare("prostate", str(tmp_path / "src"), str(tmp_path / "out"), lb_domain="RUNMC", lb_ratio=0.1))
    assert doc["lb_num"] == int(6 * 9 * 0.1) == len(doc["labeled"])
    assert {i["domain"] for i in doc["labeled"]} == {"RUNMC"} and doc["labeled_domain"] == "RUNMC"


def test_nifti_layout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _nifti_prostate(tmp_path / "raw")
    with caplog.at_level(logging.WARNING):
        doc = _read(prepare("prostate", str(tmp_path / "raw"), str(tmp_path / "out"), lb_num=6))
    assert "one training case in domain HK (1 of 4 slices): validation takes a block of its last slices" in caplog.text
    assert {i["case"] for i in doc["test"] if i["domain"] == "BIDMC"} == {"Case04"}  # last fifth of 5 cases
    assert {(i["domain"], i["case"]) for i in doc["test"] if i["domain"] == "HK"} == {("HK", "Case01")}
    assert [(i["case"], i["slice"]) for i in doc["val"] if i["domain"] == "HK"] == [("Case00", 4)]
    assert {i["slice"] for i in doc["test"]} == {1, 2, 3, 4}  # empty end slices dropped
    assert sum(len(doc[s]) for s in SPLITS) == (5 * 5 + 2) * 4
    assert any(i["domain"] == "BMC" for i in doc["unlabeled"])  # the _Segmentation spelling is found
    item = doc["labeled"][0]
    assert item["spacing"] == [0.5, 0.6]
    image, label = (np.asarray(Image.open(tmp_path / "out" / item[k])) for k in ("image", "label"))
    assert image.shape == label.shape == (16, 20) and image.dtype == np.uint8 and image.max() == 255
    assert set(np.unique(label)) == {0, 1} and label[5:10, 6:12].all()  # PNG rows are the volume's y axis
    runmc = tmp_path / "out" / next(i for i in doc["unlabeled"] if i["domain"] == "RUNMC")["label"]
    assert set(np.unique(np.asarray(Image.open(runmc)))) == {0, 1}  # label 2 > 0 is prostate too


def test_demo_is_deterministic_and_prepared(tmp_path: Path) -> None:
    small = functools.partial(write_prostate_demo, size=48, train_cases=3, test_cases=1, slices=4)
    small(str(tmp_path / "one"))
    small(str(tmp_path / "two"))
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    assert len(files) == 6 * 4 * 4 * 2
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    for split in ("train", "test"):  # the release's naming: both splits start at case 00
        mask = np.asarray(Image.open(tmp_path / f"one/ProstateSlice/UCL/{split}/mask/00_00.png"))
        assert set(np.unique(mask)) == {0, 255}
    doc = _read(prepare("prostate", str(tmp_path / "one"), str(tmp_path / "out"), lb_num=6))
    assert doc["synthetic"] is True and len(doc["test"]) == 6 * 4


def _clean_slice(site: str, size: int = 192) -> tuple[np.ndarray, np.ndarray]:
    """A central slice of one fixed case at ``site``'s coil and fat signal, without noise, bias or blur."""
    style = dataclasses.replace(SITE_STYLES[site], gamma=1.0, bias=0.0, noise=0.0, resolution=1.0, irregular=0.0)
    case = {"center": (0.0, 0.04), "scale": 1.0, "aspect": 1.2, "harmonics": [], "bladder": 1.0, "rectum": 0.0,
            "bias": np.zeros(3)}  # fmt: skip
    image, organ = render_slice(style, case, 0.0, size, np.random.default_rng(0))
    return image.astype(np.float32), organ


def test_demo_sites_differ_by_coil_and_fat_suppression() -> None:
    """Coil sites show a large dark balloon and a bright posterior gland; fat suppression dims the fat ring."""
    looks = {}
    for site in SITES:
        image, organ = _clean_slice(site)
        ring = ndimage.binary_dilation(organ, iterations=4) & ~organ
        rows = np.flatnonzero(organ.any(1))
        posterior, anterior = organ.copy(), organ.copy()
        posterior[: rows.mean().astype(int)], anterior[rows.mean().astype(int) :] = False, False
        axis = (np.arange(192) - 95.5) / 96 * SITE_STYLES[site].fov  # pixel -> anatomy units
        rectum = image[np.abs(axis - 0.40) < 0.09][:, np.abs(axis) < 0.10]  # the rectum sits at (0, 0.40)
        looks[site] = {
            "balloon": float((rectum < 51).mean()),
            "flare": float(image[posterior].mean() / image[anterior].mean()),
            "ring": float(image[ring].mean() / image[organ].mean()),
        }
    coil = [s for s in SITES if SITE_STYLES[s].coil > 0]
    plain = [s for s in SITES if SITE_STYLES[s].coil == 0]
    assert coil and plain
    assert min(looks[s]["balloon"] for s in coil) > max(looks[s]["balloon"] for s in plain)
    assert min(looks[s]["flare"] for s in coil) > max(looks[s]["flare"] for s in plain)
    suppressed = [s for s in SITES if SITE_STYLES[s].fat < 0.65]
    bright_fat = [s for s in SITES if SITE_STYLES[s].fat == 1.0]
    assert suppressed and bright_fat
    assert max(looks[s]["ring"] for s in suppressed) < 1.0 < min(looks[s]["ring"] for s in bright_fat)


def test_ensure_demo_dataset(prostate_demo, tmp_path: Path) -> None:
    """The demo a bundle generates in a new ``dataset_dir`` (the session's ``prostate_demo``, made by
    ``ensure_demo_dataset`` through the prostate bundle's ``train.json``)."""
    target, datalist = prostate_demo.folder, prostate_demo.datalist
    assert "SYNTHETIC DEMO DATA" in prostate_demo.log and datalist == str(target / "datalist.json")
    doc = _read(datalist)
    assert doc["synthetic"] and len(doc["labeled"]) == 20 and doc["domains"] == list(SITES)
    for site in SITES:
        assert sum(i["domain"] == site for i in doc["test"]) == 12
        assert sum(i["domain"] == site for s in ("labeled", "unlabeled", "val") for i in doc[s]) == 36
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no staging left behind
    plain = tmp_path / "plain"  # the folder and its images are as readable as what mkdir and open() make
    plain.mkdir()
    (plain / "file.png").touch()
    image = target / doc["test"][0]["image"]
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE(image.stat().st_mode) == stat.S_IMODE((plain / "file.png").stat().st_mode)
    assert ensure_demo_dataset(str(target)) == datalist  # reused, not regenerated
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "scan.png").write_bytes(b"")
    with pytest.raises(DataError, match="python -m synfoc_components.data prepare prostate --source"):
        ensure_demo_dataset(str(tmp_path / "mine"))


def test_folder_layout_with_label_map(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "src"
    for d, domain in enumerate(("siteB", "siteA")):
        for split, names in (("train", ["p1_0", "p1_1", "p2_0", "p3_0"]), ("test", ["p9_0"])):
            for name in names:
                mask = np.zeros((10, 12), np.uint8)
                mask[2:6, 3 + d : 8] = 255
                image = np.dstack([mask // 2 + 20] * 3)
                _png(src / domain / split / "image" / f"{name}.png", image)
                _png(src / domain / split / "mask" / f"{name}.png", mask)
    _png(src / "siteA/train/image/p4_0.png", np.arange(120, dtype=np.uint16).reshape(10, 12) * 300)
    _png(src / "siteA/train/mask/p4_0.png", np.zeros((10, 12), np.uint8))
    rgba = np.dstack([np.full((10, 12), 90, np.uint8)] * 3 + [np.full((10, 12), 255, np.uint8)])
    _png(src / "siteB/train/image/p5_0.png", rgba, "RGBA")
    _png(src / "siteB/train/mask/p5_0.png", np.zeros((10, 12), np.uint8))
    with caplog.at_level(logging.INFO):
        unmapped = _read(prepare("folder", str(src), str(tmp_path / "plain"), lb_num=2, channels=3))
    assert caplog.text.count("255 is read as class 1") == 1
    with caplog.at_level(logging.WARNING):
        datalist = prepare("folder", str(src), str(tmp_path / "out"), lb_num=2, label_map="{0:0,255:1}", channels=3)
    assert "rescaled to 8 bits" in caplog.text and "RGBA image converted to RGB" in caplog.text
    doc = _read(datalist)
    assert {k: doc[k] for k in SPLITS} == {k: unmapped[k] for k in SPLITS} and unmapped["num_classes"] == 2
    for item in doc["labeled"] + doc["test"]:
        assert (read_label(tmp_path / "plain", item) == read_label(tmp_path / "out", item)).all()
    assert (doc["dataset"], doc["domains"], doc["num_classes"], doc["channels"]) == ("folder", ["siteA", "siteB"], 2, 3)
    assert [(i["case"], i["slice"]) for i in doc["labeled"]] == [("p1", 0), ("p1", 1)]
    image = Image.open(tmp_path / "out" / doc["labeled"][0]["image"])
    label = np.asarray(Image.open(tmp_path / "out" / doc["labeled"][0]["label"]))
    assert image.mode == "RGB" and set(np.unique(label)) == {0, 1}
    assert len(doc["test"]) == 2 and sum(len(doc[s]) for s in SPLITS) == 2 * 5 + 2


def test_folder_masks_mixing_binary_and_class_ids_are_refused(tmp_path: Path) -> None:
    """Without --label_map, the first non-empty mask decides between 0 / 255 and class ids; a mask read the other
    way is an error naming both files; any other value keeps the class-id error."""
    src = tmp_path / "src"
    for domain, stored in (("a", 255), ("b", 1)):
        for split in ("train", "test"):
            mask = np.zeros((8, 8), np.uint8)
            mask[2:5, 2:5] = stored
            _png(src / domain / split / "image" / "v_0.png", mask // 2 + 9)
            _png(src / domain / split / "mask" / "v_0.png", mask)
    with pytest.raises(DataError, match=r"b/test/mask/v_0\.png: mask values 0, 1 read as class ids, but .*a/test/mask"):
        prepare("folder", str(src), str(tmp_path / "out"), lb_num=1)
    _png(src / "a/test/mask/v_0.png", np.full((8, 8), 128, np.uint8))  # the first mask read
    with pytest.raises(DataError, match=r"a/test/mask/v_0\.png: mask values 128 are not class ids 0\.\.31 \(pass --la"):
        prepare("folder", str(src), str(tmp_path / "out"), lb_num=1)


def test_folder_volumes_and_inferred_classes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for domain in ("a", "b"):
        for split, cases in (("train", ("v1", "v2")), ("test", ("v3",))):
            for case in cases:
                label = np.zeros((8, 9, 5), np.uint8)
                label[2:5, 2:6, :3] = 1
                label[5:7, 2:6, 1:3] = 3
                _nifti(src / domain / split / "image" / f"{case}.nii.gz", label.astype(np.float32) * 50 + 7)
                _nifti(src / domain / split / "mask" / f"{case}.nii.gz", label)
    doc = _read(prepare("folder", str(src), str(tmp_path / "out"), lb_num=2, axis=2))
    assert doc["num_classes"] == 4 and {i["slice"] for i in doc["test"]} == {0, 1, 2}
    assert doc["labeled"][0]["spacing"] == [0.5, 0.6] and doc["labeled"][0]["case"] == "v1"


def _expect(tmp_path: Path, error: type[Exception], *fragments: str, **kwargs) -> None:
    out = tmp_path / "out"
    if "lb_ratio" not in kwargs:
        kwargs.setdefault("lb_num", 3)
    with pytest.raises(error) as caught:
        prepare(kwargs.pop("dataset", "prostate"), str(tmp_path / "src"), str(out), **kwargs)
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert not (out / "datalist.json").exists()


def test_bad_files(tmp_path: Path) -> None:
    base = _png_prostate(tmp_path / "src")
    image = base / "HK/train/image/01_02.png"
    image.write_bytes(image.read_bytes()[:60])
    _expect(tmp_path, DataError, str(image), "unreadable image")
    _png_prostate(tmp_path / "src")
    mask = base / "UCL/test/mask/00_01.png"
    _png(mask, np.full((20, 26), 255, np.uint8))
    _expect(tmp_path, DataError, str(mask), "mask size 26x20 differs from image size 26x24")
    _png_prostate(tmp_path / "src")
    _png(mask, np.full((24, 26), 128, np.uint8))
    _expect(tmp_path, DataError, str(mask), "mask values 128 are outside the encoding {0: 1, 255: 0}")
    _png_prostate(tmp_path / "src")
    (base / "BMC/test/mask/00_00.png").unlink()
    _expect(tmp_path, DataError, str(base / "BMC/test/image/00_00.png"), "no mask")


def test_bad_options_and_layouts(tmp_path: Path) -> None:
    base = _png_prostate(tmp_path / "src")
    _expect(tmp_path, DataError, "--lb_num", "100 is larger than the 9 training slices of BIDMC", lb_num=100)
    _expect(tmp_path, DataError, "--lb_domain", "unknown domain 'Nowhere'", lb_domain="Nowhere")
    _expect(tmp_path, DataError, "--lb_num/--lb_ratio", lb_num=3, lb_ratio=0.1)
    _expect(tmp_path, DataError, "--label_map", "not an option of the prostate reader", label_map="{0:0}")
    _expect(tmp_path, ValueError, "unknown dataset 'nope'", "folder", "prostate", dataset="nope")
    for path in (base / "HK/test/image").iterdir():
        path.unlink()
    _expect(tmp_path, DataError, str(base / "HK/test/image"), "test split is empty")


def test_bad_nifti(tmp_path: Path) -> None:
    raw = _nifti_prostate(tmp_path / "src")
    broken = np.asanyarray(nib.load(str(raw / "UCL/Case02.nii.gz")).dataobj).astype(np.float32)
    broken[0, 0, 0] = np.nan
    _nifti(raw / "UCL/Case02.nii.gz", broken)
    _expect(tmp_path, DataError, str(raw / "UCL/Case02.nii.gz"), "NaN")
    (raw / "I2CVB/Case03_segmentation.nii.gz").unlink()
    _expect(tmp_path, DataError, str(raw / "I2CVB/Case03.nii.gz"), "no Case03_segmentation")


def test_cli(tmp_path: Path) -> None:
    _png_prostate(tmp_path / "src")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "synfoc_components.data", "prepare", "prostate", "--source", str(tmp_path / "src")]
    done = subprocess.run(command + ["--out", str(tmp_path / "out"), "--lb_num", "3"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert len(_read(tmp_path / "out" / "datalist.json")["labeled"]) == 3
    failed = subprocess.run(command + ["--out", str(tmp_path / "x"), "--lb_num", "99"], env=env, capture_output=True)
    assert failed.returncode == 2 and b"--lb_num: 99 is larger" in failed.stderr


def test_demo_unknown_dataset() -> None:
    assert "prostate" in DEMOS
    with pytest.raises(ValueError, match="no demo data for dataset 'nope'"):
        write_demo("nope", "unused")


def test_datalist_of_the_previous_layout_still_loads(tmp_path: Path) -> None:
    """Datalists written before the split became part of file names (``images/<domain>/<case>_<slice>.png``) keep
    loading: they list their own paths."""
    from synfoc_components.data import load_datalist

    items = {}
    for split, case in (("labeled", "00"), ("unlabeled", "01"), ("val", "02"), ("test", "06")):
        for folder in ("images", "labels"):
            _png(tmp_path / folder / "BIDMC" / f"{case}_000.png", np.zeros((4, 4), np.uint8))
        items[split] = [{"image": f"images/BIDMC/{case}_000.png", "label": f"labels/BIDMC/{case}_000.png",
                         "domain": "BIDMC", "case": case, "slice": 0, "split": split}]  # fmt: skip
    (tmp_path / "datalist.json").write_text(json.dumps({"dataset": "prostate", "num_classes": 2, **items}))
    for split in SPLITS:
        [item] = load_datalist(tmp_path / "datalist.json", split)
        assert item["image"] == str(tmp_path / items[split][0]["image"])
