"""A synthetic six-site prostate MRI phantom in the authors' PNG layout, for demos and tests.

Sites differ the way scanners do: intensity curve (gamma), organ contrast, bias field, noise, resolution, field of
view, organ size and shape irregularity, and in two ways multi-site prostate MRI differs: an endorectal coil (a dark
balloon in the rectum and a bright near-field flare over the posterior gland) at some sites, and fat suppression (dim
fat, so a dark instead of a bright periprostatic fat ring outlines the gland) at others. Without these two, a
LiteMedSAM fine-tuned on one site already generalised to all of them and left a semi-supervised method nothing to gain.

Each slice shows a pelvis (fat, muscles, femoral heads, bladder, rectum) around a smooth prostate blob (an ellipse
with a low-frequency radial perturbation) whose size varies smoothly over the slices of a case, so the task is not a
threshold. Every slice contains the organ.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from synfoc_components.data.demo.drawing.shapes import smooth_noise, to_uint8, write_marker
from synfoc_components.data.demo.registry import register_demo
from synfoc_components.data.descriptions import describe
from synfoc_components.data.preparation.writer import write_png

__all__ = ["SiteStyle", "SITES", "render_slice", "write_prostate_demo"]


@dataclass(frozen=True)
class SiteStyle:
    """How one synthetic scanner renders the anatomy (intensities are in [0, 1]).

    Args:
        gamma: exponent of the intensity curve.
        contrast: scale of the organ's intensity difference to the surrounding muscle.
        bias: strength of the smooth multiplicative bias field.
        noise: standard deviation of the (magnitude) noise.
        resolution: acquired resolution as a fraction of the image side (down-up sampling).
        fov: field of view; larger shows more anatomy, smaller organs.
        organ: mean organ size.
        irregular: amplitude of the organ outline's low-frequency radial perturbation.
        coil: near-field gain of an endorectal coil at the rectum (0: no coil, no balloon).
        fat: fat signal relative to plain T2 (1: bright fat; lower: fat-suppressed).
    """

    gamma: float
    contrast: float
    bias: float
    noise: float
    resolution: float
    fov: float
    organ: float
    irregular: float
    coil: float
    fat: float


_STYLES = (  # gamma, contrast, bias, noise, resolution, fov, organ, irregular, coil, fat
    SiteStyle(1.35, 0.6, 0.45, 0.05, 0.45, 0.85, 0.95, 0.07, 1.5, 1.0),  # BIDMC: coil, dark, low resolution
    SiteStyle(0.80, 1.0, 0.20, 0.03, 1.00, 1.00, 1.05, 0.04, 0.8, 1.0),  # BMC: weaker coil, bright, sharp
    SiteStyle(1.05, 0.8, 0.30, 0.08, 0.65, 1.20, 0.85, 0.08, 1.1, 0.6),  # HK: coil, noisy, wide field of view
    SiteStyle(0.70, 1.2, 0.10, 0.02, 0.90, 0.75, 1.20, 0.04, 0.0, 0.4),  # I2CVB: fat-suppressed, zoomed in
    SiteStyle(1.20, 0.9, 0.35, 0.04, 0.55, 1.00, 1.00, 0.06, 0.0, 1.0),  # RUNMC: blurred
    SiteStyle(0.90, 0.7, 0.60, 0.06, 0.75, 1.25, 0.90, 0.10, 0.0, 0.7),  # UCL: strongest bias, irregular organ
)
SITES = dict(zip(describe("prostate").domains, _STYLES))


def _fill_ellipse(img: np.ndarray, axis: np.ndarray, center: tuple, radii: tuple, value: float) -> None:
    """Set ``img`` to ``value`` inside an axis-aligned ellipse; ``axis`` maps pixel index -> anatomy units."""
    (cx, cy), (rx, ry) = center, radii
    cols, rows = np.flatnonzero(np.abs(axis - cx) <= rx), np.flatnonzero(np.abs(axis - cy) <= ry)
    if cols.size and rows.size:
        inside = ((axis[cols][None] - cx) / rx) ** 2 + ((axis[rows][:, None] - cy) / ry) ** 2 <= 1.0
        img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1][inside] = value


@functools.lru_cache(maxsize=8)
def _pelvis(fov: float, fat: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates in anatomy units and the fixed anatomy: fat, muscles, femoral heads."""
    axis = (np.arange(size, dtype=np.float32) - (size - 1) / 2) / (size / 2) * fov
    img = np.zeros((size, size), np.float32)
    _fill_ellipse(img, axis, (0, 0.05), (0.92, 0.70), 0.75 * fat)  # subcutaneous fat
    _fill_ellipse(img, axis, (0, 0.05), (0.84, 0.62), 0.28)  # muscle
    for side in (-1, 1):
        _fill_ellipse(img, axis, (side * 0.62, 0.10), (0.17, 0.17), 0.08)  # femoral head cortex
        _fill_ellipse(img, axis, (side * 0.62, 0.10), (0.14, 0.14), 0.60)  # marrow
        _fill_ellipse(img, axis, (side * 0.34, 0.05), (0.09, 0.16), 0.20)  # obturator muscles
    return axis, img


def _wobble(dx: np.ndarray, dy: np.ndarray, rho: np.ndarray, harmonics: list, z: float) -> np.ndarray:
    """Radial perturbation sum_k (a_k + b_k z) cos(k theta + phase_k), by the angle-addition recursion."""
    cos1, sin1 = dx / np.maximum(rho, 1e-6), dy / np.maximum(rho, 1e-6)
    cos_k, sin_k, total, order = cos1, sin1, np.zeros_like(rho), 1
    for k, a, b, phase in harmonics:
        while order < k:
            cos_k, sin_k, order = cos_k * cos1 - sin_k * sin1, sin_k * cos1 + cos_k * sin1, order + 1
        total += np.float32(a + b * z) * (cos_k * np.float32(np.cos(phase)) - sin_k * np.float32(np.sin(phase)))
    return total


