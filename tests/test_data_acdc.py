"""Tests of the ACDC reader (SSL4MIS h5 and raw NIfTI layouts), labeling whole cases (lb_cases) and the ACDC demo
(its diagnostic groups: anatomy per group, groups by patient number, labeled patients all DCM)."""

from __future__ import annotations

import functools
import json
import logging
import re
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from synfoc_components.data import DataError, describe, prepare
from synfoc_components.data.demo import DEMOS
from synfoc_components.data.demo.acdc import GROUPS, group_of, write_acdc_demo
from synfoc_components.data.demo.drawing.cardiac_mri import BSSFP, LV, MYO, RV, draw_heart, render_slice
from synfoc_components.data.preparation.splits import resolve_lb_cases

SPLITS = ("labeled", "unlabeled", "val", "test")


def _read(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def _anatomy(shape: tuple[int, int], shift: int) -> np.ndarray:
    """Class ids: RV 1, MYO 2, LV 3 in a few boxes."""
    label = np.zeros(shape, np.uint8)
    label[2:8, 4 + shift : 12 + shift] = 2
    label[4:6, 6 + shift : 10 + shift] = 3
    label[2:8, 1:3] = 1
    return label


def _h5(path: Path, image: np.ndarray, label: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("image", data=image)
        f.create_dataset("label", data=label)


def _h5_acdc(root: Path, train: int = 5, slices: int = 3) -> Path:
    """SSL4MIS layout: ACDC/{train_slices,val,test}.list, data/slices/<case>_slice_<k>.h5, data/<case>.h5.

    Training patients 001..``train``, validation patient 090, test patients 100 and 101; frames 01 and 12; the
    last slice of every volume is empty (dropped).
    """
    base, names = root / "ACDC", {"train": [], "val": [], "test": []}
    patients = [("train", n) for n in range(1, train + 1)] + [("val", 90), ("test", 100), ("test", 101)]
    for split, number in patients:
        for frame in (1, 12):
            case = f"patient{number:03d}_frame{frame:02d}"
            labels = np.stack([_anatomy((10, 16), k) for k in range(slices - 1)] + [np.zeros((10, 16), np.uint8)])
            images = (labels * 0.25 + 0.05).astype(np.float32)  # in [0, 1], as SSL4MIS stores them
            if split == "train":
                for k in range(slices):
                    names["train"].append(f"{case}_slice_{k}")
                    _h5(base / "data" / "slices" / f"{case}_slice_{k}.h5", images[k], labels[k])
            else:
                names[split].append(case)
                _h5(base / "data" / f"{case}.h5", images, labels)
    for split, listing in (("train", "train_slices.list"), ("val", "val.list"), ("test", "test.list")):
        (base / listing).write_text("".join(f"{name}\n" for name in names[split]))
    return base


def _nifti(path: Path, array: np.ndarray, spacing=(1.5, 1.6, 10.0)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.diag(list(spacing) + [1.0])), str(path))


def _raw_acdc(root: Path, training=(1, 2, 3, 4, 5), testing=(101, 102), gt_testing: bool = True) -> Path:
    """Raw release: ACDC/database/{training,testing}/patientNNN/patientNNN_frameNN[_gt].nii.gz (+ _4d, Info.cfg)."""
    base = root / "ACDC" / "database"
    for part, numbers in (("training", training), ("testing", testing)):
        for number in numbers:
            folder = base / part / f"patient{number:03d}"
            for frame in (1, 9):
                label = np.stack([_anatomy((10, 16), k).T for k in range(3)] + [np.zeros((16, 10), np.uint8)], -1)
                name = f"patient{number:03d}_frame{frame:02d}"
                _nifti(folder / f"{name}.nii.gz", (label * 100 + 20).astype(np.int16))
                if part == "training" or gt_testing:
                    _nifti(folder / f"{name}_gt.nii.gz", label)
            _nifti(folder / f"patient{number:03d}_4d.nii.gz", np.zeros((16, 10, 4, 2), np.int16))
            (folder / "Info.cfg").write_text("ED: 1\nES: 9\n")
    return base


def _patients(doc: dict, split: str) -> set[str]:
    return {item["case"].split("_")[0] for item in doc[split]}


def test_h5_layout(tmp_path: Path) -> None:
    _h5_acdc(tmp_path / "src")
    doc = _read(prepare("acdc", str(tmp_path / "src"), str(tmp_path / "out")))
    assert (doc["dataset"], doc["domains"], doc["num_classes"]) == ("acdc", ["ACDC"], 4)
    assert doc["labels"] == {"0": "background", "1": "rv", "2": "myo", "3": "lv"}
    assert (doc["lb_cases"], doc["lb_num"]) == (3, 3 * 2 * 2)  # the default: 3 patients, 2 frames, 2 slices each
    assert _patients(doc, "labeled") == {"patient001", "patient002", "patient003"}
    assert _patients(doc, "unlabeled") == {"patient004", "patient005"}
    assert _patients(doc, "val") == {"patient090"} and _patients(doc, "test") == {"patient100", "patient101"}
    assert {i["case"] for i in doc["test"]} == {f"patient10{p}_frame{f}" for p in (0, 1) for f in ("01", "12")}
    assert {i["slice"] for s in SPLITS for i in doc[s]} == {0, 1}  # the empty last slices are dropped
    assert not any("spacing" in i for s in SPLITS for i in doc[s])
    item = next(i for i in doc["test"] if i["case"] == "patient100_frame12" and i["slice"] == 1)
    image, label = (np.asarray(Image.open(tmp_path / "out" / item[k])) for k in ("image", "label"))
    np.testing.assert_array_equal(label, _anatomy((10, 16), 1))
    stored = (label * 0.25 + 0.05).astype(np.float32)
    np.testing.assert_array_equal(image, np.round(stored.astype(np.float64) * 255.0))
    doc = _read(prepare("acdc", str(tmp_path / "src" / "ACDC"), str(tmp_path / "one"), lb_cases=1, val_fraction=0.5))
    assert _patients(doc, "labeled") == {"patient001"} and _patients(doc, "val") == {"patient090"}


def test_raw_layout(tmp_path: Path) -> None:
    _raw_acdc(tmp_path / "src")
    doc = _read(prepare("acdc", str(tmp_path / "src"), str(tmp_path / "out"), lb_cases=2, val_fraction=0.2))
    assert _patients(doc, "labeled") == {"patient001", "patient002"} and doc["lb_num"] == 2 * 2 * 3
    assert _patients(doc, "test") == {"patient101", "patient102"}
    val = _patients(doc, "val")
    assert len(val) == 1 and not val & (_patients(doc, "labeled") | _patients(doc, "unlabeled"))
    assert len(doc["val"]) == 2 * 3  # both frames of the validation patient
    assert all(i["spacing"] == [1.5, 1.6] for s in SPLITS for i in doc[s])
    item = doc["labeled"][0]
    assert (item["case"], item["slice"]) == ("patient001_frame01", 0)
    label = np.asarray(Image.open(tmp_path / "out" / item["label"]))
    np.testing.assert_array_equal(label, _anatomy((10, 16), 0))  # PNG rows are the volume's y axis


def test_raw_layout_without_test_labels(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _raw_acdc(tmp_path / "src", training=tuple(range(1, 11)), gt_testing=False)
    with caplog.at_level(logging.WARNING):
        doc = _read(prepare("acdc", str(tmp_path / "src"), str(tmp_path / "out"), lb_cases=7, val_fraction=0))
    assert "testing cases have no _gt labels" in caplog.text
    assert _patients(doc, "test") == {"patient009", "patient010"}  # the last fifth of the training patients
    assert len(_patients(doc, "labeled")) == 7 and _patients(doc, "unlabeled") == {"patient008"}


def test_lb_cases_options(tmp_path: Path) -> None:
    assert resolve_lb_cases(None, None, None, 0) is None
    assert resolve_lb_cases(None, None, None, 3) == 3 and resolve_lb_cases(None, 20, None, 3) is None
    assert resolve_lb_cases(7, None, None, 3) == 7 and resolve_lb_cases("all", None, None, 0) == "all"
    _raw_acdc(tmp_path / "src")
    out = tmp_path / "out"
    doc = _read(prepare("acdc", str(tmp_path / "src"), str(out), lb_num=5))  # counting slices still works
    assert doc["lb_num"] == 5 and "lb_cases" not in doc
    assert [(i["case"], i["slice"]) for i in doc["labeled"][-2:]] == [("patient001_frame09", k) for k in (0, 1)]
    for options, message in (
        ({"lb_cases": 9}, "--lb_cases: 9 is larger than the 5 training cases of ACDC"),
        ({"lb_cases": 0}, "--lb_cases: 0 labeled cases"),
        ({"lb_cases": "some"}, "--lb_cases: 'some' must be a whole number"),
        ({"lb_cases": 2, "lb_num": 4}, "--lb_cases: give one of"),
    ):
        with pytest.raises(DataError, match=message):
            prepare("acdc", str(tmp_path / "src"), str(tmp_path / "bad"), **options)
    assert not (tmp_path / "bad" / "datalist.json").exists()


def test_bad_inputs(tmp_path: Path) -> None:
    base = _h5_acdc(tmp_path / "src")
    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    broken = base / "data" / "slices" / "patient002_frame01_slice_1.h5"
    broken.write_bytes(broken.read_bytes()[:100])
    name = re.escape(str(broken))
    with pytest.raises(DataError, match=f"{name}: unreadable HDF5 file"):
        prepare("acdc", src, out)
    broken.unlink()
    with pytest.raises(DataError, match=f"{name}: unreadable HDF5 file"):
        prepare("acdc", src, out)
    _h5(broken, np.zeros((10, 16), np.float32), np.full((10, 16), 7, np.uint8))
    with pytest.raises(DataError, match=f"{name}: mask values 7 are not class ids 0..3"):
        prepare("acdc", src, out)
    _h5(broken, np.zeros((10, 12), np.float32), _anatomy((10, 16), 0))
    with pytest.raises(DataError, match=f"{name}: image shape \\(10, 12\\) differs from label shape"):
        prepare("acdc", src, out)
    (base / "train_slices.list").write_text("patient001_frame01\n")
    with pytest.raises(DataError, match="train_slices.list: line 1: 'patient001_frame01' is not a slice name"):
        prepare("acdc", src, out)
    (base / "test.list").unlink()
    (base / "train_slices.list").write_text("patient001_frame01_slice_0\n")
    with pytest.raises(DataError, match="test.list: not found"):
        prepare("acdc", src, out)
    raw = _raw_acdc(tmp_path / "raw")
    missing = raw / "training" / "patient003" / "patient003_frame09_gt.nii.gz"
    missing.unlink()
    with pytest.raises(DataError, match="patient003_frame09.nii.gz: no patient003_frame09_gt.nii.gz label"):
        prepare("acdc", str(tmp_path / "raw"), out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no ACDC data"):
        prepare("acdc", str(tmp_path / "empty"), out)
    assert not Path(out, "datalist.json").exists()


def test_demo_is_deterministic_and_prepared(tmp_path: Path) -> None:
    assert DEMOS["acdc"] is write_acdc_demo and describe("acdc").lb_cases == 3
    small = functools.partial(write_acdc_demo, size=48, train_patients=6, test_patients=2, slices=4)
    small(str(tmp_path / "one"))
    small(str(tmp_path / "two"))
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.nii.gz"))
    assert len(files) == 8 * 2 * 2
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    doc = _read(prepare("acdc", str(tmp_path / "one"), str(tmp_path / "out")))
    assert doc["synthetic"] is True and [len(doc[s]) for s in SPLITS] == [3 * 8, 2 * 8, 1 * 8, 2 * 8]
    assert _patients(doc, "test") == {"patient101", "patient102"}
    for item in doc["labeled"] + doc["test"]:
        assert item["spacing"] == [1.5625, 1.5625]
        assert set(np.unique(np.asarray(Image.open(tmp_path / "out" / item["label"])))) == {0, 1, 2, 3}


def _sectors(labels: np.ndarray, sectors: int = 12) -> tuple[np.ndarray, float]:
    """Myocardial thickness (pixels) in angular sectors around the LV centroid, and the angle towards the RV."""
    ys, xs = np.nonzero(labels == LV)
    cy, cx = ys.mean(), xs.mean()
    rv_y, rv_x = np.nonzero(labels == RV)
    width = 2 * np.pi / sectors
    areas = []
    for mask in (labels == LV, labels == MYO):
        yy, xx = np.nonzero(mask)
        index = ((np.arctan2(yy - cy, xx - cx) + np.pi) // width).astype(int) % sectors
        areas.append(np.bincount(index, minlength=sectors))
    endo, epi = np.sqrt(2 * areas[0] / width), np.sqrt(2 * (areas[0] + areas[1]) / width)
    return epi - endo, float(np.arctan2(rv_y.mean() - cy, rv_x.mean() - cx))


def _group_measures(group: str, patients: int = 6, size: int = 96) -> dict[str, float]:
    """Means over patients of one group, from the label maps of a mid-ventricular slice (depth 0.3)."""
    found: dict[str, list[float]] = {}
    for n in range(patients):
        rng = np.random.default_rng([7, n])
        heart = draw_heart(rng, group)
        ed, es = (render_slice(BSSFP, heart, 0.3, systole, size, rng)[1] for systole in (False, True))
        lv, myo, rv = ((ed == c).sum() for c in (LV, MYO, RV))
        thickness, rv_angle = _sectors(ed)
        sector = int((rv_angle + np.pi) // (2 * np.pi / len(thickness))) % len(thickness)
        values = {
            "cavity": lv,
            "wall": np.sqrt((lv + myo) / np.pi) - np.sqrt(lv / np.pi),
            "rv": rv,
            "es_ratio": (es == LV).sum() / lv,  # end-systolic over end-diastolic cavity area
            "thinnest": thickness.min() / np.median(thickness),
            "septal": thickness[sector] / thickness[(sector + len(thickness) // 2) % len(thickness)],
        }
        for key, value in values.items():
            found.setdefault(key, []).append(float(value))
    return {key: float(np.mean(v)) for key, v in found.items()} | {"thinnest_max": max(found["thinnest"])}


def test_demo_groups_differ_in_anatomy() -> None:
    m = {group: _group_measures(group) for group in GROUPS}
    dcm, hcm, minf, nor, arv = (m[g] for g in ("DCM", "HCM", "MINF", "NOR", "ARV"))
    assert dcm["cavity"] > 1.5 * nor["cavity"] and nor["cavity"] > 1.5 * hcm["cavity"]
    assert hcm["wall"] > 2.0 * dcm["wall"] and hcm["wall"] > 1.5 * nor["wall"] and nor["wall"] > 1.2 * dcm["wall"]
    assert hcm["septal"] > 1.25 and nor["septal"] < 1.1  # HCM's septum is its thickest wall
    assert minf["thinnest_max"] < 0.8 and minf["thinnest"] < 0.65 and nor["thinnest"] > 0.85  # a thinned segment
    assert arv["rv"] > 1.3 * nor["rv"]
    assert dcm["es_ratio"] > 0.72 and minf["es_ratio"] > 0.65 and hcm["es_ratio"] < 0.45  # contraction
    assert hcm["es_ratio"] < nor["es_ratio"] < minf["es_ratio"] < dcm["es_ratio"]
    assert arv["cavity"] == nor["cavity"] and arv["wall"] == nor["wall"]  # ARV changes the RV only


def test_demo_groups_follow_patient_numbers(tmp_path: Path) -> None:
    assert [group_of(n, 20) for n in range(1, 21)] == [g for g in GROUPS for _ in range(4)]
    assert [group_of(n, 6) for n in range(1, 7)] == ["DCM", "DCM", "HCM", "MINF", "NOR", "ARV"]
    assert [group_of(n, 20) for n in range(101, 107)] == [*GROUPS, "DCM"]
    root = write_acdc_demo(str(tmp_path / "src"), size=32, slices=2)  # the default 20 + 6 patients

    def group(patient: str) -> str:
        part = "testing" if int(patient[-3:]) > 100 else "training"
        info = (root / "database" / part / patient / "Info.cfg").read_text()
        return dict(line.split(": ") for line in info.splitlines())["Group"]

    doc = _read(prepare("acdc", str(tmp_path / "src"), str(tmp_path / "out")))  # the default split
    assert _patients(doc, "labeled") == {"patient001", "patient002", "patient003"}
    assert {group(p) for p in _patients(doc, "labeled")} == {"DCM"}  # as the literature's first patients
    assert {group(p) for p in _patients(doc, "test")} == set(GROUPS)
    assert len({group(p) for p in _patients(doc, "val")}) >= 2
    assert {group(p) for p in _patients(doc, "unlabeled")} == set(GROUPS)
