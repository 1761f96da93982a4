"""The BUSI reader (Cairo release layout, one or more masks per image, no split in the release) and its demo."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import SPLITS, assert_header, prepare_cli, prepared, read_label, save_png
from PIL import Image
from scipy import ndimage

from synfoc_components.data import DataError, prepare
from synfoc_components.data.demo import DEMOS
from synfoc_components.data.demo.busi import draw_lesion, render_ultrasound, write_busi_demo


def _lesion(n: int, second: bool = False) -> np.ndarray:
    mask = np.zeros((18, 22), np.uint8)
    if second:
        mask[12:16, 2:6] = 255
    else:
        mask[3:9, 8 : 12 + n % 5] = 255
    return mask


def _busi(root: Path, benign: int = 11, malignant: int = 5) -> Path:
    """``Dataset_BUSI_with_GT/{benign,malignant,normal}/<cls> (<n>).png`` + ``_mask.png``; benign (3) has two masks;
    ``normal`` holds an unreadable file (it must not be read)."""
    base = root / "Dataset_BUSI_with_GT"
    for cls, count in (("benign", benign), ("malignant", malignant)):
        for n in range(1, count + 1):
            mask = _lesion(n)
            image = np.dstack([np.where(mask > 0, 30, 150 + n).astype(np.uint8)] * 3)  # gray stored as RGB
            save_png(base / cls / f"{cls} ({n}).png", image)
            save_png(base / cls / f"{cls} ({n})_mask.png", mask)
    save_png(base / "benign" / "benign (3)_mask_1.png", _lesion(3, second=True))
    (base / "normal").mkdir()
    (base / "normal" / "normal (1).png").write_bytes(b"not a png")
    return base


def test_prepare_split_ratio_and_merged_masks(tmp_path: Path) -> None:
    _busi(tmp_path / "src")
    out = tmp_path / "out"
    doc = prepared("busi", tmp_path / "src", out, val_fraction=0.25)
    assert_header(doc, num_classes=2, channels=1)
    assert_header(doc, dataset="busi", domains=["benign", "malignant"], labeled_domain="benign", synthetic=False)
    # sorted by file name: (1), (10), (11), (2), ..., (9); the last floor(0.2 * 11) = 2 are test
    assert {i["case"] for i in doc["test"] if i["domain"] == "benign"} == {"benign (8)", "benign (9)"}
    assert {i["case"] for i in doc["test"] if i["domain"] == "malignant"} == {"malignant (5)"}
    assert doc["lb_num"] == int((9 + 4) / 8) == 1 and doc["labeled"][0]["case"] == "benign (1)"  # default 1/8
    counts = {d: [sum(i["domain"] == d for i in doc[s]) for s in SPLITS] for d in doc["domains"]}
    assert counts == {"benign": [1, 6, 2, 2], "malignant": [0, 3, 1, 1]}
    assert not any(i["domain"] == "normal" for s in SPLITS for i in doc[s])
    merged = next(i for s in SPLITS for i in doc[s] if i["case"] == "benign (3)")
    union = (_lesion(3) | _lesion(3, second=True)) > 0
    np.testing.assert_array_equal(read_label(out, merged), union.astype(np.uint8))
    assert Image.open(out / merged["image"]).mode == "L"
    quarter = prepared("busi", tmp_path / "src" / "Dataset_BUSI_with_GT", tmp_path / "q", lb_ratio=0.25)
    assert [i["case"] for i in quarter["labeled"]] == ["benign (1)", "benign (10)", "benign (11)"]


def test_noisy_masks_snap_and_bad_files_fail(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = _busi(tmp_path / "src")
    mask_path = base / "malignant" / "malignant (2)_mask.png"
    lesion = _lesion(2)
    noisy = np.where(lesion > 0, 243, 7).astype(np.uint8)
    noisy[3, 8:10] = 170  # anti-aliased outline pixels, nearer to 255
    save_png(mask_path, np.dstack([noisy] * 3))
    with caplog.at_level(logging.WARNING):
        doc = prepared("busi", tmp_path / "src", tmp_path / "out", lb_num=2)
    assert "snapped" in caplog.text
    item = next(i for s in SPLITS for i in doc[s] if i["case"] == "malignant (2)")
    np.testing.assert_array_equal(read_label(tmp_path / "out", item), (lesion > 0).astype(np.uint8))
    bad = lesion.copy()
    bad[10:16, 0:10] = 100
    save_png(mask_path, bad)
    with pytest.raises(DataError, match=r"mask values 100 \(.*\) lie farther than 40") as caught:
        prepare("busi", str(tmp_path / "src"), str(tmp_path / "bad"), lb_num=2)
    assert str(mask_path) in str(caught.value)
    mask_path.unlink()
    with pytest.raises(DataError, match=r"no mask malignant \(2\)_mask.png next to it") as caught:
        prepare("busi", str(tmp_path / "src"), str(tmp_path / "bad"), lb_num=2)
    assert str(base / "malignant" / "malignant (2).png") in str(caught.value)
    assert not (tmp_path / "bad" / "datalist.json").exists()


def test_demo_is_deterministic_and_prepared(tmp_path: Path) -> None:
    assert DEMOS["busi"] is write_busi_demo
    small = dict(size=32, benign=10, malignant=5, normal=1)
    for name, seed in (("one", 0), ("two", 0)):
        write_busi_demo(str(tmp_path / name), seed=seed, **small)
    write_busi_demo(str(tmp_path / "other"), seed=1, size=32, benign=2, malignant=0, normal=0)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    assert len(files) == (10 + 5 + 1) * 2 + 1  # image and mask each, benign (10) has a second lesion
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    other = sorted(p.relative_to(tmp_path / "other") for p in (tmp_path / "other").rglob("*.png"))
    assert all((tmp_path / "one" / f).read_bytes() != (tmp_path / "other" / f).read_bytes() for f in other)
    root = tmp_path / "one" / "Dataset_BUSI_with_GT"
    second = np.asarray(Image.open(root / "benign" / "benign (10)_mask_1.png"))
    out = tmp_path / "out"
    doc = prepared("busi", tmp_path / "one", out)
    assert doc["synthetic"] is True and doc["lb_num"] == 1 and len(doc["test"]) == 2 + 1
    for item in (i for s in SPLITS for i in doc[s]):
        assert set(np.unique(read_label(out, item))) == {0, 1}  # every image has a lesion
    item = next(i for s in SPLITS for i in doc[s] if i["case"] == "benign (10)")
    assert second.any() and read_label(out, item)[second > 0].all()  # the second mask file is merged


def _crosses(image: np.ndarray, near: np.ndarray, arm: int = 2) -> int:
    """Bright ``+`` marks centred in ``near``: bright arms of ``arm`` pixels along row and column, dark diagonals."""
    bright = np.pad(image >= 220, arm)

    def shifted(dr: int, dc: int) -> np.ndarray:
        return bright[arm + dr : arm + dr + image.shape[0], arm + dc : arm + dc + image.shape[1]]

    arms = [shifted(s * k, 0) & shifted(0, s * k) for k in range(arm + 1) for s in (-1, 1)]
    diagonals = [~shifted(dr, dc) for dr in (-1, 1) for dc in (-1, 1)]
    return int((np.logical_and.reduce(arms + diagonals) & near).sum())


def _step(img: np.ndarray, mask: np.ndarray, band: slice, beyond: slice, span: slice) -> float:
    """Mean of ``img`` in rows ``beyond`` minus the lesion's in rows ``band`` (both in the columns ``span``)."""
    return float(img[beyond, span].mean() - img[band, span][mask[band, span]].mean())


