"""A synthetic four-domain fundus (optic disc ROI) phantom in the authors' layout, for demos and tests.

Each image shows an orange-red retina with choroidal texture, a bright yellowish optic disc (a slightly vertical
ellipse with a wobbly outline) holding a paler cup, and dark vessels leaving the cup across disc and retina. The
domains differ as the four cameras do: colour cast, brightness and illumination (vignetting, gradient), blur,
noise, and disc size (field of view of the crop). Every image contains cup and disc; the cup-to-disc ratio varies.
Masks are stored as the release stores them: RGB with equal channels, 0 = cup, 128 = rim, 255 = background.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synfoc_components.data import demo_shapes as shapes
from synfoc_components.data.descriptions import describe
from synfoc_components.data.writer import write_png

__all__ = ["FundusStyle", "STYLES", "render_fundus", "write_fundus_demo"]


@dataclass(frozen=True)
class FundusStyle:
    """How one synthetic camera renders the fundus (colours are in [0, 1]).

    Args:
        cast: RGB gains (colour cast).
        brightness: overall gain.
        gamma: exponent of the intensity curve.
        vignette: darkening towards the corners.
        gradient: strength of a linear illumination gradient of random direction.
        blur: Gaussian blur sigma in pixels at a 256 pixel side.
        noise: standard deviation of the additive noise.
        disc: mean disc radius factor (field of view of the crop).
    """

    cast: tuple[float, float, float]
    brightness: float
    gamma: float
    vignette: float
    gradient: float
    blur: float
    noise: float
    disc: float


_STYLES = (  # cast, brightness, gamma, vignette, gradient, blur, noise, disc
    FundusStyle((1.00, 0.80, 0.62), 1.05, 0.90, 0.25, 0.15, 0.6, 0.015, 1.00),  # Domain1 Drishti-GS: warm, sharp
    FundusStyle((0.95, 0.92, 0.80), 0.88, 1.15, 0.35, 0.30, 1.4, 0.030, 1.10),  # Domain2 RIM-ONE: dull, blurred, large
    FundusStyle((0.92, 0.72, 0.55), 0.90, 1.10, 0.45, 0.20, 1.0, 0.020, 0.90),  # Domain3 REFUGE (Zeiss): dark
    FundusStyle((1.00, 0.92, 0.60), 1.02, 0.90, 0.15, 0.25, 1.2, 0.025, 0.95),  # Domain4 REFUGE (Canon): bright, yellow
)
STYLES = dict(zip(describe("fundus").domains, _STYLES))
_NAMES = ("gdrishtiGS_{:03d}", "G-{:03d}-L", "g{:04d}", "V{:04d}")  # file names like the release's

_RETINA, _DISC, _CUP, _VESSEL = (0.80, 0.36, 0.17), (0.98, 0.70, 0.40), (1.00, 0.94, 0.80), (0.42, 0.07, 0.05)


def _draw_scene(rng: np.random.Generator, style: FundusStyle) -> dict:
    radius = 0.36 * style.disc * rng.uniform(0.9, 1.1)
    return {
        "center": (rng.normal(0, 0.06), rng.normal(0, 0.06)),
        "disc": (radius, radius * rng.uniform(1.0, 1.12)),
        "disc_wobble": shapes.random_harmonics(rng, (2, 3), 0.04),
        "cup": rng.uniform(0.45, 0.65),
        "cup_shift": (rng.normal(0, 0.04), rng.normal(0, 0.03)),
        "cup_wobble": shapes.random_harmonics(rng, (2, 3, 4), 0.06),
        "light": rng.uniform(0, 2 * np.pi),
        "vessels": [rng.uniform(0, 2 * np.pi) + 2 * np.pi * i / 6 for i in range(6)],
    }


def _vessels(rng: np.random.Generator, scene: dict, origin: tuple[float, float], size: int) -> np.ndarray:
    """Vessel opacity in [0, 1]: curved lines from ``origin`` (the cup) outwards, thinning with distance."""
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    start = (np.array(origin) + 1.0) * size / 2
    for heading in scene["vessels"]:
        point, width = start + rng.normal(0, 0.015 * size, 2), 0.022 * size * rng.uniform(0.7, 1.1)
        for _ in range(40):
            heading += rng.normal(0, 0.12)
            step = point + 0.03 * size * np.array([np.cos(heading), np.sin(heading)])
            draw.line([tuple(point), tuple(step)], fill=255, width=max(1, round(width)))
            point, width = step, max(width * 0.96, 0.008 * size)
            if not (-0.1 * size < point[0] < 1.1 * size and -0.1 * size < point[1] < 1.1 * size):
                break
    return shapes.blur(np.asarray(layer, np.float32) / 255.0, 0.004 * size)


def render_fundus(
    style: FundusStyle, scene: dict, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Render one ROI image.

    Returns:
        ``(image uint8 size x size x 3, mask uint8 size x size: 0 cup, 128 rim, 255 background)``.
    """
    x, y = shapes.grid(size)
    (cx, cy), (rx, ry) = scene["center"], scene["disc"]
    disc_level = shapes.blob_level(x, y, (cx, cy), (rx, ry), 0.0, scene["disc_wobble"])
    cup_center = (cx + scene["cup_shift"][0] * rx, cy + scene["cup_shift"][1] * ry)
    cup_radii = (rx * scene["cup"], ry * scene["cup"])
    cup_level = shapes.blob_level(x, y, cup_center, cup_radii, 0.0, scene["cup_wobble"])
    disc, cup = disc_level <= 1.0, (cup_level <= 1.0) & (disc_level <= 0.95)
    w_disc = np.clip((1.0 - disc_level) / 0.08 + 0.5, 0, 1)[..., None]
    w_cup = np.clip((1.0 - cup_level) / 0.15 + 0.5, 0, 1)[..., None] * w_disc
    texture = (1.0 + 0.08 * shapes.smooth_noise(rng, size, 10) + 0.04 * shapes.smooth_noise(rng, size, 40))[..., None]
    img = np.array(_RETINA, np.float32) * texture
    img = img * (1 - w_disc) + np.array(_DISC, np.float32) * (0.95 + 0.05 * texture) * w_disc
    img = img * (1 - w_cup) + np.array(_CUP, np.float32) * w_cup
    vessel = (0.75 - 0.3 * w_cup) * _vessels(rng, scene, cup_center, size)[..., None]  # paler over the cup
    img = img * (1 - vessel) + np.array(_VESSEL, np.float32) * vessel
    light = np.float32(np.cos(scene["light"])) * x + np.float32(np.sin(scene["light"])) * y
    illumination = style.brightness * (1 - style.vignette * (x * x + y * y) / 2) * (1 + style.gradient * light)
    img = np.clip(img * illumination[..., None] * np.array(style.cast, np.float32), 0, 1) ** np.float32(style.gamma)
    img = shapes.blur(img, style.blur * size / 256) + rng.normal(0, style.noise, img.shape).astype(np.float32)
    mask = np.where(cup, 0, np.where(disc, 128, 255)).astype(np.uint8)
    return shapes.to_uint8(img), mask


def write_fundus_demo(out: str, seed: int = 0, size: int = 256, train: int = 40, test: int = 10) -> Path:
    """Write ``out/Fundus/Domain{1..4}/{train,test}/ROIs/{image,mask}/<name>.png``.

    Args:
        out: output folder.
        seed: generator seed (same seed, same bytes).
        size: image side in pixels.
        train: training images per domain.
        test: test images per domain.

    Returns:
        The ``Fundus`` folder.
    """
    root = Path(out) / "Fundus"
    for d, (domain, style) in enumerate(STYLES.items()):
        for i in range(train + test):
            split = "train" if i < train else "test"
            rng = np.random.default_rng([seed, d, i])
            image, mask = render_fundus(style, _draw_scene(rng, style), size, rng)
            name = _NAMES[d].format(i + 1) + ".png"
            write_png(root / domain / split / "ROIs" / "image" / name, image, compress_level=1)
            write_png(root / domain / split / "ROIs" / "mask" / name, np.dstack([mask] * 3), compress_level=1)
    shapes.write_marker(root, "fundus", "fundus (optic disc and cup) phantom")
    return root
