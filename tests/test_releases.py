"""``prepare`` on the authors' releases as published (``release_fixtures``): counts per split, sizes and class
fractions against the test's own decoding of the release files; the prostate bundle trains on ProstateSlice."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bundle_runs import TINY, bundle_in_process, one_torch_thread
from data_fixtures import SPLITS, prepare_cli, read_json, read_label
from release_fixtures import write_busi, write_fundus, write_mnms, write_prostate_slice

TRAIN_SIDE = ("labeled", "unlabeled", "val")
"""Datalist splits drawn from a release's ``train/`` folder."""
SITES = ("BIDMC", "BMC", "HK", "I2CVB", "RUNMC", "UCL")


def _classes_prostate(masks: list[Path]) -> np.ndarray:
    return (np.asarray(Image.open(masks[0])) == 0).astype(np.uint8)  # prostate is stored as 0


def _classes_fundus(masks: list[Path]) -> np.ndarray:
    red = np.asarray(Image.open(masks[0]))[..., 0]
    return np.select([red == 0, red == 128], [1, 2], 0).astype(np.uint8)  # cup 0, rim 128, background 255


def _classes_mnms(masks: list[Path]) -> np.ndarray:
    rgb = np.asarray(Image.open(masks[0]))
    labels = np.zeros(rgb.shape[:2], np.uint8)
    for channel, class_id in enumerate((1, 2, 3)):  # R = LV, G = MYO, B = RV; a later channel wins
        labels[rgb[..., channel] == 255] = class_id
    return labels


def _classes_busi(masks: list[Path]) -> np.ndarray:
    lesions = [np.asarray(Image.open(m).convert("L")) > 0 for m in masks]  # mode 1, RGB or RGBA: any lesion
    return np.logical_or.reduce(lesions).astype(np.uint8)


def _pixels(labels: list[np.ndarray]) -> Counter:
    """Pixels per class id over ``labels``."""
    total = Counter()
    for label in labels:
        total.update(dict(enumerate(np.bincount(label.ravel()).tolist())))
    return +total


def _class_pixels(files: list[tuple[Path, list[Path]]], decode: Callable) -> Counter:
    return _pixels([decode(masks) for _, masks in files])


def _prepared_pixels(out: Path, items: list[dict]) -> Counter:
    return _pixels([read_label(out, item) for item in items])


def _sizes(out: Path, items: list[dict]) -> set[tuple[int, int]]:
    return {Image.open(out / i["image"]).size for i in items}


def _by_domain(doc: dict, domain: str, splits: tuple[str, ...]) -> list[dict]:
    return [item for split in splits for item in doc[split] if item["domain"] == domain]


RELEASES = {  # name: (writer, source folder, class decoder, prepare options)
    "prostate": (write_prostate_slice, "ProstateSlice", _classes_prostate, ["--lb_num", "1"]),
    "fundus": (write_fundus, "Fundus", _classes_fundus, ["--lb_num", "1"]),
    "mnms": (write_mnms, "mnms", _classes_mnms, ["--lb_num", "1"]),
}


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_release_with_its_own_train_and_test_folders(tmp_path: Path, name: str) -> None:
    """Every file of train/ and of test/ arrives once, in its split, at its size, with its classes: the same name
    in train/ and test/ (ProstateSlice), or in two vendors (M&Ms), are different images."""
    write, folder, decode, options = RELEASES[name]
    files = write(tmp_path / "release")
    doc = prepare_cli(name, tmp_path / "release" / folder, tmp_path / "out", *options)
    out = tmp_path / "out"
    for (domain, split), listed in files.items():
        items = _by_domain(doc, domain, ("test",) if split == "test" else TRAIN_SIDE)
        assert len(items) == len(listed), (domain, split)
        assert _sizes(out, items) == {Image.open(image).size for image, _ in listed}, (domain, split)
        assert _prepared_pixels(out, items) == _class_pixels(listed, decode), (domain, split)
        assert all(f"/{split}/" in item["image"] for item in items)
    names = [item["image"] for split in SPLITS for item in doc[split]]
    assert len(names) == len(set(names)) == sum(len(listed) for listed in files.values())


def test_busi_release(tmp_path: Path) -> None:
    """Mode-1 masks, an RGBA second lesion merged in, normal/ left out; the last fifth of each class (by name) is
    test."""
    files = write_busi(tmp_path / "release")
    doc = prepare_cli("busi", tmp_path / "release" / "Dataset_BUSI_with_GT", tmp_path / "out")
    out = tmp_path / "out"
    assert doc["domains"] == ["benign", "malignant"] and not _by_domain(doc, "normal", SPLITS)
    for domain in ("benign", "malignant"):
        listed = sorted(files[domain, "all"], key=lambda pair: pair[0].name)
        n_test = max(1, len(listed) // 5)
        test_items = _by_domain(doc, domain, ("test",))
        assert sorted(i["case"] for i in test_items) == [image.stem for image, _ in listed[-n_test:]]
        assert len(_by_domain(doc, domain, TRAIN_SIDE)) == len(listed) - n_test
        assert _prepared_pixels(out, _by_domain(doc, domain, SPLITS)) == _class_pixels(listed, _classes_busi)
        assert _sizes(out, _by_domain(doc, domain, SPLITS)) == {Image.open(image).size for image, _ in listed}
    assert doc["lb_num"] == (6 - 1 + 5 - 1) // 8  # 1/8 of the training images, at least one


@pytest.mark.slow
def test_prostate_bundle_trains_and_tests_on_the_release(tmp_path: Path) -> None:
    """The issue's command, then the bundle: the per-site test tables hold the test patients 00 and 01, each with
    its two slices, and nothing of train/ (whose cases are also named 00 and 01)."""
    write_prostate_slice(tmp_path / "release")
    prepare_cli("prostate", tmp_path / "release" / "ProstateSlice", tmp_path / "root" / "data", "--lb_num", "1")
    with one_torch_thread():
        bundle_in_process("training", ["train.json"], tmp_path / "root", *TINY, "--max_iterations", "2")
    with open(tmp_path / "root" / "eval" / "metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    tested = {(s, c, k) for s in SITES for c in ("00", "01") for k in ("0", "1")}
    report = read_json(tmp_path / "root" / "eval" / "metrics.json")
    for model in ("sam", "unet"):
        assert {(r["domain"], r["case"], r["slice"]) for r in rows if r["model"] == model} == tested
        assert all(report[model]["slices"]["domains"][site]["count"] == 4 for site in SITES)
