"""The authors' preprocessed releases, file by file: names, PIL modes, sizes and stored values as published.

Each writer reproduces one release's layout as its example files show it (``data_format/`` of the authors' code,
github.com/MQinghe/SynFoC): the same file names (the same name in ``train/`` and ``test/``, the same test name in
two M&Ms vendors), the same PIL modes (BUSI mode ``1`` masks, RGBA ``_mask_1.png``, RGB fundus and M&Ms masks), the
same sizes (train and test of an M&Ms vendor differ) and the files that are not data (fundus Domain2's ``.txt``
lists, BUSI's ``normal/``). Only the pixels are drawn here: a bright ellipse per structure on a noisy background.

Every writer returns ``{(domain, split): [(image, [masks])]}``, so that a test can decode the files itself and
compare with what ``prepare`` wrote.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["write_prostate_slice", "write_fundus", "write_mnms", "write_busi", "ellipse"]

Files = dict[tuple[str, str], list[tuple[Path, list[Path]]]]

PROSTATE_SITES = ("BIDMC", "BMC", "HK", "I2CVB", "RUNMC", "UCL")
MNMS_FILES = {  # vendor: (train ids, train size WxH, test ids, test size WxH), as published
    "vendorA": (("000003", "000004", "000005"), (256, 216), ("076001", "076002", "076003"), (256, 208)),
    "vendorB": (("000002", "000003", "000004"), (320, 320), ("100100", "100101", "100102"), (288, 288)),
    "vendorC": (("000076", "000077", "000078"), (256, 256), ("040101", "040102", "040103"), (256, 256)),
    "vendorD": (("000158", "000159", "000160"), (512, 440), ("040102", "040103", "040104"), (496, 416)),
}
FUNDUS_FILES = {  # domain: (train names, test names); the first of each is the published example
    "Domain1": (("gdrishtiGS_002", "gdrishtiGS_004", "gdrishtiGS_008"), ("gdrishtiGS_001", "gdrishtiGS_003")),
    "Domain2": (("G-1-L", "G-3-R", "N-2-L"), ("G-2-R", "N-4-R")),
    "Domain3": (("g0003", "g0005", "n0001"), ("g0001", "n0002")),
    "Domain4": (("V0001", "V0003", "V0004"), ("V0002", "V0005")),
}
BUSI_SIZES = {  # image: size WxH; benign (1), benign (4), malignant (1), normal (1) are the published examples
    "benign": {1: (562, 471), 2: (500, 430), 3: (776, 560), 4: (555, 465), 5: (425, 380), 6: (610, 490)},
    "malignant": {1: (449, 598), 2: (520, 450), 3: (700, 530), 4: (470, 420), 5: (640, 480)},
    "normal": {1: (568, 470), 2: (500, 440)},
}
BUSI_EXTRA_LESION = ("benign", 4)
"""The image with a second lesion mask ``_mask_1.png`` (RGBA, 0 / 255)."""


def ellipse(height: int, width: int, center: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
    """A boolean ellipse at relative ``center`` (row, column) with relative ``radii``, ``height`` x ``width``."""
    rows, cols = np.mgrid[:height, :width]
    return ((rows / height - center[0]) / radii[0]) ** 2 + ((cols / width - center[1]) / radii[1]) ** 2 <= 1


def _save(path: Path, array: np.ndarray, mode: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array).convert(mode) if mode == "1" else Image.fromarray(array, mode)
    image.save(path)
    assert Image.open(path).mode == mode, path
    return path


def _gray(height: int, width: int, structure: np.ndarray, rng: np.random.Generator, top: int) -> np.ndarray:
    noise = rng.integers(0, 40, (height, width))
    return np.clip(noise + structure * (top - 60), 0, top).astype(np.uint8)


def write_prostate_slice(root: Path, train_cases: int = 3, test_cases: int = 2, slices: int = 2) -> Files:
    """``ProstateSlice/<SITE>/{train,test}/{image,mask}/<case>_<slice>.png``: mode L 384x384, mask 0 (prostate) /
    255; both splits number their cases from 00."""
    rng, files = np.random.default_rng(0), {}
    for s, site in enumerate(PROSTATE_SITES):
        for split, cases in (("train", train_cases), ("test", test_cases)):
            for case in range(cases):
                for k in range(slices):
                    radius = 0.1 + 0.02 * k + 0.01 * s + (0.05 if split == "test" else 0.0)  # test 00 is not train 00
                    organ = ellipse(384, 384, (0.5, 0.5 + 0.02 * case), (radius, 0.12))
                    name = f"{case:02d}_{k:02d}.png"
                    folder = root / "ProstateSlice" / site / split
                    image = _save(folder / "image" / name, _gray(384, 384, organ, rng, 224), "L")
                    mask = _save(folder / "mask" / name, np.where(organ, 0, 255).astype(np.uint8), "L")
                    files.setdefault((site, split), []).append((image, [mask]))
    return files


def write_fundus(root: Path) -> Files:
    """``Fundus/Domain{1..4}/{train,test}/ROIs/{image,mask}/<name>.png``: RGB 800x800, masks RGB with 0 (cup),
    128 (rim), 255 (background) in every channel; Domain2 holds ``.txt`` lists of ``.jpg`` names."""
    rng, files = np.random.default_rng(1), {}
    for d, (domain, splits) in enumerate(FUNDUS_FILES.items()):
        for split, names in zip(("train", "test"), splits):
            for n, name in enumerate(names):
                disc = ellipse(800, 800, (0.5, 0.5), (0.25 + 0.02 * n, 0.24))
                cup = ellipse(800, 800, (0.5, 0.52), (0.1 + 0.02 * d, 0.11))
                gray = np.full((800, 800), 255, np.uint8)
                gray[disc], gray[cup] = 128, 0
                picture = np.dstack([_gray(800, 800, disc, rng, 230), _gray(800, 800, cup, rng, 200), gray // 4])
                folder = root / "Fundus" / domain / split / "ROIs"
                image = _save(folder / "image" / f"{name}.png", picture, "RGB")
                mask = _save(folder / "mask" / f"{name}.png", np.dstack([gray] * 3), "RGB")
                files.setdefault((domain, split), []).append((image, [mask]))
    domain2 = root / "Fundus" / "Domain2"
    (domain2 / "test_file_list.txt").write_text("G-2-R.jpg\nN-4-R.jpg\n")
    (domain2 / "train" / "train_file_list.txt").write_text("G-1-L.jpg\nG-3-R.jpg\nN-2-L.jpg\n")
    return files


def write_mnms(root: Path) -> Files:
    """``mnms/vendor{A..D}/{train,test}/{image,mask}/<id>.png``: images mode L of the vendor's sizes (train and test
    differ), masks RGB with one structure per channel at 255 (R = LV, G = MYO, B = RV)."""
    rng, files = np.random.default_rng(2), {}
    for vendor, (train_ids, train_size, test_ids, test_size) in MNMS_FILES.items():
        for split, ids, (width, height) in (("train", train_ids, train_size), ("test", test_ids, test_size)):
            for n, name in enumerate(ids):
                outer = ellipse(height, width, (0.45, 0.45), (0.2, 0.2 + 0.01 * n))
                lv = ellipse(height, width, (0.45, 0.45), (0.12, 0.12))
                rv = ellipse(height, width, (0.45, 0.72), (0.15, 0.07))
                mask = np.dstack([lv, outer & ~lv, rv & ~outer]).astype(np.uint8) * 255
                picture = _gray(height, width, lv | rv, rng, 250)
                folder = root / "mnms" / vendor / split
                image = _save(folder / "image" / f"{name}.png", picture, "L")
                masks = [_save(folder / "mask" / f"{name}.png", mask, "RGB")]
                files.setdefault((vendor, split), []).append((image, masks))
    return files


def write_busi(root: Path) -> Files:
    """``Dataset_BUSI_with_GT/{benign,malignant,normal}/<cls> (<n>).png``: RGB images of varied sizes, masks
    ``_mask.png`` of mode 1, a second lesion ``_mask_1.png`` in RGBA 0 / 255, ``normal/`` with RGB all-zero masks.
    The split is drawn by the reader, so the files are listed under split ``"all"``."""
    rng, files = np.random.default_rng(3), {}
    for cls, sizes in BUSI_SIZES.items():
        for n, (width, height) in sizes.items():
            folder = root / "Dataset_BUSI_with_GT" / cls
            lesion = ellipse(height, width, (0.4, 0.5), (0.12, 0.1 + 0.01 * n)) if cls != "normal" else None
            dark = np.zeros((height, width), bool) if lesion is None else lesion
            picture = np.dstack([255 - _gray(height, width, dark, rng, 230)] * 3)
            mask_path = folder / f"{cls} ({n})_mask.png"
            if cls == "normal":
                masks = [_save(mask_path, np.zeros((height, width, 3), np.uint8), "RGB")]
            else:
                masks = [_save(mask_path, dark.astype(np.uint8) * 255, "1")]
            if (cls, n) == BUSI_EXTRA_LESION:
                second = ellipse(height, width, (0.7, 0.3), (0.06, 0.05)).astype(np.uint8) * 255
                rgba = np.dstack([second] * 3 + [np.full_like(second, 255)])
                masks.append(_save(folder / f"{cls} ({n})_mask_1.png", rgba, "RGBA"))
            image = _save(folder / f"{cls} ({n}).png", picture, "RGB")
            files.setdefault((cls, "all"), []).append((image, masks))
    return files
