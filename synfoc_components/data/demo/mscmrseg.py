"""A synthetic MS-CMRSeg source in the challenge release's layout (the ``drawing.cardiac_mri`` phantom).

``<out>/C0LET2_nii45_for_challenge19/c0t2lge/patientN_{C0,LGE}.nii.gz`` with labels
``c0gt/patientN_C0_manual.nii.gz`` and ``lgegt/patientN_LGE_manual.nii.gz`` (200 myocardium, 500 LV blood pool,
600 RV). Each patient's bSSFP (C0) and LGE volumes show the same anatomy (``drawing.cardiac_mri``'s normal group
plus an infarct) in the two sequences' looks (T2 is not written; the reader ignores it). C0 has bright blood and dark
myocardium. LGE looks like inversion-recovery images after contrast: a mid-grey blood pool, nulled (black) healthy
myocardium, and in most patients (nine in ten) a scar growing from the endocardium over 60-125 degrees of the wall,
transmural at its centre in about half of them and as bright as the blood or brighter, so the endocardial border
fades there (typically 10-25% of the myocardium); about three times C0's noise and a softer image. Every slice holds
all structures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synfoc_components.data.demo.drawing.cardiac_mri import (
    BSSFP,
    LGE,
    LV,
    MYO,
    RV,
    draw_heart,
    render_slice,
    save_volume,
)
from synfoc_components.data.demo.drawing.shapes import write_marker
from synfoc_components.data.demo.registry import register_demo

__all__ = ["RELEASE", "SPACING", "write_mscmrseg_demo"]

RELEASE = "C0LET2_nii45_for_challenge19"
SPACING = {"C0": (1.5, 1.5, 10.0), "LGE": (1.5, 1.5, 10.0)}
"""Voxel size in mm per sequence (the same grid, so the sequences differ in appearance only)."""

_VALUES = np.zeros(4, np.uint16)
_VALUES[[MYO, LV, RV]] = (200, 500, 600)


@register_demo("mscmrseg")
def write_mscmrseg_demo(out: str, seed: int = 0, size: int = 160, patients: int = 10, slices: int = 8) -> Path:
    """Write the synthetic MS-CMRSeg source (deterministic for ``seed``).

    Args:
        out: output folder (the ``--source`` of ``prepare mscmrseg``).
        seed: generator seed (same seed, same volumes).
        size: image side in pixels.
        patients: patients per sequence (prepare tests the last fifth of each sequence).
        slices: short-axis slices per volume, base to apex.

    Returns:
        ``out``.
    """
    root = Path(out) / RELEASE
    for number in range(1, patients + 1):
        rng = np.random.default_rng([seed, number])
        heart = draw_heart(rng)
        for sequence, style, labels_dir in (("C0", BSSFP, "c0gt"), ("LGE", LGE, "lgegt")):
            images, labels = [], []
            for depth in np.linspace(0.0, 1.0, slices):
                image, label = render_slice(style, heart, float(depth), False, size, rng)
                images.append(np.round(image * 1000).astype(np.int16))
                labels.append(_VALUES[label])
            name = f"patient{number}_{sequence}"
            save_volume(root / "c0t2lge" / f"{name}.nii.gz", images, SPACING[sequence])
            save_volume(root / labels_dir / f"{name}_manual.nii.gz", labels, SPACING[sequence])
    for folder in (Path(out), root):
        write_marker(folder, "mscmrseg", "MS-CMRSeg-like bSSFP/LGE cardiac MRI phantom")
    return Path(out)
