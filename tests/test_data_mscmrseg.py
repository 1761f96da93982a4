"""Tests of the MS-CMRSeg reader (challenge release and upstream layouts) and the MS-CMRSeg demo (its LGE look)."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from synfoc_components.data import DataError, describe, prepare
from synfoc_components.data.demo import DEMOS
from synfoc_components.data.demo.drawing.cardiac_mri import BSSFP, LGE, LV, MYO, draw_heart, render_slice
from synfoc_components.data.demo.mscmrseg import RELEASE, write_mscmrseg_demo

SPLITS = ("labeled", "unlabeled", "val", "test")


def _read(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def _nifti(path: Path, array: np.ndarray, spacing=(1.25, 1.3, 8.0)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.diag(list(spacing) + [1.0])), str(path))


def _anatomy(slices: int = 3) -> np.ndarray:
    """Stored labels (x, y, z): 200 myocardium ring, 500 LV blood pool, 600 RV; the last slice is empty."""
    label = np.zeros((12, 10, slices), np.uint16)
    label[3:9, 2:8, :-1] = 200
    label[5:7, 4:6, :-1] = 500
    label[0:2, 2:8, :-1] = 600
    return label


def _volume(folder: Path, name: str, label: bool = True, suffix: str = ".nii.gz") -> None:
    stored = _anatomy()
    _nifti(folder / f"{name}{suffix}", (stored // 2 + 30).astype(np.int16))
    if label:
        _nifti(folder / f"{name}_manual{suffix}", stored)


def _release(root: Path, patients: int = 10) -> Path:
    """Challenge release: c0t2lge/patientN_{C0,LGE,T2}.nii.gz, labels in {c0,lge,t2}gt/; the last C0 unlabeled."""
    base = root / "C0LET2_nii45_for_challenge19"
    for n in range(1, patients + 1):
        for sequence in ("C0", "LGE", "T2"):
            name = f"patient{n}_{sequence}"
            _volume(base / "c0t2lge", name, label=False)
            if not (sequence == "C0" and n == patients):
                _nifti(base / f"{sequence.lower()}gt" / f"{name}_manual.nii.gz", _anatomy())
    return base


def _cases(doc: dict, split: str, domain: str) -> set[str]:
    return {item["case"] for item in doc[split] if item["domain"] == domain}


def test_release_layout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _release(tmp_path / "src")
    with caplog.at_level(logging.WARNING):
        doc = _read(prepare("mscmrseg", str(tmp_path / "src"), str(tmp_path / "out")))
    assert "C0: 1 image(s) without a _manual label skipped" in caplog.text
    assert (doc["domains"], doc["labeled_domain"], doc["num_classes"]) == (["C0", "LGE"], "C0", 4)
    assert doc["labels"] == {"0": "background", "1": "myo", "2": "lv", "3": "rv"}
    assert _cases(doc, "test", "LGE") == {"patient9", "patient10"}  # last fifth in patient-number order
    assert _cases(doc, "test", "C0") == {"patient8", "patient9"}  # of the 9 labeled C0 patients
    assert _cases(doc, "labeled", "C0") == {f"patient{n}" for n in range(1, 8)}  # default: every C0 training patient
    assert doc["lb_cases"] == 7 and doc["lb_num"] == 7 * 2
    assert not _cases(doc, "labeled", "LGE") and not _cases(doc, "unlabeled", "C0") and not _cases(doc, "val", "C0")
    assert len(_cases(doc, "val", "LGE")) == 1 and len(_cases(doc, "unlabeled", "LGE")) == 7
    assert {item["domain"] for s in SPLITS for item in doc[s]} == {"C0", "LGE"}  # T2 ignored
    assert {item["slice"] for s in SPLITS for item in doc[s]} == {0, 1}  # the empty last slice is dropped
    assert all(item["spacing"] == [1.25, 1.3] for s in SPLITS for item in doc[s])
    label = np.asarray(Image.open(tmp_path / "out" / doc["test"][0]["label"]))
    expected = np.zeros((10, 12), np.uint8)  # rows are the volume's y axis
    expected[2:8, 3:9], expected[4:6, 5:7], expected[2:8, 0:2] = 1, 2, 3
    np.testing.assert_array_equal(label, expected)


def test_upstream_layout(tmp_path: Path) -> None:
    base = tmp_path / "src" / "MS-CMRSeg"
    for sequence in ("C0", "LGE"):
        for split, numbers in (("train", (1, 2, 3, 4)), ("test", (5,))):
            for n in numbers:
                _volume(base / sequence / split, f"patient{n}_{sequence}", suffix=".nii")
    doc = _read(prepare("mscmrseg", str(tmp_path / "src"), str(tmp_path / "out"), lb_cases=2, val_fraction=0.25))
    assert _cases(doc, "test", "C0") == _cases(doc, "test", "LGE") == {"patient5"}
    assert _cases(doc, "labeled", "C0") == {"patient1", "patient2"} and doc["lb_num"] == 4
    assert len(_cases(doc, "val", "C0")) == len(_cases(doc, "val", "LGE")) == 1
    assert len(_cases(doc, "unlabeled", "C0")) == 1 and len(_cases(doc, "unlabeled", "LGE")) == 3
    doc = _read(prepare("mscmrseg", str(base), str(tmp_path / "lge"), lb_domain="LGE", lb_num=3))
    assert doc["labeled_domain"] == "LGE" and len(doc["labeled"]) == 3 and "lb_cases" not in doc


def test_bad_inputs(tmp_path: Path) -> None:
    base = _release(tmp_path / "src", patients=3)
    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    bad = base / "lgegt" / "patient2_LGE_manual.nii.gz"
    stored = _anatomy()
    stored[0, 0, 0] = 300
    _nifti(bad, stored)
    with pytest.raises(DataError, match=re.escape(f"{bad}: mask values 300 are outside the encoding")):
        prepare("mscmrseg", src, out)
    _nifti(bad, _anatomy(4))
    with pytest.raises(DataError, match=re.escape(f"{bad}: mask shape (12, 10, 4) differs from image shape")):
        prepare("mscmrseg", src, out)
    _nifti(bad, _anatomy())
    copy = base / "elsewhere" / "patient2_LGE_manual.nii.gz"
    _nifti(copy, _anatomy())
    with pytest.raises(DataError, match="a second file for patient2_LGE_manual"):
        prepare("mscmrseg", src, out)
    copy.unlink()
    (base / "c0gt" / "patient2_C0_manual.nii.gz").unlink()  # patient3's C0 has no label either
    with pytest.raises(DataError, match="sequence C0: 1 labeled case\\(s\\); at least 2 are needed"):
        prepare("mscmrseg", src, out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no MS-CMRSeg data"):
        prepare("mscmrseg", str(tmp_path / "empty"), out)
    upstream = tmp_path / "up" / "MS-CMRSeg"
    _volume(upstream / "C0" / "train", "patient1_C0")
    with pytest.raises(DataError, match=re.escape(f"{upstream / 'C0' / 'test'}: folder not found")):
        prepare("mscmrseg", str(tmp_path / "up"), out)
    assert not Path(out, "datalist.json").exists()


def test_demo_is_deterministic_and_prepared(tmp_path: Path) -> None:
    assert DEMOS["mscmrseg"] is write_mscmrseg_demo and describe("mscmrseg").lb_cases == "all"
    small = functools.partial(write_mscmrseg_demo, size=48, patients=5, slices=4)
    small(str(tmp_path / "one"))
    small(str(tmp_path / "two"))
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.nii.gz"))
    assert len(files) == 5 * 2 * 2 and all(f.parts[0] == RELEASE for f in files)
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    doc = _read(prepare("mscmrseg", str(tmp_path / "one"), str(tmp_path / "out")))
    assert doc["synthetic"] is True and doc["lb_cases"] == 4
    counts = {(d, s): len(_cases(doc, s, d)) for d in ("C0", "LGE") for s in SPLITS}
    assert counts == {
        ("C0", "labeled"): 4, ("C0", "unlabeled"): 0, ("C0", "val"): 0, ("C0", "test"): 1,
        ("LGE", "labeled"): 0, ("LGE", "unlabeled"): 3, ("LGE", "val"): 1, ("LGE", "test"): 1,
    }  # fmt: skip
    assert sum(len(doc[s]) for s in SPLITS) == 5 * 2 * 4  # every slice holds a structure
    for item in doc["labeled"] + doc["test"]:
        assert item["spacing"] == [1.5, 1.5]
        assert set(np.unique(np.asarray(Image.open(tmp_path / "out" / item["label"])))) == {0, 1, 2, 3}


def _sequence_measures(patients: int = 8, size: int = 96) -> dict[str, np.ndarray]:
    """Per patient (drawn as the demo draws them) and sequence, from a mid-ventricular slice: mean LV blood, mean
    scar-free myocardium, mean scar, blood noise, the scar's share of the myocardium and the share of the myocardium
    brighter than the mean blood."""
    dark = dict.fromkeys(("blood", "myocardium", "fat", "tissue", "liver", "lung", "noise", "blur"), 0.0)
    only_scar = dataclasses.replace(LGE, scar=1.0, **dark)
    found: dict[str, list] = {}
    for number in range(1, patients + 1):
        heart = draw_heart(np.random.default_rng([0, number]))
        scar = render_slice(only_scar, heart, 0.3, False, size, np.random.default_rng(0))[0] > 0.5
        for name, style in (("C0", BSSFP), ("LGE", LGE)):
            image, labels = render_slice(style, heart, 0.3, False, size, np.random.default_rng(number))
            myo = labels == MYO
            blood = image[ndimage.binary_erosion(labels == LV, iterations=2)]
            healthy = image[ndimage.binary_erosion(myo & ~ndimage.binary_dilation(scar, iterations=2))]
            scarred = image[myo & scar].mean() if (myo & scar).any() else np.nan
            values = [blood.mean(), healthy.mean(), scarred, blood.std(), (myo & scar).sum() / myo.sum()]
            found.setdefault(name, []).append(values + [(image[myo] > blood.mean()).mean()])
    return {name: np.array(values) for name, values in found.items()}


def test_demo_lge_looks_like_lge() -> None:
    m = _sequence_measures()
    (c0_blood, c0_myo, _, c0_noise, _, c0_bright), lge = m["C0"].T, m["LGE"]
    blood, myo, scar, noise, scar_share, bright = lge.T
    assert np.all(myo < 0.35 * blood)  # healthy myocardium nulled, far darker than the blood
    assert np.all((blood > 0.3) & (blood < 0.6))  # a mid-grey blood pool
    assert np.all(blood / myo < c0_blood / c0_myo) and np.all(blood - myo < 0.5 * (c0_blood - c0_myo))
    assert np.all((blood - myo) / noise < 0.4 * (c0_blood - c0_myo) / c0_noise)  # lower contrast-to-noise
    with_scar = scar_share > 0.08
    assert with_scar.mean() >= 0.75  # a sizeable scar in most patients
    assert np.all(scar[with_scar] >= blood[with_scar])  # as bright as the blood or brighter
    assert np.all(bright[with_scar] > 0.05) and np.all(c0_bright < 0.01)  # bright myocardium only in LGE
