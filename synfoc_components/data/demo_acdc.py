"""A synthetic ACDC source in the raw challenge layout (cine bSSFP phantom of ``demo_heart``), for demos and tests.

``<out>/ACDC/database/{training,testing}/patientNNN/patientNNN_frameNN.nii.gz`` with ``..._gt.nii.gz`` (label values
1 RV, 2 MYO, 3 LV) and an ``Info.cfg`` naming the end-diastolic (ED, frame 01) and end-systolic (ES) frames, like the
release; training patients are numbered from 001 and testing patients from 101. Every slice holds all structures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synfoc_components.data.demo_heart import BSSFP, LV, MYO, RV, draw_heart, render_slice, save_volume
from synfoc_components.data.demo_shapes import write_marker

__all__ = ["SPACING", "write_acdc_demo"]

SPACING = (1.5625, 1.5625, 10.0)
"""Voxel size in mm (a 250 mm field of view at 160 pixels; ACDC's slices are 5 to 10 mm apart)."""

_ACDC_LABELS = np.zeros(4, np.uint8)
_ACDC_LABELS[[LV, MYO, RV]] = (3, 2, 1)


def _write_patient(folder: Path, name: str, heart: dict, rng: np.random.Generator, size: int, slices: int) -> None:
    es_frame = int(rng.integers(8, 15))
    for frame, systole in ((1, False), (es_frame, True)):
        images, labels = [], []
        for depth in np.linspace(0.0, 1.0, slices):
            image, label = render_slice(BSSFP, heart, float(depth), systole, size, rng)
            images.append(np.round(image * 1000).astype(np.int16))
            labels.append(_ACDC_LABELS[label])
        save_volume(folder / f"{name}_frame{frame:02d}.nii.gz", images, SPACING)
        save_volume(folder / f"{name}_frame{frame:02d}_gt.nii.gz", labels, SPACING)
    (folder / "Info.cfg").write_text(f"ED: 1\nES: {es_frame}\nGroup: NOR\nNbFrame: {es_frame + 15}\n")


def write_acdc_demo(
    out: str, seed: int = 0, size: int = 160, train_patients: int = 20, test_patients: int = 6, slices: int = 8
) -> Path:
    """Write the synthetic ACDC source (deterministic for ``seed``).

    Args:
        out: output folder (the ``--source`` of ``prepare acdc``).
        seed: generator seed (same seed, same volumes).
        size: image side in pixels.
        train_patients: patients under ``training/`` (prepare draws validation patients from them).
        test_patients: patients under ``testing/`` (the test split).
        slices: short-axis slices per volume, base to apex.

    Returns:
        The ``ACDC`` folder.
    """
    root = Path(out) / "ACDC"
    numbers = [("training", n + 1) for n in range(train_patients)]
    numbers += [("testing", 101 + n) for n in range(test_patients)]
    for part, number in numbers:
        rng = np.random.default_rng([seed, number])
        name = f"patient{number:03d}"
        _write_patient(root / "database" / part / name, name, draw_heart(rng), rng, size, slices)
    write_marker(root, "acdc", "ACDC-like cardiac cine MRI phantom")
    return root
