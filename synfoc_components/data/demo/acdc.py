"""A synthetic ACDC source in the raw challenge layout (the cine bSSFP phantom of ``drawing.cardiac_mri``).

``<out>/ACDC/database/{training,testing}/patientNNN/patientNNN_frameNN.nii.gz`` with ``..._gt.nii.gz`` (label values
1 RV, 2 MYO, 3 LV) and an ``Info.cfg`` naming the end-diastolic (ED, frame 01) and end-systolic (ES) frames and the
patient's diagnostic ``Group``, like the release; training patients are numbered from 001 and testing patients from
101. As in the release, the training patients come in contiguous blocks of one group each, in the order DCM, HCM,
MINF, NOR, ARV (001-004 DCM, 005-008 HCM, ... for 20 patients), so the first patients, the ones the semi-supervised
protocol labels, are all DCM; the testing patients cycle through the groups (101 DCM, 102 HCM, ...). The groups
differ in anatomy and motion (``drawing.cardiac_mri.PATHOLOGIES``), not in appearance. Every slice holds all
structures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synfoc_components.data.demo.drawing.cardiac_mri import (
    BSSFP,
    LV,
    MYO,
    PATHOLOGIES,
    RV,
    draw_heart,
    render_slice,
    save_volume,
)
from synfoc_components.data.demo.drawing.shapes import write_marker
from synfoc_components.data.demo.registry import register_demo

__all__ = ["GROUPS", "SPACING", "group_of", "write_acdc_demo"]

GROUPS = tuple(PATHOLOGIES)
"""ACDC's diagnostic groups in the release's patient-number order."""

SPACING = (1.5625, 1.5625, 10.0)
"""Voxel size in mm (a 250 mm field of view at 160 pixels; ACDC's slices are 5 to 10 mm apart)."""

_ACDC_LABELS = np.zeros(4, np.uint8)
_ACDC_LABELS[[LV, MYO, RV]] = (3, 2, 1)


def group_of(number: int, train_patients: int) -> str:
    """The diagnostic group of patient ``number``: blocks of training patients (1..``train_patients``), then cycling.

    Args:
        number: patient number (training from 1, testing from 101).
        train_patients: number of training patients (split into ``len(GROUPS)`` contiguous blocks).
    """
    if number > 100:
        return GROUPS[(number - 101) % len(GROUPS)]
    return GROUPS[min((number - 1) * len(GROUPS) // max(train_patients, 1), len(GROUPS) - 1)]


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
    (folder / "Info.cfg").write_text(f"ED: 1\nES: {es_frame}\nGroup: {heart['group']}\nNbFrame: {es_frame + 15}\n")


@register_demo("acdc")
def write_acdc_demo(
    out: str, seed: int = 0, size: int = 160, train_patients: int = 20, test_patients: int = 6, slices: int = 8
) -> Path:
    """Write the synthetic ACDC source (deterministic for ``seed``).

    Args:
        out: output folder (the ``--source`` of ``prepare acdc``).
        seed: generator seed (same seed, same volumes).
        size: image side in pixels.
        train_patients: patients under ``training/``, in blocks of one diagnostic group each (prepare labels the
            first ones and draws validation patients from the others).
        test_patients: patients under ``testing/`` (the test split), cycling through the groups.
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
        heart = draw_heart(rng, group_of(number, train_patients))
        _write_patient(root / "database" / part / name, name, heart, rng, size, slices)
    write_marker(root, "acdc", "ACDC-like cardiac cine MRI phantom")
    return root
