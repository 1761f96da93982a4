"""A synthetic breast ultrasound phantom (benign and malignant lesions) in the BUSI release layout.

Each image shows speckled breast tissue in layers (bright skin line, dark fat lobules, bright fibroglandular tissue,
striated pectoral muscle), with depth attenuation, and one dark (hypoechoic) lesion, sometimes two. Lesion shape and
surroundings follow the class, as the BI-RADS descriptors do: benign lesions are smooth ovals wider than tall with
posterior enhancement; malignant ones are irregular, spiculated, taller, with an echogenic halo and a posterior
acoustic shadow. Images with two lesions store one mask file per lesion (``_mask.png``, ``_mask_1.png``), as the
release does. Masks: lesion 255, background 0. A ``normal`` folder of lesion-free images completes the layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synfoc_components.data.demo_shapes import (
    blob_level,
    blur,
    grid,
    random_harmonics,
    smooth_noise,
    to_uint8,
    write_marker,
)
from synfoc_components.data.writer import write_png

__all__ = ["draw_lesion", "render_ultrasound", "write_busi_demo"]

_TWO_LESIONS_EVERY = 10
"""Every tenth image of a class has a second lesion in its own mask file."""


def draw_lesion(rng: np.random.Generator, malignant: bool, scale: float = 1.0, center: tuple | None = None) -> dict:
    """Draw a lesion's geometry: benign smooth wide oval, malignant irregular, spiculated, taller.

    Args:
        rng: generator.
        malignant: the lesion's class.
        scale: size factor (second lesions are smaller).
        center: centre ``(x, y)``; default a random place in the mid depths.
    """
    width = rng.uniform(0.26, 0.40) * scale
    ratio = rng.uniform(0.75, 1.05) if malignant else rng.uniform(0.5, 0.7)  # height / width
    center = center or (rng.uniform(-0.4, 0.4), rng.uniform(-0.05, 0.3))
    return {
        "center": center,
        "radii": (width, width * ratio),
        "angle": rng.normal(0, 0.25 if malignant else 0.12),
        "harmonics": random_harmonics(rng, (2, 3, 4, 5), 0.16 if malignant else 0.05),
        "spikes": [(int(k), float(rng.uniform(0.15, 0.3)), float(rng.uniform(0, 6.3))) for k in rng.integers(7, 14, 2)]
        if malignant
        else [],
        "malignant": malignant,
    }  # fmt: skip


def _speckle(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fully developed speckle: the magnitude of laterally correlated complex Gaussian noise (mean about 1)."""
    field = rng.standard_normal((2, size, size), dtype=np.float32)
    field = blur(field.transpose(1, 2, 0), (0.6 * size / 256, 1.4 * size / 256))
    magnitude = np.hypot(field[..., 0], field[..., 1])
    return magnitude / np.float32(magnitude.mean())


def _tissue(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size: int) -> np.ndarray:
    """Echogenicity of the layered breast without lesions."""
    wave = 0.06 * smooth_noise(rng, size, 5)
    depth = y + wave
    img = np.where(depth < -0.88, 0.9, 0.0)  # skin
    img = np.where((depth >= -0.88) & (depth < -0.35), 0.28 + 0.1 * (smooth_noise(rng, size, 14) > 0.5), img)  # fat
    glands = 0.55 + 0.15 * smooth_noise(rng, size, 10)
    img = np.where((depth >= -0.35) & (depth < 0.62), glands, img)
    muscle = 0.35 + 0.12 * np.sin((y + 0.04 * x) * 60.0)  # striated pectoral muscle
    return np.where(depth >= 0.62, muscle, img).astype(np.float32)


def render_ultrasound(lesions: list[dict], size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """Render one B-mode image with its lesions.

    Returns:
        ``(image uint8 size x size, [lesion bool size x size, ...])``.
    """
    x, y = grid(size)
    img, masks = _tissue(rng, x, y, size), []
    for lesion in lesions:
        (cx, cy), (rx, ry) = lesion["center"], lesion["radii"]
        level = blob_level(x, y, (cx, cy), (rx, ry), lesion["angle"], lesion["harmonics"], lesion["spikes"])
        inside = level <= 1.0
        below = (y > cy) & (np.abs(x - cx) < rx * 0.8)
        column = np.clip(1.0 - np.abs(x - cx) / (rx * 0.8), 0, 1) ** 0.5 * below * ~inside
        if lesion["malignant"]:
            img = img * (1.0 - 0.65 * column)  # posterior acoustic shadow
            img = np.where((level > 1.0) & (level < 1.25), img * 1.5 + 0.1, img)  # echogenic halo
        else:
            img = img * (1.0 + 0.35 * column)  # posterior enhancement
        interior = 0.06 + 0.05 * smooth_noise(rng, size, 20) ** 2
        img = np.where(inside, interior, img)
        masks.append(inside)
    img = img * _speckle(rng, size)
    img = img * (1.0 - 0.35 * (y + 1.0) / 2.0) * rng.uniform(0.85, 1.15)  # depth attenuation, gain
    img = np.log1p(6.0 * np.clip(img, 0, None)) / np.log1p(6.0)  # log compression
    return to_uint8(img), masks


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
