"""Scanner-specific cine bSSFP phenomena for the ``cardiac_mri`` phantom (the M&Ms demo's vendors).

Three things in which real cine scanners differ and which change what surrounds or fills the heart's structures,
not only the global intensity:

- off-resonance banding (bSSFP at 3 T): one or two dark, smooth, curved bands where the field's phase passes the
  sequence's stopband; they lie near the heart, so they often cross it;
- epicardial fat: thick fat pads in the grooves where the RV meets the LV and a fat layer over the RV free wall,
  hugging the outside of the myocardium (at the look's fat signal, which may be as bright as the blood);
- papillary muscles and trabeculations: two dark muscles and a ragged row of small dark trabeculae on the LV's free
  wall (the septum stays smooth), inside the blood pool; M&Ms labels them as LV cavity, so the masks do not change.

A look's strength 0 turns its phenomenon off, and ``cardiac_mri.render_slice(..., cine=None)`` draws none of them. A
patient's geometry of them comes from ``draw_cine`` on a generator of its own, so the phantom's other draws stay put.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Band", "Cine", "CineLook", "draw_cine"]

_TABLE = 720
"""Angular resolution of the trabeculae's height table (bins over 2 pi)."""


@dataclass(frozen=True)
class CineLook:
    """How strongly one scanner shows each phenomenon (0: not at all).

    Args:
        banding: signal lost at a band's centre (1: a full null).
        fat: extra epicardial fat thickness in scene units at the grooves (0: the phantom's thin rim only).
        papillary: contrast of the papillary muscles and trabeculae against the blood (1: the myocardium's signal).
    """

    banding: float = 0.0
    fat: float = 0.0
    papillary: float = 0.0


@dataclass(frozen=True)
class Band:
    """One off-resonance band: an arc around ``center`` (scene units) at ``radius`` (mid depth), ``width`` wide."""

    center: tuple[float, float]
    radius: float
    width: float


@dataclass(frozen=True)
class Cine:
    """One patient's phenomena under one look (angles in radians from the direction of the RV, ``rv_angle``).

    Args:
        look: the scanner's strengths.
        bands: off-resonance bands.
        drift: change of the bands' radii from base to apex (scene units).
        grooves: angles of the two fat pads.
        muscles: papillary muscles as ``(angle, size factor)``.
        trabeculae: ``(angle, height as a fraction of the cavity radius, angular half-width)`` each.
    """

    look: CineLook
    bands: tuple[Band, ...]
    drift: float
    grooves: tuple[float, float]
    muscles: tuple[tuple[float, float], ...]
    trabeculae: tuple[tuple[float, float, float], ...]

    @property
    def rv_fat(self) -> float:
        """Thickness of the fat layer over the RV free wall."""
        return 0.6 * self.look.fat

    def fat_pad(self, phi: np.ndarray) -> np.ndarray:
        """Extra epicardial fat thickness around the LV by angle ``phi``: thin on the free wall, thick at the grooves."""
        pads = sum(np.exp(-((_wrap(phi - g) / np.float32(0.4)) ** 2)) for g in self.grooves)
        return np.float32(self.look.fat) * (np.float32(0.25) + pads)

    def muscle(self, endo: np.ndarray, phi: np.ndarray, scale: float, depth: float) -> np.ndarray:
        """Papillary muscles and trabeculae in the LV cavity, as the fraction of the look's contrast in [0, 1].

        Args:
            endo: the LV outline's level at the cavity's pixels (< 1).
            phi: their angles from the RV direction.
            scale: diastolic basal cavity radius over this slice's (the muscles look larger in a smaller cavity).
            depth: position from base (0) to apex (1); the trabeculae grow towards the apex.
        """
        inward = 1.0 - endo  # 0 at the endocardium, 1 at the centre
        out = np.zeros(endo.shape, np.float32)
        for angle, size in self.muscles:
            radial = min(0.2 * size * scale, 0.35)  # semi-axis along the radius, a fraction of the cavity radius
            centre = 1.05 * radial  # just off the wall: attached in systole's smaller cavity, free in diastole
            blob = ((inward - centre) / radial) ** 2 + (_wrap(phi - angle) * (1.0 - centre) / radial) ** 2
            out[blob < 1.0] = 1.0
        heights = self._trabecular_heights() * np.float32(np.sqrt(scale) * (0.6 + 0.8 * depth))
        bins = ((_wrap(phi) + np.pi) / (2 * np.pi) * _TABLE).astype(np.int32) % _TABLE
        ridge = inward < heights[bins]
        out[ridge] = np.maximum(out[ridge], 0.8)  # thin trabeculae: partly blood within a pixel
        return out * np.float32(self.look.papillary)

    def band_gain(self, x: np.ndarray, y: np.ndarray, depth: float) -> np.ndarray:
        """The bands' multiplicative signal, 1 away from them and ``1 - banding`` at their centres."""
        gain = np.ones(np.broadcast_shapes(x.shape, y.shape), np.float32)
        for band in self.bands:
            r = np.hypot(x - np.float32(band.center[0]), y - np.float32(band.center[1]))
            off = (r - np.float32(band.radius + self.drift * (depth - 0.5))) / np.float32(band.width)
            gain *= 1.0 - np.float32(self.look.banding) * np.exp(-(off**2))
        return gain

    def _trabecular_heights(self) -> np.ndarray:
        """Height of the trabeculae by angle (a table of ``_TABLE`` bins from -pi)."""
        phi = np.linspace(-np.pi, np.pi, _TABLE, endpoint=False, dtype=np.float32)
        heights = np.zeros(_TABLE, np.float32)
        for angle, height, half_width in self.trabeculae:
            bump = np.float32(height) * np.maximum(1.0 - (_wrap(phi - angle) / np.float32(half_width)) ** 2, 0.0)
            heights = np.maximum(heights, bump)
        return heights


