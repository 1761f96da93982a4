"""The lesion-free breast of the BUSI phantom: layers, fat lobules, Cooper's ligaments and speckle.

Echogenicities are linear amplitudes before log compression (skin about 0.9, glands about 0.55, fat septa about 0.3).
Fat lobules (0.10-0.22) are almost as dark as the lesions and are the phantom's main false-positive source, as they
are in real breast ultrasound; Cooper's ligaments are thin bright curves, some with a refractive shadow below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synfoc_components.data.demo.drawing.shapes import blob_level, blur, random_harmonics, smooth_noise

__all__ = ["Layers", "LOBULE_ECHO", "draw_layers", "render_tissue", "smoothstep", "speckle"]

LOBULE_ECHO = (0.10, 0.22)
"""Range of a fat lobule's echogenicity: close to solid lesions' (benign 0.14-0.3, malignant 0.16-0.32)."""

_SUBCUTANEOUS_LOBULES = (3, 8)
"""Lobules in the subcutaneous fat: at least 3, fewer than 8."""
_GLANDULAR_LOBULES = (0, 4)
"""Fat islands inside the fibroglandular layer: 0 to 3."""


@dataclass(frozen=True)
class Layers:
    """Depths (scene units, top -1 to bottom 1) where the skin ends, the glands begin, the pectoral muscle begins."""

    skin: float
    glands: float
    muscle: float


def draw_layers(rng: np.random.Generator) -> Layers:
    """Layer depths of one patient: the subcutaneous fat and the glands vary in thickness."""
    return Layers(float(rng.uniform(-0.93, -0.87)), float(rng.uniform(-0.62, -0.3)), float(rng.uniform(0.5, 0.75)))


def smoothstep(t: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth ramp between."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def speckle(rng: np.random.Generator, size: int, resolution: float = 1.0) -> np.ndarray:
    """Fully developed speckle: the magnitude of laterally correlated complex Gaussian noise (mean about 1).

    Args:
        rng: generator.
        size: image side.
        resolution: speckle grain size factor (probe frequency; 1 is the reference grain).
    """
    field = rng.standard_normal((2, size, size), dtype=np.float32)
    field = blur(field.transpose(1, 2, 0), (0.6 * resolution * size / 256, 1.4 * resolution * size / 256))
    magnitude = np.hypot(field[..., 0], field[..., 1])
    return magnitude / np.float32(magnitude.mean())


def _layered(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, size: int, layers: Layers) -> np.ndarray:
    """Echogenicity of the layers: skin, fat septa, fibroglandular tissue, striated pectoral muscle."""
    depth = y + 0.06 * smooth_noise(rng, size, 5)
    img = np.where(depth < layers.skin, 0.9, 0.30 + 0.05 * smooth_noise(rng, size, 14))
    glands = 0.55 + 0.15 * smooth_noise(rng, size, 10)
    img = np.where(depth >= layers.glands + 0.05 * smooth_noise(rng, size, 7), glands, img)
    muscle = 0.35 + 0.12 * np.sin((y + 0.04 * x) * 60.0)
    return np.where(depth >= layers.muscle, muscle, img).astype(np.float32)


def _ligaments(rng: np.random.Generator, img: np.ndarray, x: np.ndarray, y: np.ndarray, layers: Layers) -> np.ndarray:
    """Cooper's ligaments: thin bright curves from inside the glands up to the skin; some cast a narrow shadow."""
    size = img.shape[0]
    span = layers.skin - layers.glands  # negative: t = 1 at the skin, t < 0 inside the glands
    t = (y - layers.glands) / np.float32(span)
    width = max(0.7, 0.9 * size / 256)  # line half-width in pixels
    for _ in range(int(rng.integers(3, 7))):
        x0, dx = rng.uniform(-1, 1), rng.uniform(-0.4, 0.4)  # base, lateral run to the skin
        bow, start = rng.uniform(-0.15, 0.15), rng.uniform(-0.8, -0.2)  # curvature, depth reached in the glands
        brightness, rows = np.float32(rng.uniform(0.3, 0.6)), np.flatnonzero((t[:, 0] >= start) & (t[:, 0] < 1.0))
        if rows.size:
            ts = t[rows[0] : rows[-1] + 1]
            path = x0 + dx * ts + bow * np.sin(np.pi * ts)
            slope = (dx + bow * np.pi * np.cos(np.pi * ts)) / span
            dist = np.abs(x - path) * (size / 2) / np.sqrt(1.0 + slope**2)
            line = np.exp(-((dist / width) ** 2)) * smoothstep((ts - start) / 0.15)
            img[rows[0] : rows[-1] + 1] += brightness * line
        if rng.random() < 0.35:  # refractive shadow below the ligament's deep end
            xs, ys = x0 + dx * start + bow * np.sin(np.pi * start), layers.glands + span * start
            lateral = np.exp(-(((x - xs) / rng.uniform(0.015, 0.04)) ** 2))
            img *= 1.0 - np.float32(rng.uniform(0.25, 0.5)) * lateral * smoothstep((y - ys) / 0.05)
    return img


