"""The fundus reader (authors' ROI layout, 0/128/255 masks) and the synthetic fundus demo."""

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
from synfoc_components.data.demo.fundus import STYLES, draw_scene, render_fundus, write_fundus_demo

DOMAINS = describe("fundus").domains
SIZE = 20


def _mask(shift: int) -> np.ndarray:
    """Background 255, disc rim 128 around a cup 0 (gray values; the release stores them as RGB)."""
    mask = np.full((SIZE, SIZE), 255, np.uint8)
    mask[4 : 14 + shift, 4:16] = 128
    mask[7:11, 7 : 12 + shift] = 0
    return mask


def _fundus(root: Path, train: int = 4, test: int = 2) -> Path:
    """``Fundus/Domain{1..4}/{train,test}/ROIs/{image,mask}/<name>.png``: RGB images, RGB masks 0/128/255."""
    base = root / "Fundus"
    for d, domain in enumerate(DOMAINS):
        for i in range(train + test):
            split = "train" if i < train else "test"
            mask = _mask(i % 3)
            image = np.dstack([255 - mask // 2, 200 - mask // 3, np.full_like(mask, 40 + 10 * d)])
            save_png(base / domain / split / "ROIs" / "image" / f"n{i:04d}.png", image)
            save_png(base / domain / split / "ROIs" / "mask" / f"n{i:04d}.png", np.dstack([mask] * 3))
    return base


def test_prepare_splits_and_classes(tmp_path: Path) -> None:
    _fundus(tmp_path / "src")
    out = tmp_path / "out"
    doc = prepared("fundus", tmp_path / "src", out, lb_num=2, val_fraction=0.25)
    assert_header(doc, num_classes=3, channels=3, labels={"0": "background", "1": "cup", "2": "rim"})
    assert_header(doc, dataset="fundus", domains=list(DOMAINS), labeled_domain="Domain1", synthetic=False)
    assert [(i["domain"], i["case"]) for i in doc["labeled"]] == [("Domain1", "n0000"), ("Domain1", "n0001")]
    for domain in DOMAINS:
        counts = [sum(i["domain"] == domain for i in doc[s]) for s in SPLITS]
        assert counts == ([2, 1, 1, 2] if domain == "Domain1" else [0, 3, 1, 2])
    assert {i["case"] for i in doc["test"]} == {"n0004", "n0005"}
    item = doc["labeled"][1]
    np.testing.assert_array_equal(read_label(out, item), np.select([_mask(1) == 0, _mask(1) == 128], [1, 2], 0))
    assert Image.open(out / item["image"]).mode == "RGB"
    again = prepared("fundus", tmp_path / "src" / "Fundus", tmp_path / "again", lb_num=2)
    assert [i["case"] for i in again["labeled"]] == ["n0000", "n0001"]  # the Fundus folder itself works too


def test_noisy_masks_snap_and_foreign_values_fail(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = _fundus(tmp_path / "src")
    mask_path = base / "Domain3/train/ROIs/mask/n0002.png"
    clean = _mask(2)
    noisy = clean.astype(np.int16) + np.where(clean == 0, 6, np.where(clean == 128, -9, -20))
    rgb = np.dstack([noisy, noisy + 3, noisy - 2]).clip(0, 255).astype(np.uint8)  # JPEG-like channel noise
    rgb[4, 4:7] = 200  # a few anti-aliased rim pixels, far from 128 and 255 (< 1% of the mask)
    save_png(mask_path, rgb)
    with caplog.at_level(logging.WARNING):
        doc = prepared("fundus", tmp_path / "src", tmp_path / "out", lb_num=2)
    assert "converted to 8-bit gray" in caplog.text and "snapped" in caplog.text
    item = next(i for s in SPLITS for i in doc[s] if i["domain"] == "Domain3" and i["case"] == "n0002")
    expected = np.select([clean == 0, clean == 128], [1, 2], 0)
    expected[4, 4:7] = 0  # 200 is nearer to 255 (background) than to 128
    np.testing.assert_array_equal(read_label(tmp_path / "out", item), expected)
    bad = clean.copy()
    bad[0:6, 0:6] = 64  # 9% of the mask halfway between cup and rim
    save_png(mask_path, bad)
    with pytest.raises(DataError, match=r"mask values 64 \(9\.0% of the pixels\) lie farther than 40") as caught:
        prepare("fundus", str(tmp_path / "src"), str(tmp_path / "bad"), lb_num=2)
    assert str(mask_path) in str(caught.value) and not (tmp_path / "bad" / "datalist.json").exists()


def test_missing_parts_are_named(tmp_path: Path) -> None:
    base = _fundus(tmp_path / "src")
    (base / "Domain2/test/ROIs/mask/n0005.png").unlink()
    with pytest.raises(DataError, match="no mask named n0005"):
        prepare("fundus", str(tmp_path / "src"), str(tmp_path / "out"), lb_num=2)
    with pytest.raises(DataError, match="neither a Fundus/ folder nor domain folders"):
        prepare("fundus", str(tmp_path), str(tmp_path / "out"), lb_num=2)


def test_demo_is_deterministic_and_prepared(tmp_path: Path) -> None:
    assert DEMOS["fundus"] is write_fundus_demo
    for name, seed in (("one", 0), ("two", 0), ("other", 1)):
        write_fundus_demo(str(tmp_path / name), seed=seed, size=32, train=4, test=2)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    assert len(files) == 4 * 6 * 2
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    assert any((tmp_path / "one" / f).read_bytes() != (tmp_path / "other" / f).read_bytes() for f in files)
    image = Image.open(tmp_path / "one/Fundus/Domain2/train/ROIs/image/G-001-L.png")
    assert image.mode == "RGB" and image.size == (32, 32)
    out = tmp_path / "out"
    doc = prepared("fundus", tmp_path / "one", out, lb_num=3)
    assert doc["synthetic"] is True and len(doc["labeled"]) == 3 and len(doc["test"]) == 4 * 2
    for item in (i for s in SPLITS for i in doc[s]):
        assert set(np.unique(read_label(out, item))) == {0, 1, 2}  # every image has cup and rim


def _clean_looks(domain: str, size: int = 128) -> np.ndarray:
    """Per clean image of ``domain`` (no illumination, blur or noise): pale ring, cup edge step, disc fraction.

    pale ring: 90th percentile brightness in a band just outside the disc over the median of the far retina;
    cup edge step: median brightness just inside the annotated cup over that just outside it (on the rim).
    """
    style = dataclasses.replace(STYLES[domain], gamma=1.0, brightness=1.0, vignette=0.0, gradient=0.0, blur=0.0,
                                noise=0.0)  # fmt: skip
    looks = []
    for k in range(4):
        rng = np.random.default_rng([7, k])
        image, mask = render_fundus(style, draw_scene(rng, style), size, rng)
        gray, disc, cup = image.astype(np.float32).mean(-1), mask <= 128, mask == 0
        radius = np.sqrt(disc.sum() / np.pi)
        near = ndimage.binary_dilation(disc, iterations=round(0.2 * radius)) & ~ndimage.binary_dilation(disc)
        far = ~ndimage.binary_dilation(disc, iterations=round(radius))
        inside = cup & ~ndimage.binary_erosion(cup, iterations=2)
        outside = ndimage.binary_dilation(cup, iterations=2) & ~cup & disc
        ring = np.percentile(gray[near], 90) / np.median(gray[far])
        looks.append((ring, np.median(gray[inside]) / np.median(gray[outside]), disc.mean()))
    return np.array(looks)


def test_demo_domains_differ_by_atrophy_cup_contrast_and_crop() -> None:
    """PPA puts a pale band outside the disc; faint cups lose their edge step; crops change the disc's size."""
    looks = {domain: _clean_looks(domain) for domain in DOMAINS}
    ppa, faint = ("Domain2", "Domain4"), ("Domain2", "Domain3", "Domain4")
    for domain, values in looks.items():
        ring, step, _ = values.T
        if domain in ppa:
            assert ring.min() > 1.5, (domain, ring)  # the atrophy is far brighter than the retina
        else:
            assert ring.max() < 1.25, (domain, ring)  # only the retina's own texture
        if domain in faint:
            assert step.max() < 1.06, (domain, step)  # a soft slope, no step at the annotated edge
        else:
            assert step.min() > 1.12, (domain, step)  # the pallor fills the cup
    fraction = {domain: values[:, 2].mean() for domain, values in looks.items()}
    assert fraction["Domain2"] > 1.6 * fraction["Domain1"]  # RIM-ONE's tight crop
    assert max(fraction["Domain3"], fraction["Domain4"]) < 0.8 * fraction["Domain1"]  # REFUGE's wide crops
    assert [d for d in DOMAINS if STYLES[d].ppa > 0] == list(ppa)
    assert [d for d in DOMAINS if STYLES[d].pallor < 1] == list(faint)


def test_cli(tmp_path: Path) -> None:
    _fundus(tmp_path / "src")
    doc = prepare_cli("fundus", tmp_path / "src", tmp_path / "out", "--lb_num", "3")
    assert len(doc["labeled"]) == 3
