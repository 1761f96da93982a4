"""Drawing helpers shared by the synthetic demo writers: coordinates, blobs with wobbly outlines, noise, blur."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from synfoc_components.data.preparation.readers.layout import SYNTHETIC_MARKER

__all__ = ["Harmonic", "grid", "random_harmonics", "blob_level", "smooth_noise", "blur", "to_uint8", "write_marker"]

Harmonic = tuple[int, float, float]
"""``(k, amplitude, phase)``: a term ``amplitude * cos(k * theta + phase)`` of an outline's relative radius."""


def grid(size: int, fov: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in scene units: ``x`` (1 x size, left to right) and ``y`` (size x 1, top to bottom).

    Args:
        size: image side in pixels.
        fov: half the side in scene units (larger shows more, structures look smaller).
    """
    axis = ((np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0) * np.float32(fov)
    return axis[None], axis[:, None]


def random_harmonics(rng: np.random.Generator, orders: Sequence[int], amplitude: float) -> list[Harmonic]:
    """Outline harmonics of the given orders, amplitudes ~ N(0, amplitude / k^0.5), random phases."""
    return [(k, float(rng.normal(0.0, amplitude / np.sqrt(k))), float(rng.uniform(0, 2 * np.pi))) for k in orders]


def blob_level(
    x: np.ndarray,
    y: np.ndarray,
    center: tuple[float, float],
    radii: tuple[float, float],
    angle: float = 0.0,
    harmonics: Sequence[Harmonic] = (),
    spikes: Sequence[Harmonic] = (),
) -> np.ndarray:
    """Distance from ``center`` relative to a star-shaped outline: < 1 inside, 1 on the outline, > 1 outside.

    Args:
        x: column coordinates (1 x W).
        y: row coordinates (H x 1).
        center: outline centre ``(x, y)``.
        radii: semi-axes ``(along angle, across)`` of the base ellipse.
        angle: rotation of the ellipse in radians.
        harmonics: smooth radial perturbation ``1 + sum a cos(k theta + phase)`` (clipped to [0.4, 1.8]).
        spikes: sharp outward spikes ``1 + sum a max(0, cos(k theta + phase))^8`` (spiculated margins).
    """
    dx, dy = x - np.float32(center[0]), y - np.float32(center[1])
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    u, v = (dx * c + dy * s) / np.float32(radii[0]), (-dx * s + dy * c) / np.float32(radii[1])
    rho, theta = np.hypot(u, v), np.arctan2(v, u)
    scale = np.ones_like(theta)
    for k, amplitude, phase in harmonics:
        scale += np.float32(amplitude) * np.cos(k * theta + np.float32(phase))
    scale = np.clip(scale, 0.4, 1.8)
    for k, amplitude, phase in spikes:
        scale += np.float32(amplitude) * np.maximum(np.cos(k * theta + np.float32(phase)), 0) ** 8
    return rho / scale


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth random field (unit-ish variance): ``cells`` x ``cells`` normal values bicubically enlarged to ``size``."""
    coarse = Image.fromarray(rng.standard_normal((cells, cells), dtype=np.float32), mode="F")
    return np.asarray(coarse.resize((size, size), Image.BICUBIC))


def blur(img: np.ndarray, sigma: float | tuple[float, float]) -> np.ndarray:
    """Gaussian blur of the first two axes (rows, columns); channels, if any, are blurred separately."""
    if np.all(np.asarray(sigma) <= 0):
        return img
    sigmas = tuple(np.broadcast_to(np.asarray(sigma, dtype=float), (2,))) + (0.0,) * (img.ndim - 2)
    return ndimage.gaussian_filter(img, sigmas, mode="nearest")


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped) to 8 bits."""
    return np.round(np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)


def write_marker(root: Path, dataset: str, what: str) -> None:
    """Write the synthetic-data marker file (``SYNTHETIC_MARKER``) into ``root``, saying what the demo is."""
    root.mkdir(parents=True, exist_ok=True)
    (root / SYNTHETIC_MARKER).write_text(
        f"Synthetic {what} written by `python -m synfoc_components.data demo {dataset}`.\n"
        "It is NOT patient data; results on it say nothing about real performance.\n"
    )
