"""A synthetic cardiac short-axis MRI phantom (cine bSSFP or LGE look), shared by the ACDC and MS-CMRSeg demos.

Each slice shows a chest (fat, muscle, lungs, liver, aorta, spine) around the heart: a round left-ventricular (LV)
blood pool, a ring of myocardium (MYO) around it, a crescent right-ventricular (RV) cavity wrapped around the septum
with a thin free wall, and pericardial fat. From base to apex the LV narrows and the RV crescent thins, but every
slice holds all three structures; the end-systolic frame has a smaller LV cavity and a thicker wall. Sequences differ
in appearance only: cine bSSFP has bright blood and dark myocardium, LGE darker blood, nulled myocardium with bright
enhanced (scar) patches, and more noise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from synfoc_components.data.demo_shapes import blob_level, blur, grid, random_harmonics, smooth_noise

__all__ = ["HeartStyle", "BSSFP", "LGE", "LV", "MYO", "RV", "draw_heart", "render_slice", "save_volume"]

LV, MYO, RV = 1, 2, 3
"""Class ids of the phantom's structures (the writers map them to each release's label values)."""


@dataclass(frozen=True)
class HeartStyle:
    """How one MRI sequence renders the anatomy (intensities in [0, 1]).

    Args:
        blood: blood pools (LV, RV, aorta).
        myocardium: healthy myocardium (also the RV free wall).
        scar: enhanced myocardium patches (LGE); 0 for none.
        fat: subcutaneous and pericardial fat.
        tissue: chest wall muscle and other soft tissue.
        liver: liver.
        lung: lungs.
        noise: standard deviation of the (Rician) noise.
        blur: Gaussian blur sigma in pixels at a 160 pixel side.
    """

    blood: float
    myocardium: float
    scar: float
    fat: float
    tissue: float
    liver: float
    lung: float
    noise: float
    blur: float


BSSFP = HeartStyle(0.95, 0.20, 0.0, 0.65, 0.36, 0.30, 0.04, 0.025, 0.6)
LGE = HeartStyle(0.52, 0.07, 0.85, 0.62, 0.28, 0.22, 0.03, 0.06, 0.9)


def draw_heart(rng: np.random.Generator) -> dict:
    """Draw one patient's anatomy (sizes in scene units; the image spans [-1, 1])."""
    return {
        "center": (0.08 + rng.normal(0, 0.04), 0.0 + rng.normal(0, 0.04)),
        "radius": 0.25 * rng.uniform(0.88, 1.12),  # LV cavity at the base, end-diastole
        "wall": rng.uniform(0.085, 0.115),
        "aspect": rng.uniform(1.0, 1.15),
        "tilt": rng.uniform(0, np.pi),
        "harmonics": random_harmonics(rng, (2, 3), 0.04),
        "rv_angle": np.pi + 0.35 + rng.normal(0, 0.15),  # towards the image's upper left
        "rv_width": rng.uniform(0.17, 0.23),
        "body": rng.uniform(0.95, 1.05),
        "bias": rng.normal(0, 0.15, 2),
        "gamma": rng.uniform(0.85, 1.15),
        "scar_angle": rng.uniform(0, 2 * np.pi),
        "scar_width": rng.uniform(0.4, 1.0) if rng.random() < 0.85 else 0.0,
        "scar_depth": rng.uniform(0.4, 0.8),  # transmural fraction, from the endocardium
    }


def _chest(x: np.ndarray, y: np.ndarray, style: HeartStyle, body: float) -> np.ndarray:
    img = np.zeros(np.broadcast_shapes(x.shape, y.shape), np.float32)
    img[blob_level(x, y, (0.0, 0.05), (0.97 * body, 0.78 * body)) < 1] = style.fat
    img[blob_level(x, y, (0.0, 0.05), (0.90 * body, 0.71 * body)) < 1] = style.tissue
    img[blob_level(x, y, (0.62, -0.05), (0.26, 0.46), 0.2) < 1] = style.lung
    img[blob_level(x, y, (-0.60, -0.12), (0.25, 0.40), -0.2) < 1] = style.lung
    img[blob_level(x, y, (-0.35, 0.55), (0.42, 0.20), 0.25) < 1] = style.liver
    img[blob_level(x, y, (0.30, 0.48), (0.07, 0.07)) < 1] = style.blood  # descending aorta
    img[blob_level(x, y, (0.08, 0.66), (0.09, 0.08)) < 1] = style.tissue * 0.4  # vertebra
    return img