def _wrap(phi: np.ndarray | float) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return np.mod(phi + np.pi, 2 * np.pi) - np.pi


def draw_cine(rng: np.random.Generator, look: CineLook, center: tuple[float, float]) -> Cine:
    """Draw one patient's phenomena (the same draws whatever the look, so a look only sets their strength).

    Args:
        rng: a generator of the phenomena's own (e.g. the patient generator's ``spawn(1)[0]``).
        look: the scanner's strengths.
        center: the heart's centre (scene units); the bands pass within 0.6 of it at mid depth.
    """
    through = np.asarray(center) + 0.6 * np.sqrt(rng.random()) * _unit(rng.uniform(0, 2 * np.pi))
    radius = rng.uniform(1.2, 2.5)  # of curvature: a gentle arc, its centre mostly outside the image
    hub = through + radius * _unit(rng.uniform(0, 2 * np.pi))
    radii = [radius] if rng.random() < 0.5 else [radius, radius + rng.uniform(0.55, 0.85)]  # one field cycle on
    width = float(rng.uniform(0.025, 0.045))
    bands = tuple(Band((float(hub[0]), float(hub[1])), float(r), width) for r in radii)
    grooves = (float(rng.uniform(1.45, 1.75)), float(-rng.uniform(1.45, 1.75)))  # just past the RV's tips
    muscles = tuple((float(np.pi + side * rng.uniform(0.6, 0.9)), float(rng.uniform(0.8, 1.2))) for side in (-1, 1))
    count = int(rng.integers(12, 19))
    trabeculae = tuple(
        (float(np.pi + rng.uniform(-1.8, 1.8)), float(rng.uniform(0.06, 0.15)), float(rng.uniform(0.06, 0.14)))
        for _ in range(count)
    )
    return Cine(look, bands, float(rng.uniform(-0.25, 0.25)), grooves, muscles, trabeculae)


def _unit(angle: float) -> np.ndarray:
    """The unit vector at ``angle``."""
    return np.array([np.cos(angle), np.sin(angle)])