def _looks(malignant: bool, count: int = 16, size: int = 128) -> dict[str, np.ndarray]:
    """Image statistics of ``count`` rendered lesions: contrast, borders, dark look-alikes, caliper crosses."""
    looks: dict[str, list] = {}
    for n in range(count):
        rng = np.random.default_rng([7, int(malignant), n])
        image, (mask,) = render_ultrasound([draw_lesion(rng, malignant)], size, rng)
        img = image / 255.0
        ring = ndimage.binary_dilation(mask, iterations=5) & ~ndimage.binary_dilation(mask, iterations=2)
        inside, around = img[mask].mean(), img[ring].mean()
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        (top, bottom), quarter = rows[[0, -1]], (rows[-1] - rows[0]) // 4
        span = slice(cols[0] + (cols[-1] - cols[0]) // 4, cols[-1] - (cols[-1] - cols[0]) // 4 + 1)  # central columns
        lowest, uppermost = slice(bottom - quarter, bottom + 1), slice(top, top + quarter + 1)
        outside = ~ndimage.binary_dilation(mask, iterations=4)
        outside[: size // 10], outside[top:, cols[0] : cols[-1] + 1] = False, False  # not the skin, not the shadow
        dark, _ = ndimage.label(outside & (ndimage.gaussian_filter(img, 2.0) < inside + 0.25 * (around - inside)))
        near = ndimage.binary_dilation(mask, iterations=3) & ~ndimage.binary_erosion(mask, iterations=3)
        for key, value in {
            "ratio": inside / around,  # interior echo relative to the surroundings
            "lower": abs(_step(img, mask, lowest, slice(bottom + 3, bottom + 3 + quarter), span)),
            "upper": _step(img, mask, uppermost, slice(max(0, top - 2 - quarter), top - 2), span),
            "below": img[bottom + 3 : bottom + 3 + 2 * quarter, span].mean() / around,
            "lookalikes": int((np.bincount(dark.ravel())[1:] >= 12).sum()),
            "crosses": _crosses(image, near),
        }.items():
            looks.setdefault(key, []).append(value)
    return {key: np.array(values) for key, values in looks.items()}


def test_demo_has_the_difficulties_of_real_busi() -> None:
    """Varied benign echo (cysts, solid), malignant lesions less dark with a shadow merging with the lower border,
    dark look-alikes (fat lobules) outside the lesion, caliper crosses on the lesion border."""
    benign, malignant = _looks(False), _looks(True)
    assert (benign["ratio"] < 0.2).sum() >= 3 and (benign["ratio"] > 0.4).sum() >= 5  # anechoic and hypoechoic
    assert malignant["ratio"].min() > 0.35 and malignant["ratio"].mean() > benign["ratio"].mean() + 0.05
    assert np.median(malignant["below"]) < 0.75 < np.median(benign["below"])  # shadow; enhancement or none
    assert malignant["lower"].mean() < 0.4 * malignant["upper"].mean()  # the lower border merges with the shadow
    solid = np.concatenate([benign["lookalikes"][benign["ratio"] > 0.3], malignant["lookalikes"]])
    assert (solid >= 1).mean() > 0.6  # fat lobules almost as dark as the lesion, away from it
    crosses = np.concatenate([benign["crosses"], malignant["crosses"]])
    assert 0.25 < (crosses >= 2).mean() < 0.9  # calipers on many lesions, not all


def test_cli(tmp_path: Path) -> None:
    _busi(tmp_path / "src")
    doc = prepare_cli("busi", tmp_path / "src", tmp_path / "out", "--lb_ratio", "0.25")
    assert len(doc["labeled"]) == 3