def render_slice(
    style: HeartStyle,
    heart: dict,
    depth: float,
    systole: bool,
    size: int,
    rng: np.random.Generator,
    fov: float = 0.65,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one short-axis slice.

    Args:
        style: the sequence's look.
        heart: a patient from ``draw_heart``.
        depth: position from base (0) to apex (1).
        systole: end-systolic frame (smaller cavity, thicker wall) instead of end-diastolic.
        size: image side in pixels.
        rng: noise generator.
        fov: half the image side in scene units (the chest spans about [-1, 1]; smaller zooms in on the heart).

    Returns:
        ``(image float32 in [0, 1], class ids uint8 with LV, MYO, RV)``, both size x size, rows = y.
    """
    x, y = grid(size, fov)
    img = _chest(x, y, style, heart["body"])
    cx, cy = heart["center"]
    radius = heart["radius"] * (1.0 - 0.45 * depth) * (0.74 if systole else 1.0)
    wall = heart["wall"] * (1.0 + 0.15 * depth) * (1.35 if systole else 1.0)
    epi_r = radius + wall
    shape = {"angle": heart["tilt"], "harmonics": heart["harmonics"]}
    aspect = heart["aspect"]
    endo = blob_level(x, y, (cx, cy), (radius * aspect, radius / aspect), **shape)
    epi = blob_level(x, y, (cx, cy), (epi_r * aspect, epi_r / aspect), **shape)
    width = heart["rv_width"] * (1.0 - 0.5 * depth) * (0.75 if systole else 1.0)
    along, across = 0.9 * width + 0.08, 1.05 * (epi_r + width)
    offset = epi_r + width - along
    angle = heart["rv_angle"]
    rv_center = (cx + offset * np.cos(angle), cy + offset * np.sin(angle))
    rv_cavity = blob_level(x, y, rv_center, (along, across), angle) < 1
    rv_wall = blob_level(x, y, rv_center, (along + 0.025, across + 0.025), angle) < 1
    pericardium = blob_level(x, y, (cx, cy), ((epi_r + 0.04) * aspect, (epi_r + 0.04) / aspect), **shape) < 1
    img[pericardium | rv_wall] = style.fat
    img[rv_wall] = style.myocardium
    labels = np.zeros(img.shape, np.uint8)
    rv = rv_cavity & (epi >= 1.0)
    img[rv], labels[rv] = style.blood, RV
    myo, lv = (epi < 1.0) & (endo >= 1.0), endo < 1.0
    img[myo], labels[myo] = style.myocardium, MYO
    img[lv], labels[lv] = style.blood, LV
    if style.scar and heart["scar_width"]:
        phi = np.angle(np.exp(1j * (np.arctan2(y - cy, x - cx) - heart["scar_angle"])))
        deep = endo < 1.0 + heart["scar_depth"] * (epi_r / radius - 1.0)
        img[myo & deep & (np.abs(phi) < heart["scar_width"] / 2)] = style.scar
    img = blur(img, style.blur * size / 160)
    b1, b2 = (np.float32(b) for b in heart["bias"])
    img = img * np.exp(b1 * x + b2 * y) * (1.0 + 0.05 * smooth_noise(rng, size, 8))
    noise = [rng.standard_normal(img.shape, dtype=np.float32) * np.float32(style.noise) for _ in range(2)]
    img = np.hypot(img + noise[0], noise[1])  # magnitude image: Rician noise
    return np.clip(img, 0.0, 1.0) ** np.float32(heart["gamma"]), labels


def save_volume(path: str | os.PathLike, slices: list[np.ndarray], spacing: tuple[float, float, float]) -> None:
    """Save 2D slices (rows = y) as a NIfTI volume (x, y, z) with voxel ``spacing`` in mm."""
    volume = np.stack([s.T for s in slices], axis=-1)
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    nib.save(nib.Nifti1Image(volume, np.diag([*spacing, 1.0])), os.fspath(path))
