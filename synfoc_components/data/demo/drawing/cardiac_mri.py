"""A synthetic cardiac short-axis MRI phantom (cine bSSFP or LGE look), shared by the ACDC, MS-CMRSeg and M&Ms demos.

Each slice shows a chest (fat, muscle, lungs, liver, aorta, spine) around the heart: a round left-ventricular (LV)
blood pool, a ring of myocardium (MYO) around it, a crescent right-ventricular (RV) cavity wrapped around the septum
with a thin free wall, and pericardial fat. From base to apex the LV narrows and the RV crescent thins, but every
slice holds all three structures; the end-systolic frame has a smaller LV cavity and a thicker wall.

A patient belongs to one of ACDC's diagnostic groups (``PATHOLOGIES``), which change the anatomy and its motion: NOR
normal; DCM a dilated LV cavity with a thin wall that barely contracts; HCM a small cavity inside a very thick wall
(thickest at the septum) that contracts strongly; MINF a mildly dilated, hypokinetic LV with a thinned infarcted
segment; ARV a dilated, hypokinetic RV crescent. Every heart also has an infarct region (the scar; most patients
have one), seen only in LGE. Sequences differ in appearance: cine bSSFP has bright blood and dark myocardium; LGE a
mid-grey blood pool, nulled healthy myocardium, a bright scar (as bright as the blood or brighter, transmural in
places, so the endocardial border fades there), lower SNR and a softer image. ``render_slice`` can add a scanner's
cine bSSFP phenomena (``cine_phenomena``: off-resonance bands, thick epicardial fat, papillary muscles and
trabeculae; the M&Ms demo's vendors); by default it draws none, and they never draw from the slice's noise generator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from synfoc_components.data.demo.drawing.cine_phenomena import Cine
from synfoc_components.data.demo.drawing.shapes import blob_level, blur, grid, random_harmonics, smooth_noise

__all__ = [
    "BSSFP", "LGE", "LV", "MYO", "PATHOLOGIES", "RV", "HeartStyle", "Pathology", "draw_heart", "render_slice",
    "save_volume",
]  # fmt: skip

LV, MYO, RV = 1, 2, 3
"""Class ids of the phantom's structures (the writers map them to each release's label values)."""


@dataclass(frozen=True)
class HeartStyle:
    """How one MRI sequence renders the anatomy (intensities in [0, 1]).

    Args:
        blood: blood pools (LV, RV, aorta).
        myocardium: healthy myocardium (also the RV free wall).
        scar: enhanced myocardium (the infarct in LGE); 0 for none.
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
LGE = HeartStyle(0.42, 0.04, 0.55, 0.60, 0.20, 0.30, 0.03, 0.07, 1.4)
"""Inversion recovery after contrast: healthy myocardium nulled, blood mid-grey, scar brighter than blood, fat bright;
about three times bSSFP's noise (blood SNR about 6) and a softer image (breath-hold and arrhythmia blur)."""


@dataclass(frozen=True)
class Pathology:
    """How one diagnostic group changes the heart (factors on a normal heart's values).

    Args:
        radius: LV cavity radius.
        wall: myocardial wall thickness.
        septum: extra factor on the wall towards the RV (the septum), fading to 1 at the sides.
        infarct: fraction of the wall lost at the centre of the infarct (scar) segment; 0 for none.
        rv_width: RV crescent width.
        contraction: end-systolic LV cavity radius relative to end-diastole.
        thickening: end-systolic wall thickness relative to end-diastole.
        rv_contraction: end-systolic RV width relative to end-diastole.
    """

    radius: float
    wall: float
    septum: float
    infarct: float
    rv_width: float
    contraction: float
    thickening: float
    rv_contraction: float


