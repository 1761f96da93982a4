"""The M&Ms reader (authors' PNG slices, RGB masks R = LV, G = MYO, B = RV) and the synthetic M&Ms demo."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import SPLITS, assert_header, prepare_cli, prepared, read_label, save_png
from PIL import Image
from scipy import ndimage

from synfoc_components.data import DataError, describe, prepare
from synfoc_components.data.demo import DEMOS
from synfoc_components.data.demo.drawing.cardiac_mri import LV, MYO, RV, draw_heart, render_slice
from synfoc_components.data.demo.drawing.cine_phenomena import Band, draw_cine
from synfoc_components.data.demo.mnms import VENDORS as VENDOR_STYLES
from synfoc_components.data.demo.mnms import write_mnms_demo

VENDORS = describe("mnms").domains


def _classes(k: int) -> np.ndarray:
    """Class ids of a 20 x 24 slice: LV 1 inside MYO 2, RV 3 beside them."""
    labels = np.zeros((20, 24), np.uint8)
    labels[4:16, 8:20] = 2
    labels[7:13, 11 : 17 - k % 2] = 1
    labels[5:15, 2:7] = 3
    return labels


def _rgb(labels: np.ndarray) -> np.ndarray:
    return np.dstack([(labels == c) * np.uint8(255) for c in (1, 2, 3)])


def _mnms(root: Path, train_cases: int = 3, test_cases: int = 1, slices: int = 2) -> Path:
    """``mnms/vendor{A..D}/{train,test}/{image,mask}/<case>_<slice>.png``: gray images, RGB masks."""
    base = root / "mnms"
    for v, vendor in enumerate(VENDORS):
        for c in range(train_cases + test_cases):
            split = "train" if c < train_cases else "test"
            for k in range(slices):
                labels = _classes(k)
                image = np.choose(labels, [20 + 5 * v, 220, 60, 200]).astype(np.uint8)
                save_png(base / vendor / split / "image" / f"{vendor[-1]}{c:02d}_{k:02d}.png", image)
                save_png(base / vendor / split / "mask" / f"{vendor[-1]}{c:02d}_{k:02d}.png", _rgb(labels))
    return base


def test_prepare_splits_and_classes(tmp_path: Path) -> None:
    _mnms(tmp_path / "src")
    out = tmp_path / "out"
    doc = prepared("mnms", tmp_path / "src", out, lb_num=3, val_fraction=0.34)
    assert_header(doc, num_classes=4, channels=1, labels={"0": "background", "1": "lv", "2": "myo", "3": "rv"})
    assert_header(doc, dataset="mnms", domains=list(VENDORS), labeled_domain="vendorA", synthetic=False)
    assert [(i["case"], i["slice"]) for i in doc["labeled"]] == [("A00", 0), ("A00", 1), ("A01", 0)]
    for vendor in VENDORS:
        val = {i["case"] for i in doc["val"] if i["domain"] == vendor}
        assert len(val) == 1 and sum(i["domain"] == vendor for i in doc["test"]) == 2
        assert not val & {i["case"] for s in ("labeled", "unlabeled") for i in doc[s] if i["domain"] == vendor}
    assert {i["case"] for i in doc["val"] if i["domain"] == "vendorA"} == {"A02"}  # A00, A01 hold labeled slices
    item = doc["labeled"][1]
    np.testing.assert_array_equal(read_label(out, item), _classes(1))
    assert Image.open(out / item["image"]).mode == "L"
    assert prepared("mnms", tmp_path / "src" / "mnms", tmp_path / "b")["lb_num"] == 5  # paper's


def test_noisy_masks_snap_and_foreign_values_fail(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = _mnms(tmp_path / "src")
    mask_path = base / "vendorC/train/mask/C01_01.png"
    labels = _classes(1)
    noisy = _rgb(labels).astype(np.int16) + np.where(_rgb(labels) > 0, -12, 9)
    noisy[labels == 1, 1] = 250  # LV pixels also marked in the MYO channel: the later channel wins, as upstream
    rgba = np.dstack([noisy.clip(0, 255).astype(np.uint8), np.full(labels.shape, 255, np.uint8)])
    save_png(mask_path, rgba, "RGBA")
    with caplog.at_level(logging.WARNING):
        doc = prepared("mnms", tmp_path / "src", tmp_path / "out", lb_num=2)
    assert "RGBA mask converted to RGB" in caplog.text and "snapped" in caplog.text
    item = next(i for s in SPLITS for i in doc[s] if (i["domain"], i["case"], i["slice"]) == ("vendorC", "C01", 1))
    np.testing.assert_array_equal(read_label(tmp_path / "out", item), np.where(labels == 1, 2, labels))
    bad = _rgb(labels)
    bad[0:4, 0:8, 2] = 128  # a block of RV channel values halfway between 0 and 255
    save_png(mask_path, bad)
    with pytest.raises(DataError, match=r"mask values 128 \(.*\) lie farther than 40 from every") as caught:
        prepare("mnms", str(tmp_path / "src"), str(tmp_path / "bad"), lb_num=2)
    assert str(mask_path) in str(caught.value)
    save_png(mask_path, labels)  # class ids in a gray file: not the release's encoding
    with pytest.raises(DataError, match="gray\\) mask; expected an RGB mask") as caught:
        prepare("mnms", str(tmp_path / "src"), str(tmp_path / "bad"), lb_num=2)
    assert str(mask_path) in str(caught.value) and not (tmp_path / "bad" / "datalist.json").exists()


def test_demo_is_deterministic_and_prepared(tmp_path: Path) -> None:
    assert DEMOS["mnms"] is write_mnms_demo
    for name, seed in (("one", 0), ("two", 0)):
        write_mnms_demo(str(tmp_path / name), seed=seed, size=40, train_cases=2, test_cases=1, slices=2)
    write_mnms_demo(str(tmp_path / "other"), seed=1, size=40, train_cases=1, test_cases=0, slices=2)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    assert len(files) == 4 * 3 * 4 * 2
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    other = sorted(p.relative_to(tmp_path / "other") for p in (tmp_path / "other").rglob("*.png"))
    assert all((tmp_path / "one" / f).read_bytes() != (tmp_path / "other" / f).read_bytes() for f in other)
    assert Image.open(tmp_path / "one/mnms/vendorB/test/mask/B002_03.png").mode == "RGB"
    out = tmp_path / "out"
    doc = prepared("mnms", tmp_path / "one", out, lb_num=5)
    assert doc["synthetic"] is True and len(doc["test"]) == 4 * 4
    assert [(i["case"], i["slice"]) for i in doc["labeled"]][-2:] == [("A000", 3), ("A001", 0)]
    for item in (i for s in SPLITS for i in doc[s]):
        assert set(np.unique(read_label(out, item))) == {0, 1, 2, 3}  # every slice has LV, MYO and RV


def test_cli(tmp_path: Path) -> None:
    _mnms(tmp_path / "src")
    doc = prepare_cli("mnms", tmp_path / "src", tmp_path / "out", "--lb_num", "2")
    assert len(doc["labeled"]) == 2


def _clean_slice(vendor: str, size: int = 192) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mid-ventricular diastolic slice of one fixed heart in ``vendor``'s look and phenomena, without noise, blur,
    bias or intensity curve; its band (if the vendor has bands) lies straight across the RV, clear of the LV.

    Returns:
        ``(image, class ids, class ids without the phenomena)``.
    """
    style = VENDOR_STYLES[vendor]
    look = dataclasses.replace(style.look, noise=0.0, blur=0.0)
    heart = draw_heart(np.random.default_rng(3))
    heart.update(bias=np.zeros(2), gamma=1.0)
    cine = draw_cine(np.random.default_rng(4), style.cine, heart["center"])
    toward_rv = np.array([np.cos(heart["rv_angle"]), np.sin(heart["rv_angle"])])
    hub = np.asarray(heart["center"]) + (0.36 + 5.0) * toward_rv  # a radius-5 arc 0.36 from the LV centre
    cine = dataclasses.replace(cine, bands=(Band((float(hub[0]), float(hub[1])), 5.0, 0.03),), drift=0.0)
    image, labels = render_slice(look, heart, 0.5, False, size, np.random.default_rng(0), style.fov, cine)
    plain = render_slice(look, heart, 0.5, False, size, np.random.default_rng(0), style.fov)[1]
    return image, labels, plain


