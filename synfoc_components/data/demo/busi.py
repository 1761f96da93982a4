"""A synthetic breast ultrasound phantom (benign and malignant lesions) in the BUSI release layout.

Each image shows speckled breast tissue in layers of varying thickness (bright skin line, subcutaneous fat, bright
fibroglandular tissue, striated pectoral muscle), with depth attenuation, gain and speckle grain varying per image,
and one lesion, sometimes two. Lesion shape follows the class, as the BI-RADS descriptors do: benign lesions are
smooth ovals wider than tall; malignant ones irregular, angular and microlobulated, taller. The phantom also has what
makes real BUSI hard (published models score about 70-75 Dice there), so the lesion is not simply the darkest thing
in the image:

- fat lobules: dark round-to-oval lobules with a thin bright capsule in the subcutaneous fat and among the glands,
  almost as dark as the lesions (``drawing.breast_tissue``);
- lesion echogenicity varies: some benign lesions are anechoic cysts with posterior enhancement, the others
  hypoechoic with internal echoes; malignant lesions are heterogeneous, only moderately darker than the glands,
  sometimes with microcalcifications;
- malignant margins are indistinct, with an irregular echogenic halo, and a posterior acoustic shadow that starts
  inside the lesion, so its lower border merges with the shadow;
- Cooper's ligaments: thin bright curves through fat and glands, some with a narrow shadow below
  (``drawing.breast_tissue``);
- caliper crosses on the lesion borders and burnt-in text on many images (``drawing.ultrasound_marks``).

Images with two lesions store one mask file per lesion (``_mask.png``, ``_mask_1.png``), as the release does.
Masks: lesion 255, background 0; the overlays do not change them. A ``normal`` folder of lesion-free images
completes the layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synfoc_components.data.demo.drawing.breast_tissue import draw_layers, render_tissue, smoothstep, speckle
from synfoc_components.data.demo.drawing.shapes import (
    blob_level,
    blur,
    grid,
    random_harmonics,
    smooth_noise,
    to_uint8,
    write_marker,
)
from synfoc_components.data.demo.drawing.ultrasound_marks import annotate
from synfoc_components.data.demo.registry import register_demo
from synfoc_components.data.preparation.writer import write_png

__all__ = ["CYST_FRACTION", "draw_lesion", "render_ultrasound", "write_busi_demo"]

_TWO_LESIONS_EVERY = 10
"""Every tenth image of a class has a second lesion in its own mask file."""
CYST_FRACTION = 0.35
"""Fraction of benign lesions that are anechoic cysts; the others are hypoechoic solid (fibroadenoma-like)."""
_MAX_ECHO = 0.65
"""A lesion's echo is at most this fraction of the tissue it replaces."""


def _echo(rng: np.random.Generator, malignant: bool) -> dict:
    """Echo pattern: interior amplitude and heterogeneity, margin softness, posterior gain, halo, calcifications.

    ``posterior`` > 0 is enhancement, < 0 a shadow; ``margin`` is the half-width of the blurred outline in level units.
    """
    if malignant:
        return {"echo": rng.uniform(0.16, 0.32), "texture": rng.uniform(0.3, 0.5), "margin": rng.uniform(0.06, 0.12),
                "posterior": -rng.uniform(0.3, 0.7), "halo": rng.uniform(0.25, 0.6),
                "calcifications": int(rng.integers(0, 7)) if rng.random() < 0.4 else 0}  # fmt: skip
    if rng.random() < CYST_FRACTION:  # anechoic, sharp, strong through-transmission
        return {"echo": rng.uniform(0.015, 0.04), "texture": 0.1, "margin": 0.025,
                "posterior": rng.uniform(0.35, 0.7), "halo": 0.0, "calcifications": 0}  # fmt: skip
    return {"echo": rng.uniform(0.14, 0.3), "texture": rng.uniform(0.15, 0.3), "margin": rng.uniform(0.03, 0.07),
            "posterior": rng.uniform(-0.15, 0.25), "halo": 0.0, "calcifications": 0}  # fmt: skip


def draw_lesion(rng: np.random.Generator, malignant: bool, scale: float = 1.0, center: tuple | None = None) -> dict:
    """Draw a lesion: benign smooth wide oval, malignant irregular (angular, microlobulated), taller; its echo pattern.

    Args:
        rng: generator.
        malignant: the lesion's class.
        scale: size factor (second lesions are smaller).
        center: centre ``(x, y)``; default a random place in the mid depths.
    """
    width = rng.uniform(0.2, 0.40) * scale
    ratio = rng.uniform(0.75, 1.05) if malignant else rng.uniform(0.5, 0.7)  # height / width
    center = center or (rng.uniform(-0.4, 0.4), rng.uniform(-0.05, 0.3))
    harmonics, spikes = random_harmonics(rng, (2, 3, 4, 5), 0.16 if malignant else 0.05), []
    if malignant:  # microlobulated, angular
        harmonics += random_harmonics(rng, (7, 9, 11, 13), 0.12)
        spikes = [(int(k), float(rng.uniform(0.05, 0.12)), float(rng.uniform(0, 6.3))) for k in rng.integers(7, 14, 2)]
    return {
        "center": center,
        "radii": (width, width * ratio),
        "angle": rng.normal(0, 0.25 if malignant else 0.12),
        "harmonics": harmonics,
        "spikes": spikes,
        "malignant": malignant,
        **_echo(rng, malignant),
    }