PATHOLOGIES = {  # radius, wall, septum, infarct, rv_width, contraction, thickening, rv_contraction
    "DCM": Pathology(1.35, 0.70, 1.00, 0.00, 1.00, 0.90, 1.08, 0.80),  # dilated cardiomyopathy, LV EF about 20%
    "HCM": Pathology(0.72, 1.70, 1.40, 0.00, 0.85, 0.62, 1.25, 0.70),  # hypertrophic, septum 2.4x normal, EF 75%
    "MINF": Pathology(1.15, 1.00, 1.00, 0.55, 1.00, 0.86, 1.15, 0.80),  # previous infarction, thinned scar, EF 35%
    "NOR": Pathology(1.00, 1.00, 1.00, 0.00, 1.00, 0.74, 1.35, 0.75),  # normal
    "ARV": Pathology(1.00, 1.00, 1.00, 0.00, 1.35, 0.74, 1.35, 0.92),  # abnormal RV: dilated, hypokinetic
}
"""ACDC's diagnostic groups, in the release's patient-number order (blocks of 20 training patients each)."""


def draw_heart(rng: np.random.Generator, group: str = "NOR") -> dict:
    """Draw one patient's anatomy (sizes in scene units; the image spans [-1, 1]).

    Args:
        rng: the patient's generator. The draws before the scar's are as they were before the diagnostic groups
            existed, and the scar uses a child generator (``rng.spawn``), so later draws from ``rng`` (each
            slice's noise) do not depend on the group or the scar.
        group: a key of ``PATHOLOGIES``.

    Returns:
        The patient's parameters for ``render_slice``.
    """
    p = PATHOLOGIES[group]
    heart = {
        "group": group,
        "center": (0.08 + rng.normal(0, 0.04), 0.0 + rng.normal(0, 0.04)),
        "radius": 0.25 * rng.uniform(0.88, 1.12) * p.radius,  # LV cavity at the base, end-diastole
        "wall": rng.uniform(0.085, 0.115) * p.wall,
        "aspect": rng.uniform(1.0, 1.15),
        "tilt": rng.uniform(0, np.pi),
        "harmonics": random_harmonics(rng, (2, 3), 0.04),
        "rv_angle": np.pi + 0.35 + rng.normal(0, 0.15),  # towards the image's upper left
        "rv_width": rng.uniform(0.17, 0.23) * p.rv_width,
        "body": rng.uniform(0.95, 1.05),
        "bias": rng.normal(0, 0.15, 2),
        "gamma": rng.uniform(0.85, 1.15),
        "scar_angle": rng.uniform(0, 2 * np.pi),
        "septum": p.septum,
        "infarct": p.infarct,
        "contraction": p.contraction,
        "thickening": p.thickening,
        "rv_contraction": p.rv_contraction,
    }
    if rng.random() < 0.85:  # the draws of the former scar model, kept so that the later draws stay where they were
        rng.random()
    rng.random()
    scar = rng.spawn(1)[0]
    present = scar.random() < 0.9 or p.infarct > 0
    heart["scar_width"] = scar.uniform(1.0, 2.2) if present else 0.0  # radians around the LV
    heart["scar_depth"] = scar.uniform(0.6, 1.4)  # transmural fraction at the centre (>= 1: full thickness)
    return heart


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


def _segment(theta: np.ndarray, angle: float, width: float) -> np.ndarray:
    """A smooth bump around the LV: 1 at ``angle``, falling as cos^2 to 0 at ``width / 2`` radians either side."""
    phi = np.angle(np.exp(1j * (theta - angle)))
    return np.where(np.abs(phi) < width / 2, np.cos(np.pi * phi / max(width, 1e-6)) ** 2, 0.0)


def _wall_profile(heart: dict, theta: np.ndarray) -> float | np.ndarray:
    """Wall thickness by direction relative to the mean: a thicker septum, a thinned infarct; 1.0 where uniform."""
    if heart["septum"] == 1.0 and not heart["infarct"]:
        return 1.0
    septal = np.maximum(np.cos(theta - heart["rv_angle"]), 0.0) ** 2
    infarct = heart["infarct"] * _segment(theta, heart["scar_angle"], heart["scar_width"])
    return (1.0 + (heart["septum"] - 1.0) * septal) * (1.0 - infarct)