def test_demo_vendors_differ_by_bands_fat_and_papillary_muscles() -> None:
    """Banded vendors show a dark band across the RV; fat vendors a rim outside the myocardium as bright as the
    blood; papillary vendors dark blobs inside the LV mask; the masks stay those of the plain phantom."""
    looks = {}
    for vendor in VENDORS:
        image, labels, plain = _clean_slice(vendor)
        np.testing.assert_array_equal(labels, plain)  # the phenomena change the image only
        lv, myo, rv = (labels == c for c in (LV, MYO, RV))
        blood = np.percentile(image[lv], 90)
        rim = ndimage.binary_dilation(myo, iterations=4) & ~(lv | myo | rv)
        looks[vendor] = {
            "band": float((image[rv] < 0.5 * blood).mean()),
            "rim": float(image[rim].mean() / blood),
            "blobs": float((image[lv] < 0.6 * blood).mean()),
        }
    cine = {v: VENDOR_STYLES[v].cine for v in VENDORS}
    assert cine["vendorA"] == dataclasses.replace(cine["vendorA"], banding=0.0, fat=0.0, papillary=0.0)  # clean
    for phenomenon, key in (("banding", "band"), ("fat", "rim"), ("papillary", "blobs")):
        shown = [v for v in VENDORS if getattr(cine[v], phenomenon) > 0]
        plain = [v for v in VENDORS if getattr(cine[v], phenomenon) == 0]
        assert shown and plain, phenomenon
        assert min(looks[v][key] for v in shown) > max(looks[v][key] for v in plain) + 0.05, (phenomenon, looks)
    assert min(looks[v]["band"] for v in VENDORS if cine[v].banding) > 0.05  # a band, not a few dark pixels
    assert min(looks[v]["rim"] for v in VENDORS if cine[v].fat) > 0.95  # fat as bright as the blood
    assert min(looks[v]["blobs"] for v in VENDORS if cine[v].papillary) > 0.05
    assert {v for v in VENDORS if any(dataclasses.astuple(cine[v]))} == {"vendorB", "vendorC", "vendorD"}