def _interior(rng: np.random.Generator, lesion: dict, level: np.ndarray, tissue: np.ndarray, size: int) -> np.ndarray:
    """Echogenicity inside the lesion: patches around its mean, at most ``_MAX_ECHO`` of the ``tissue`` it replaces,
    bright microcalcification dots. ``level`` (the outline level) and ``tissue`` cover a window of the image."""
    patches = smooth_noise(rng, size, 16)[-level.shape[0] :, : level.shape[1]]  # any part of a stationary field
    interior = lesion["echo"] * np.clip(1.0 + lesion["texture"] * patches, 0.35, None)
    interior = np.minimum(interior, _MAX_ECHO * tissue)  # darker than the tissue everywhere: visible to an expert
    candidates = np.flatnonzero(level.ravel() < 0.8)
    if lesion["calcifications"] and candidates.size:
        spots = np.zeros(level.size, np.float32)
        spots[rng.choice(candidates, lesion["calcifications"])] = 1.0
        spots = blur(spots.reshape(level.shape), 0.6 * size / 256)
        interior = interior + 0.6 * spots / spots.max()
    return interior


def _add_lesion(img: np.ndarray, lesion: dict, level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend the lesion into ``img`` (in place): blurred outline, echogenic halo, posterior enhancement or shadow."""
    size, margin = img.shape[0], lesion["margin"]
    rows, cols = np.nonzero(level < 1.0 + 2 * margin + 0.3)  # lesion, halo; the posterior column goes to the bottom
    if not rows.size:
        return img
    window = slice(rows.min(), size), slice(cols.min(), cols.max() + 1)
    level, before = level[window], img[window]
    weight = smoothstep((1.0 + margin - level) / (2.0 * margin))  # 1 inside, 0 outside
    part = before
    if lesion["halo"]:  # irregular bright rim just outside the outline
        thickness = np.clip(1.0 + 0.6 * smooth_noise(rng, size, 8)[window], 0.0, None)
        part = part * (1.0 + lesion["halo"] * thickness * np.exp(-(((level - 1.0 - 2 * margin) / 0.12) ** 2)))
    # path through the lesion above each pixel, in lesion heights: the shadow (or enhancement) builds up inside it
    passed = np.clip(np.cumsum(weight, axis=0) / np.float32(lesion["radii"][1] * size), 0.0, 1.0)
    tissue = part * (1.0 + lesion["posterior"] * passed)
    interior = _interior(rng, lesion, level, before, size) * (1.0 + 0.35 * lesion["posterior"] * passed)
    img[window] = tissue * (1.0 - weight) + interior * weight
    return img


def render_ultrasound(lesions: list[dict], size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """Render one B-mode image with its lesions, calipers and text.

    Returns:
        ``(image uint8 size x size, [lesion bool size x size, ...])``.
    """
    x, y = grid(size)
    levels = [blob_level(x, y, s["center"], s["radii"], s["angle"], s["harmonics"], s["spikes"]) for s in lesions]
    img = render_tissue(rng, x, y, draw_layers(rng), np.minimum.reduce(levels) if levels else None)
    for lesion, level in zip(lesions, levels):
        img = _add_lesion(img, lesion, level, rng)
    img = img * speckle(rng, size, rng.uniform(0.8, 1.5))
    img = img * (1.0 - rng.uniform(0.15, 0.45) * (y + 1.0) / 2.0) * rng.uniform(0.8, 1.2)  # depth attenuation, gain
    img = np.log1p(6.0 * np.clip(img, 0, None)) / np.log1p(6.0)  # log compression
    masks = [level <= 1.0 for level in levels]
    return annotate(to_uint8(img), masks, rng), masks


@register_demo("busi")
def write_busi_demo(
    out: str, seed: int = 0, size: int = 256, benign: int = 128, malignant: int = 64, normal: int = 4
) -> Path:
    """Write ``out/Dataset_BUSI_with_GT/{benign,malignant,normal}/<class> (<n>).png`` and its mask file(s).

    Args:
        out: output folder.
        seed: generator seed (same seed, same bytes).
        size: image side in pixels.
        benign: benign images.
        malignant: malignant images.
        normal: lesion-free images in ``normal/`` (with empty masks; prepare ignores them).

    Returns:
        The ``Dataset_BUSI_with_GT`` folder.
    """
    root = Path(out) / "Dataset_BUSI_with_GT"
    for c, (name, count) in enumerate((("benign", benign), ("malignant", malignant), ("normal", normal))):
        for n in range(1, count + 1):
            rng = np.random.default_rng([seed, c, n])
            lesions = [] if name == "normal" else [draw_lesion(rng, name == "malignant")]
            if lesions and n % _TWO_LESIONS_EVERY == 0:
                first = lesions[0]["center"][0]
                lesions.append(draw_lesion(rng, name == "malignant", 0.6, (-0.55 if first > 0 else 0.55, -0.15)))
            image, masks = render_ultrasound(lesions, size, rng)
            stem = root / name / f"{name} ({n})"
            write_png(stem.with_name(stem.name + ".png"), image, compress_level=1)
            for k, mask in enumerate(masks or [np.zeros((size, size), bool)]):
                suffix = "_mask.png" if k == 0 else f"_mask_{k}.png"
                write_png(stem.with_name(stem.name + suffix), mask.astype(np.uint8) * np.uint8(255), compress_level=1)
    write_marker(root, "busi", "breast ultrasound phantom")
    return root