def render_slice(
    style: HeartStyle,
    heart: dict,
    depth: float,
    systole: bool,
    size: int,
    rng: np.random.Generator,
    fov: float = 0.65,
    cine: Cine | None = None,
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
        cine: a scanner's epicardial fat, papillary muscles and off-resonance bands (``cine_phenomena``); None for
            none. They draw nothing from ``rng``.

    Returns:
        ``(image float32 in [0, 1], class ids uint8 with LV, MYO, RV)``, both size x size, rows = y.
    """
    x, y = grid(size, fov)
    img = _chest(x, y, style, heart["body"])
    cx, cy = heart["center"]
    theta = np.arctan2(y - np.float32(cy), x - np.float32(cx))
    radius = heart["radius"] * (1.0 - 0.45 * depth) * (heart["contraction"] if systole else 1.0)
    wall = heart["wall"] * (1.0 + 0.15 * depth) * (heart["thickening"] if systole else 1.0)
    epi_r = radius + wall * _wall_profile(heart, theta)  # a number for a uniform wall, else one per pixel
    shape = {"angle": heart["tilt"], "harmonics": heart["harmonics"]}
    aspect = heart["aspect"]
    endo = blob_level(x, y, (cx, cy), (radius * aspect, radius / aspect), **shape)
    epi = blob_level(x, y, (cx, cy), (epi_r * aspect, epi_r / aspect), **shape)
    width = heart["rv_width"] * (1.0 - 0.5 * depth) * (heart["rv_contraction"] if systole else 1.0)
    septal_r = radius + wall * heart["septum"]
    along, across = 0.9 * width + 0.08, 1.05 * (septal_r + width)
    offset = septal_r + width - along
    angle = heart["rv_angle"]
    rv_center = (cx + offset * np.cos(angle), cy + offset * np.sin(angle))
    rv_cavity = blob_level(x, y, rv_center, (along, across), angle) < 1
    rv_wall = blob_level(x, y, rv_center, (along + 0.025, across + 0.025), angle) < 1
    thick_fat = cine is not None and cine.look.fat > 0  # fat pads at the grooves and a layer over the RV
    pad = 0.04 + cine.fat_pad(theta - np.float32(angle)) if thick_fat else 0.04
    pericardium = blob_level(x, y, (cx, cy), ((epi_r + pad) * aspect, (epi_r + pad) / aspect), **shape) < 1
    if thick_fat:
        rv_fat = (along + 0.025 + cine.rv_fat, across + 0.025 + cine.rv_fat)
        pericardium |= blob_level(x, y, rv_center, rv_fat, angle) < 1
    img[pericardium | rv_wall] = style.fat
    img[rv_wall] = style.myocardium
    labels = np.zeros(img.shape, np.uint8)
    rv = rv_cavity & (epi >= 1.0)
    img[rv], labels[rv] = style.blood, RV
    myo, lv = (epi < 1.0) & (endo >= 1.0), endo < 1.0
    img[myo], labels[myo] = style.myocardium, MYO
    img[lv], labels[lv] = style.blood, LV
    if cine is not None and cine.look.papillary:  # dark muscles in the cavity, labelled LV
        muscle = cine.muscle(endo[lv], theta[lv] - np.float32(angle), heart["radius"] / radius, depth)
        img[lv] += np.float32(style.myocardium - style.blood) * muscle
    if style.scar and heart["scar_width"]:  # from the endocardium, deepest (transmural in places) at the centre
        reach = heart["scar_depth"] * np.sqrt(_segment(theta, heart["scar_angle"], heart["scar_width"]))
        img[myo & (endo < 1.0 + reach * (epi_r / radius - 1.0))] = style.scar
    img = blur(img, style.blur * size / 160)
    if cine is not None and cine.look.banding:
        img = img * cine.band_gain(x, y, depth)
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
