"""Tests of the loading, weak and strong augmentation pipelines (synfoc_components.transforms)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import DataLoader, Dataset, MetaTensor
from monai.transforms import Compose
from monai.utils import set_determinism
from PIL import Image, ImageEnhance
from scipy.ndimage import correlate1d, gaussian_filter
from scipy.special import ive

from synfoc_components.data import describe
from synfoc_components.transforms import (
    RandContrastd,
    RandElasticd,
    RandGaussianBlurd,
    RandRotationd,
    eval_transforms,
    labeled_transforms,
    strong_augmentation,
    unlabeled_transforms,
    weak_augmentation,
)

PROSTATE_TRAIN = Path(__file__).resolve().parents[1] / "bundles" / "prostate" / "configs" / "train.json"


@pytest.fixture(autouse=True)
def one_thread():
    """Run single-threaded like a DataLoader worker (small convolutions crawl on a busy multi-threaded CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def items(tmp_path: Path) -> list[dict]:
    """Canonical 8-bit PNG pairs (40 rows x 52 columns) with classes 0, 1, 2; the image is a function of the label."""
    out = []
    for i in range(4):
        label = np.zeros((40, 52), np.uint8)
        label[8 + i : 30, 10:40 - i] = 1
        label[14:22, 18 + i : 30] = 2
        image = (label * 100 + 20).astype(np.uint8)
        paths = {key: tmp_path / f"{key}{i}.png" for key in ("image", "label")}
        Image.fromarray(image).save(paths["image"])
        Image.fromarray(label).save(paths["label"])
        out.append({key: str(path) for key, path in paths.items()} | {"domain": "A", "case": f"c{i}", "slice": 0})
    return out


def test_labeled_shapes_ranges_and_alignment(items: list[dict]) -> None:
    pipeline = labeled_transforms(32, prob=1.0)
    pipeline.set_random_state(0)
    for n in range(12):
        out = pipeline(items[n % 4])
        image, label = out["image"], out["label"]
        assert type(image) is torch.Tensor and type(label) is torch.Tensor  # plain tensors for fast collation
        assert image.shape == label.shape == (1, 32, 32)
        assert image.dtype == torch.float32 and label.dtype == torch.int64
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert set(label.unique().tolist()) <= {0, 1, 2}
        inside = label > 0
        assert ((image > 0.3) == inside).float().mean() > 0.93  # image and label moved together
    assert out["domain"] == "A" and out["slice"] == 0


def test_unlabeled_and_eval(items: list[dict]) -> None:
    out = unlabeled_transforms(32, (0.5, 1.5))(items[0])
    assert set(out) == {"image", "image_strong", "domain", "case", "slice"}
    assert out["image_strong"].shape == out["image"].shape == (1, 32, 32)
    assert unlabeled_transforms(32, with_label=True)(items[0])["label"].dtype == torch.int64
    native = eval_transforms(32)(items[1])
    assert isinstance(native["image"], MetaTensor) and native["image"].shape == (1, 32, 32)
    assert native["label"].shape == (1, 52, 40) and native["label"].dtype == torch.int64  # (x, y): PILReader order
    resized = eval_transforms(48, label_size=16)(items[1])
    assert resized["label"].shape == (1, 16, 16) and set(resized["label"].unique().tolist()) == {0, 1, 2}
    assert eval_transforms(32)({"image": items[2]["image"]})["image"].shape == (1, 32, 32)  # no label: inference
    source = np.asarray(Image.open(items[1]["image"]), np.float32) / 255
    np.testing.assert_allclose(eval_transforms(None)(items[1])["image"][0].numpy(), source.T, atol=1e-6)


def test_reproducible_with_seeds(items: list[dict]) -> None:
    def run(seed: int) -> list[torch.Tensor]:
        pipeline = unlabeled_transforms(32, with_label=True, prob=0.5)
        pipeline.set_random_state(seed)
        return [pipeline(items[n % 4])[key] for n in range(6) for key in ("image", "image_strong", "label")]

    assert all(torch.equal(a, b) for a, b in zip(run(3), run(3)))
    assert not all(torch.equal(a, b) for a, b in zip(run(3), run(4)))

    def loader_run() -> list[torch.Tensor]:
        set_determinism(seed=11)
        loader = DataLoader(Dataset(items, labeled_transforms(32)), batch_size=2, shuffle=True, num_workers=0)
        return [batch["image"] for batch in loader]

    try:
        assert all(torch.equal(a, b) for a, b in zip(loader_run(), loader_run()))
    finally:
        set_determinism(seed=None)


def test_strong_changes_intensity_not_geometry() -> None:
    image = torch.full((1, 64, 64), 0.2)
    image[:, 16:48, 20:44] = 0.7
    pipeline = Compose(strong_augmentation((0.5, 1.5)))
    pipeline.set_random_state(5)
    for _ in range(5):
        out = pipeline({"image": image})
        strong = out["image_strong"]
        assert torch.equal(out["image"], image) and not torch.allclose(strong, image)
        assert 0.0 <= strong.min() and strong.max() <= 1.0
        middle = (strong.max() + strong.min()) / 2
        assert ((strong > middle) == (image > 0.45)).float().mean() > 0.97


def test_contrast_matches_pil() -> None:
    gray = np.random.default_rng(0).integers(0, 256, (30, 40), dtype=np.uint8)
    transform = RandContrastd("image", factors=(0.3, 1.8))
    transform.set_random_state(2)
    out = transform({"image": torch.from_numpy(gray[None] / 255.0).float()})["image"][0].numpy() * 255
    expected = np.asarray(ImageEnhance.Contrast(Image.fromarray(gray)).enhance(transform._factor), np.float32)
    assert np.abs(out - expected).max() <= 1.5  # PIL rounds its mean and output to integers


def test_blur_is_a_reflect_padded_discrete_gaussian() -> None:
    image = np.random.default_rng(1).random((1, 200, 180)).astype(np.float32)  # kernel cap 19 px > 4 sigma
    blur = RandGaussianBlurd("image", sigma_range=(1.5, 1.5), reference_side=None)  # sigma in pixels
    out = blur({"image": torch.from_numpy(image)})["image"].numpy()
    taps = ive(np.arange(-6, 7), 1.5**2)  # the discrete Gaussian exp(-t) I_n(t), t = sigma^2, cut at 4 sigma
    taps /= taps.sum()
    expected = image[0].astype(np.float64)
    for axis in (0, 1):
        expected = correlate1d(expected, taps, axis=axis, mode="mirror")  # torch "reflect" is scipy "mirror"
    np.testing.assert_allclose(out[0], expected, atol=1e-5)
    # a Gaussian blur: close to the sampled Gaussian of the same sigma, and at 512 px U(0.1, 2.0) px by default
    np.testing.assert_allclose(out[0], gaussian_filter(image[0], 1.5, mode="mirror", truncate=4.0), atol=0.02)
    default = RandGaussianBlurd("image")
    default.set_random_state(0)
    default.randomize()
    assert 0.1 <= default.sigma((512, 512)) <= 2.0 and default.sigma((128, 128)) == default.sigma((512, 512)) / 4


def test_rotation_fills_background_and_keeps_labels() -> None:
    label = torch.ones(1, 30, 30)
    rotate = RandRotationd(["image", "label"], prob=1.0, max_degrees=20)
    rotate.set_random_state(0)
    for _ in range(8):
        out = rotate({"image": label.clone(), "label": label.clone()})
        values = set(out["label"].unique().tolist())
        assert values <= {0.0, 1.0} and (0.0 in values or abs(rotate._angle) < 0.1)  # corners: background
    weak = Compose(weak_augmentation(("image", "label"), prob=0.0))
    same = weak({"image": label.clone(), "label": label.clone()})
    assert torch.equal(same["image"], label) and torch.equal(same["label"], label)


def _prostate_train(overrides: dict) -> ConfigParser:
    """The prostate bundle's train.json at a 32 px base size, with ``overrides`` as on the command line."""
    parser = ConfigParser()
    parser.read_config(str(PROSTATE_TRAIN))
    parser.update({"sam_size": 32, "unet_size": 32, **overrides})
    return parser


def test_augmentation_lists_are_config_ids_a_user_can_override(items: list[dict]) -> None:
    # as configured, train#weak_transforms / train#strong_transforms build the pipelines of the Python defaults
    parser = _prostate_train({})
    contrast = describe("prostate").brightness_contrast
    pairs = [
        (parser.get_parsed_content("train#preprocessing"), labeled_transforms(32)),
        (parser.get_parsed_content("train#unlabeled_preprocessing"), unlabeled_transforms(32, contrast)),
    ]
    for configured, default in pairs:
        for seed in range(4):
            configured.set_random_state(seed)
            default.set_random_state(seed)
            got, expected = configured(items[seed]), default(items[seed])
            assert set(got) == set(expected)
            assert all(torch.equal(got[k], expected[k]) for k in ("image", "label", "image_strong") if k in got)

    # one step each overridden from JSON (as --train#weak_transforms#2#prob 1.0 would): always flip, nothing else;
    # the strong steps that change intensities off
    weak = {f"train#weak_transforms#{i}#prob": 1.0 if i == 2 else 0.0 for i in range(4)}
    strong = {f"train#strong_transforms#{i}#prob": 0.0 for i in (1, 3, 4)}
    parser = _prostate_train({**weak, **strong})
    labeled = parser.get_parsed_content("train#preprocessing")
    unlabeled = parser.get_parsed_content("train#unlabeled_preprocessing")
    plain = labeled_transforms(32, augment=False)
    for item in items:
        expected = plain(item)
        out = labeled(item)
        assert torch.equal(out["image"], expected["image"].flip(1)) and not torch.equal(out["image"], expected["image"])
        assert torch.equal(out["label"], expected["label"].flip(1))
        out = unlabeled(item)
        assert "label" not in out and torch.equal(out["image"], expected["image"].flip(1))
        assert torch.equal(out["image_strong"], out["image"])


def _displacement_std(side: int, draws: int = 8) -> float:
    """Standard deviation (pixels) of the elastic field of the weak list's ``RandElasticd``, from warping a coordinate
    ramp (bilinear sampling of a linear ramp is exact) in the central 80 % of the image (no border reflection)."""
    axes = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32), indexing="ij")
    ramp = torch.stack(axes)  # channel 0: the row, channel 1: the column of every pixel
    elastic = next(t for t in weak_augmentation(("image",), prob=1.0) if isinstance(t, RandElasticd))
    elastic.set_random_state(0)
    inner = slice(side // 10, side - side // 10)
    shifts = [(elastic({"image": ramp})["image"] - ramp)[:, inner, inner] for _ in range(draws)]
    return torch.stack(shifts).std().item()


def _blur_width(side: int, draws: int = 32) -> float:
    """Root-mean-square width (pixels) of the strong list's blur: the standard deviation of its response to a point,
    over ``draws`` draws (the same draws at every size)."""
    point = torch.zeros(1, side, side)
    point[0, side // 2, side // 2] = 1.0
    blur = next(t for t in strong_augmentation() if isinstance(t, RandGaussianBlurd))
    blur.set_random_state(0)
    x = (torch.arange(side) - side // 2).float()
    variances = []
    for _ in range(draws):
        profile = blur({"image_strong": point})["image_strong"][0].sum(1)  # the response summed over the other axis
        variances.append(float((profile * x**2).sum() / profile.sum()))
    return float(np.sqrt(np.mean(variances)))


def test_augmentation_strength_is_relative_to_the_image_side() -> None:
    sides = (128, 256, 512)
    displacement = {side: _displacement_std(side) / side for side in sides}
    blur = {side: _blur_width(side) / side for side in sides}
    assert 0.006 < displacement[512] < 0.009  # upstream at 512 px: about 4 px, 0.8 % of the side
    assert 0.0015 < blur[512] < 0.0025  # sigma U(0.1, 2.0) px at 512: RMS width about 1.16 px
    for side in sides[:-1]:
        assert displacement[side] == pytest.approx(displacement[512], rel=0.1), (side, displacement)
        assert blur[side] == pytest.approx(blur[512], rel=0.1), (side, blur)