def _lobule(rng: np.random.Generator, layers: Layers, glandular: bool) -> tuple[tuple, tuple, float]:
    """Centre and radii of a round-to-oval lobule, wider than tall, in the fat layer or among the glands."""
    if glandular:
        center = (rng.uniform(-0.9, 0.9), rng.uniform(layers.glands + 0.1, layers.muscle - 0.1))
        rx = rng.uniform(0.06, 0.14)
        return center, (rx, rx * rng.uniform(0.45, 0.8)), float(rng.normal(0, 0.15))
    fat = layers.glands - layers.skin
    rx = rng.uniform(0.05, 0.15)
    ry = min(rx * rng.uniform(0.4, 0.75), 0.4 * fat)
    center = (rng.uniform(-0.95, 0.95), rng.uniform(layers.skin + ry, layers.glands))
    return center, (rx, ry), float(rng.normal(0, 0.15))


def _window(x: np.ndarray, y: np.ndarray, center: tuple, reach: float) -> tuple[slice, slice] | None:
    """Rows and columns within ``reach`` of ``center`` (None if that square lies outside the image)."""
    cols, rows = np.flatnonzero(np.abs(x[0] - center[0]) <= reach), np.flatnonzero(np.abs(y[:, 0] - center[1]) <= reach)
    return (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)) if rows.size and cols.size else None


def _lobules(
    rng: np.random.Generator, img: np.ndarray, x: np.ndarray, y: np.ndarray, layers: Layers, avoid: np.ndarray | None
) -> np.ndarray:
    """Dark fat lobules with a thin echogenic capsule, none touching a lesion (``avoid``: lesion level, > 1 outside)."""
    counts = int(rng.integers(*_SUBCUTANEOUS_LOBULES)), int(rng.integers(*_GLANDULAR_LOBULES))
    for glandular in [False] * counts[0] + [True] * counts[1]:
        center, radii, angle = _lobule(rng, layers, glandular)
        harmonics, echo, capsule = random_harmonics(rng, (2, 3), 0.06), rng.uniform(*LOBULE_ECHO), rng.uniform(0.1, 0.3)
        window = _window(x, y, center, 1.6 * max(radii))
        if window is None:
            continue
        level = blob_level(x[:, window[1]], y[window[0]], center, radii, angle, harmonics)
        if avoid is not None and (avoid[window][level < 1.3] < 1.4).any():
            continue
        fill, rim = smoothstep((1.06 - level) / 0.12), np.exp(-(((level - 1.06) / 0.05) ** 2))
        img[window] = img[window] * (1.0 - fill) + np.float32(echo) * fill + np.float32(capsule) * rim
    return img


def render_tissue(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, layers: Layers, avoid: np.ndarray | None = None
) -> np.ndarray:
    """Echogenicity of the breast without lesions: layers, Cooper's ligaments, fat lobules (away from ``avoid`` < 1.4).

    Args:
        rng: generator.
        x: column coordinates (1 x size).
        y: row coordinates (size x 1).
        layers: the patient's layer depths.
        avoid: the lesions' outline level (``blob_level``, minimum over lesions), or None for a normal breast.
    """
    img = _layered(rng, x, y, x.shape[1], layers)
    img = _ligaments(rng, img, x, y, layers)
    return _lobules(rng, img, x, y, layers, avoid)
