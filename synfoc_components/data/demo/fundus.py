"""A synthetic four-domain fundus (optic disc ROI) phantom in the authors' layout, for demos and tests.

Each image shows an orange-red retina with choroidal texture, a bright yellowish optic disc (a slightly vertical
ellipse with a wobbly outline) holding a cup, and dark vessels leaving the cup across disc and retina. The domains
differ as the four cameras and cohorts do, in global appearance (colour cast, brightness, gamma, vignetting,
illumination gradient, blur, noise) and in three ways that change what fills and surrounds the disc and cup:

- crop: the disc fills half the side of a tight crop (RIM-ONE, thick vessels crowd the rim) or a small part of a
  wide one (REFUGE);
- peripapillary atrophy (PPA): a pale, mottled whitish-yellow band just outside the disc margin, brighter than the
  rim, with pigment at its outer border; a full ring widest on the temporal side or a temporal crescent. The mask
  leaves it out (background), as the annotators do;
- cup contrast: the bright pallor is much smaller than the annotated cup; the cup edge shows no brightness step,
  only a soft slope, vessels that kink where they climb out of the cup and turn paler inside it.

Domain1 (Drishti-GS) is the reference: none of the three, and its images are those of the earlier phantom. Every
image contains cup and disc; the cup-to-disc ratio varies. Masks are stored as the release stores them: RGB with
equal channels, 0 = cup, 128 = rim, 255 = background.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synfoc_components.data.demo.drawing import shapes
from synfoc_components.data.demo.registry import register_demo
from synfoc_components.data.descriptions import describe
from synfoc_components.data.preparation.writer import write_png

__all__ = ["FundusStyle", "STYLES", "draw_scene", "render_fundus", "write_fundus_demo"]


@dataclass(frozen=True)
class FundusStyle:
    """How one synthetic camera and cohort render the fundus (colours are in [0, 1]).

    Args:
        cast: RGB gains (colour cast).
        brightness: overall gain.
        gamma: exponent of the intensity curve.
        vignette: darkening towards the corners.
        gradient: strength of a linear illumination gradient of random direction.
        blur: Gaussian blur sigma in pixels at a 256 pixel side.
        noise: standard deviation of the additive noise.
        disc: mean disc radius factor (field of view of the crop; vessels scale with it).
        ppa: widest extent of peripapillary atrophy outside the disc margin, relative to the disc radius (0: none).
        ppa_ring: PPA width on the nasal side relative to the temporal side (0: a crescent, 1: an even ring).
        pallor: radius of the bright pallor relative to the annotated cup (1: the pallor fills the cup).
        kink: bend in radians of a vessel where it leaves the cup (0: none).
    """

    cast: tuple[float, float, float]
    brightness: float
    gamma: float
    vignette: float
    gradient: float
    blur: float
    noise: float
    disc: float
    ppa: float = 0.0
    ppa_ring: float = 0.0
    pallor: float = 1.0
    kink: float = 0.0


_STYLES = (  # cast, brightness, gamma, vignette, gradient, blur, noise, disc, ppa, ppa_ring, pallor, kink
    # Domain1 Drishti-GS: warm, sharp; the reference (no PPA, the pallor is the cup)
    FundusStyle((1.00, 0.80, 0.62), 1.05, 0.90, 0.25, 0.15, 0.6, 0.015, 1.00),
    # Domain2 RIM-ONE r3: dull, blurred, tight crop (large disc, thick vessels), PPA ring, pallor a bit small
    FundusStyle((0.95, 0.92, 0.80), 0.88, 1.15, 0.35, 0.30, 1.4, 0.030, 1.45, 0.32, 0.35, 0.85, 0.7),
    # Domain3 REFUGE train (Zeiss): dark, wide crop (small disc), faint cup: a small pallor, kinked vessels
    FundusStyle((0.92, 0.72, 0.55), 0.90, 1.10, 0.45, 0.20, 1.0, 0.020, 0.72, 0.00, 0.00, 0.50, 0.8),
    # Domain4 REFUGE val (Canon): bright, yellow, wide crop, temporal PPA crescent, smallish pallor
    FundusStyle((1.00, 0.92, 0.60), 1.02, 0.90, 0.15, 0.25, 1.2, 0.025, 0.85, 0.40, 0.00, 0.65, 0.7),
)
STYLES = dict(zip(describe("fundus").domains, _STYLES))
_NAMES = ("gdrishtiGS_{:03d}", "G-{:03d}-L", "g{:04d}", "V{:04d}")  # file names like the release's

_RETINA, _DISC, _CUP, _VESSEL = (0.80, 0.36, 0.17), (0.98, 0.70, 0.40), (1.00, 0.94, 0.80), (0.42, 0.07, 0.05)
_PPA, _PIGMENT = (0.97, 0.84, 0.62), (0.30, 0.12, 0.06)


def draw_scene(rng: np.random.Generator, style: FundusStyle) -> dict:
    """Random anatomy of one image; PPA is drawn only where ``style`` shows it (Domain1 draws what it always did)."""
    radius = 0.36 * style.disc * rng.uniform(0.9, 1.1)
    scene = {
        "center": (rng.normal(0, 0.06), rng.normal(0, 0.06)),
        "disc": (radius, radius * rng.uniform(1.0, 1.12)),
        "disc_wobble": shapes.random_harmonics(rng, (2, 3), 0.04),
        "cup": rng.uniform(0.45, 0.65),
        "cup_shift": (rng.normal(0, 0.04), rng.normal(0, 0.03)),
        "cup_wobble": shapes.random_harmonics(rng, (2, 3, 4), 0.06),
        "light": rng.uniform(0, 2 * np.pi),
        "vessels": [rng.uniform(0, 2 * np.pi) + 2 * np.pi * i / 6 for i in range(6)],
        "ppa": None,
    }
    if style.ppa > 0:
        scene["ppa"] = _draw_ppa(rng)
    return scene


def _draw_ppa(rng: np.random.Generator) -> dict:
    """Atrophy of one eye: temporal side left or right (either eye), relative width, outline irregularity."""
    side = float(rng.choice([0.0, np.pi]) + rng.normal(0, 0.3))
    return {"side": side, "width": rng.uniform(0.75, 1.25), "wobble": shapes.random_harmonics(rng, (2, 3, 5), 0.15)}


def _cup_outline(scene: dict) -> tuple:
    """``blob_level`` arguments after ``x, y`` of the annotated cup: centre, radii, angle, harmonics."""
    (cx, cy), (rx, ry), ratio = scene["center"], scene["disc"], scene["cup"]
    center = (cx + scene["cup_shift"][0] * rx, cy + scene["cup_shift"][1] * ry)
    return center, (rx * ratio, ry * ratio), 0.0, scene["cup_wobble"]


def _vessels(
    rng: np.random.Generator, scene: dict, style: FundusStyle, origin: tuple[float, float], cup_level: np.ndarray
) -> np.ndarray:
    """Vessel opacity in [0, 1]: curved lines from the cup centre outwards, thinning with distance.

    With ``style.kink`` a vessel bends sideways (alternating sides) for one step where it leaves the cup outline.
    """
    size = cup_level.shape[0]
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    start = (np.array(origin) + 1.0) * size / 2
    for v, heading in enumerate(scene["vessels"]):
        point, width = start + rng.normal(0, 0.015 * size, 2), 0.022 * size * style.disc * rng.uniform(0.7, 1.1)
        in_cup = style.kink > 0
        for _ in range(40):
            heading += rng.normal(0, 0.12)
            bend = 0.0
            if in_cup and cup_level[tuple(np.clip(point[::-1], 0, size - 1).astype(int))] > 1.0:
                in_cup, bend = False, style.kink * (1 if v % 2 else -1)
            step = point + 0.03 * size * np.array([np.cos(heading + bend), np.sin(heading + bend)])
            draw.line([tuple(point), tuple(step)], fill=255, width=max(1, round(width)))
            point, width = step, max(width * 0.96, 0.008 * size * style.disc)
            if not (-0.1 * size < point[0] < 1.1 * size and -0.1 * size < point[1] < 1.1 * size):
                break
    return shapes.blur(np.asarray(layer, np.float32) / 255.0, 0.004 * size)


def _ppa(x: np.ndarray, y: np.ndarray, scene: dict, style: FundusStyle, disc_level: np.ndarray) -> tuple:
    """Opacities of the atrophic band (from inside the disc to its outer edge) and of pigment at its outer border."""
    (cx, cy), ppa = scene["center"], scene["ppa"]
    phi = np.arctan2(y - np.float32(cy), x - np.float32(cx))
    temporal = np.maximum(np.cos(phi - np.float32(ppa["side"])), 0) ** 2
    wobble = 1.0 + sum(np.float32(a) * np.cos(k * phi + np.float32(p)) for k, a, p in ppa["wobble"])
    width = np.float32(style.ppa * ppa["width"]) * (style.ppa_ring + (1 - style.ppa_ring) * temporal)
    outer = 0.98 + width * np.clip(wobble, 0.5, 1.5)  # where the width is 0, no halo around the disc
    band = np.clip((outer - disc_level) / 0.04 + 0.5, 0, 1)
    pigment = np.clip(1.0 - np.abs(disc_level - outer) / 0.05, 0, 1) * (width > 0.05)
    return band, pigment


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
    cup = _cup_outline(scene)
    cup_level = shapes.blob_level(x, y, *cup)
    disc, annotated_cup = disc_level <= 1.0, (cup_level <= 1.0) & (disc_level <= 0.95)
    w_disc = np.clip((1.0 - disc_level) / 0.08 + 0.5, 0, 1)[..., None]
    w_depth = np.clip((1.0 - cup_level) / 0.15 + 0.5, 0, 1)[..., None] * w_disc  # the excavation (annotated cup)
    w_pallor = np.clip((1.0 - cup_level / np.float32(style.pallor)) / 0.15 + 0.5, 0, 1)[..., None] * w_disc
    texture = (1.0 + 0.08 * shapes.smooth_noise(rng, size, 10) + 0.04 * shapes.smooth_noise(rng, size, 40))[..., None]
    img = np.array(_RETINA, np.float32) * texture
    if scene["ppa"] is not None:  # choroidal texture shows through the atrophy: strongly mottled
        band, pigment = (w[..., None] for w in _ppa(x, y, scene, style, disc_level))
        img = img * (1 - band) + np.array(_PPA, np.float32) * (1 + 2.5 * (texture - 1)) * band
        pigment = 0.7 * pigment * np.clip(0.3 + 5 * (texture - 1), 0, 1)  # clumped
        img = img * (1 - pigment) + np.array(_PIGMENT, np.float32) * pigment
    img = img * (1 - w_disc) + np.array(_DISC, np.float32) * (0.95 + 0.05 * texture) * w_disc
    if style.pallor < 1:  # no step at the cup edge, only a soft brightening towards the small pallor
        img = img * (1 + 0.25 * np.clip((1.0 - cup_level) / 0.6, 0, 1)[..., None] * w_disc)
    img = img * (1 - w_pallor) + np.array(_CUP, np.float32) * w_pallor
    vessel = (0.75 - 0.3 * w_depth) * _vessels(rng, scene, style, cup[0], cup_level)[..., None]  # paler inside the cup
    img = img * (1 - vessel) + np.array(_VESSEL, np.float32) * vessel
    light = np.float32(np.cos(scene["light"])) * x + np.float32(np.sin(scene["light"])) * y
    illumination = style.brightness * (1 - style.vignette * (x * x + y * y) / 2) * (1 + style.gradient * light)
    img = np.clip(img * illumination[..., None] * np.array(style.cast, np.float32), 0, 1) ** np.float32(style.gamma)
    img = shapes.blur(img, style.blur * size / 256) + rng.normal(0, style.noise, img.shape).astype(np.float32)
    mask = np.where(annotated_cup, 0, np.where(disc, 128, 255)).astype(np.uint8)
    return shapes.to_uint8(img), mask


@register_demo("fundus")
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
            image, mask = render_fundus(style, draw_scene(rng, style), size, rng)
            name = _NAMES[d].format(i + 1) + ".png"
            write_png(root / domain / split / "ROIs" / "image" / name, image, compress_level=1)
            write_png(root / domain / split / "ROIs" / "mask" / name, np.dstack([mask] * 3), compress_level=1)
    shapes.write_marker(root, "fundus", "fundus (optic disc and cup) phantom")
    return root