def _draw_organ(img: np.ndarray, axis: np.ndarray, style: SiteStyle, case: dict, z: float) -> np.ndarray:
    """Draw the prostate (peripheral zone, central gland, fat ring) and return its mask."""
    cx, cy = case["center"]
    cols, rows = np.flatnonzero(np.abs(axis - cx) <= 0.9), np.flatnonzero(np.abs(axis - cy) <= 0.7)
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # holds the organ and its fat ring
    dx, dy = (axis[cols][None] - cx) / case["aspect"], axis[rows][:, None] - cy
    dx, dy = np.broadcast_arrays(dx, dy)
    rho = np.hypot(dx, dy)
    wobble = np.clip(_wobble(dx, dy, rho, case["harmonics"], z), -0.5, 0.5)
    outline = 0.19 * case["scale"] * np.sqrt(1.0 - 0.9 * z * z) * (1.0 + wobble)
    patch = img[window]
    patch[rho <= outline * 1.25] = 0.55 * style.fat  # periprostatic fat
    patch[rho <= outline] = 0.28 + style.contrast * 0.34  # peripheral zone
    patch[rho <= outline * 0.6] = 0.28 + style.contrast * 0.12  # central gland
    organ = np.zeros(img.shape, bool)
    organ[window] = rho <= outline
    return organ


def render_slice(
    style: SiteStyle, case: dict, z: float, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Render one slice at relative height ``z`` in [-1, 1] of a case.

    Returns:
        ``(image uint8 size x size, organ bool size x size)``.
    """
    axis, pelvis = _pelvis(style.fov, style.fat, size)
    img = pelvis.copy()
    bladder = case["bladder"] * (0.6 + 0.25 * (z + 1))
    _fill_ellipse(img, axis, (0, -0.36), (0.27 * bladder, 0.16 * bladder), 0.92)
    rectum = (0.12 + case["rectum"], 0.11)
    _fill_ellipse(img, axis, (0, 0.40), rectum, 0.32)
    balloon = (0.5, 0.5) if style.coil == 0 else (1.25, 1.1)  # an endorectal coil's balloon fills the rectum
    _fill_ellipse(img, axis, (0, 0.40), (rectum[0] * balloon[0], rectum[1] * balloon[1]), 0.05)
    organ = _draw_organ(img, axis, style, case, z)
    b1, b2, b3 = (np.float32(b * style.bias) for b in case["bias"])
    x, y = axis[None], axis[:, None]
    coil = np.float32(style.coil) * np.exp(-np.hypot(x, y - np.float32(0.40)) / np.float32(0.22))  # near field
    img *= (1.0 + 0.08 * smooth_noise(rng, size, 16)) * np.exp(b1 * x + b2 * y + b3 * x * y) * (1.0 + coil)
    img = np.clip(img, 0.0, 1.0) ** np.float32(style.gamma)
    low = max(8, int(size * style.resolution))
    small = Image.fromarray(img, mode="F").resize((low, low), Image.BILINEAR)
    img = np.asarray(small.resize((size, size), Image.BICUBIC))
    img = np.abs(img + rng.standard_normal((size, size), dtype=np.float32) * np.float32(style.noise))
    return to_uint8(img), organ


def _draw_case(rng: np.random.Generator, style: SiteStyle) -> dict:
    return {
        "center": (rng.normal(0, 0.03), 0.04 + rng.normal(0, 0.03)),
        "scale": style.organ * rng.uniform(0.85, 1.15),
        "aspect": rng.uniform(1.1, 1.4),
        "harmonics": [(k, rng.normal(0, style.irregular), rng.normal(0, style.irregular / 2), rng.uniform(0, 6.3))
                      for k in (2, 3, 4)],
        "bladder": rng.uniform(0.8, 1.2),
        "rectum": rng.uniform(-0.02, 0.03),
        "bias": rng.normal(0, 1, 3),
    }  # fmt: skip


@register_demo("prostate")
def write_prostate_demo(
    out: str, seed: int = 0, size: int = 384, train_cases: int = 6, test_cases: int = 2, slices: int = 6
) -> Path:
    """Write ``out/ProstateSlice/<SITE>/{train,test}/{image,mask}/<case>_<slice>.png`` (organ 0, background 255).

    As in the authors' release, each split numbers its cases from ``00``: ``train/image/00_00.png`` and
    ``test/image/00_00.png`` are different patients.

    Args:
        out: output folder.
        seed: generator seed (same seed, same bytes).
        size: image side in pixels.
        train_cases: training cases per site.
        test_cases: test cases per site.
        slices: slices per case.

    Returns:
        The ``ProstateSlice`` folder.
    """
    root = Path(out) / "ProstateSlice"
    for site_index, (site, style) in enumerate(SITES.items()):
        for case_index in range(train_cases + test_cases):
            split = "train" if case_index < train_cases else "test"
            rng = np.random.default_rng([seed, site_index, case_index])
            case = _draw_case(rng, style)
            for k, z in enumerate(np.linspace(-0.8, 0.8, slices)):
                image, organ = render_slice(style, case, float(z), size, rng)
                name = f"{case_index - (0 if split == 'train' else train_cases):02d}_{k:02d}.png"
                mask = np.where(organ, 0, 255).astype(np.uint8)
                write_png(root / site / split / "image" / name, image, compress_level=1)
                write_png(root / site / split / "mask" / name, mask, compress_level=1)
    write_marker(root, "prostate", "prostate phantom")
    return root
