"""What inference writes, voxel by voxel: the prostate bundle's ``inference.json`` with a network whose output is a
known function of the input, on a non-square PNG and an anisotropic, rotated NIfTI volume.

The test draws a class map first and renders the image from it (one intensity level per class, a little noise), so
the expected mask is the class map itself, not something recomputed with the code under test. A flip, transpose,
shift, channel mix-up or lost affine changes the written file.
"""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow
from PIL import Image
from torch import nn

from bundle_runs import CONFIGS, one_torch_thread

CENTERS = (0.1, 0.5, 0.9)
"""Class k is the intensity (scaled to [0, 1]) nearest to ``CENTERS[k]``; the images use levels 0.08, 0.5, 0.92."""


class Quantizer(nn.Module):
    """Logits -100 (x - c_k)^2 of the channel-mean intensity x: the argmax is the class whose centre is nearest.

    The centres are a buffer that starts at zero (every class tied) and comes from ``model.pt``, so the bundle's
    model loading is part of what the test sees.

    Args:
        num_classes: number of centres.
    """

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.register_buffer("centers", torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -100.0 * (x.mean(1, keepdim=True) - self.centers.view(1, -1, 1, 1)) ** 2


def _class_map(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """An asymmetric class map: an L-shaped class-1 region, a class-2 block near one corner, sparse random pixels."""
    labels = np.zeros(shape, np.uint8)
    h, w = shape[:2]
    labels[h // 5 : h - 3, 4 : w // 3] = 1  # the L's upright
    labels[h - 9 : h - 3, 4 : w - 6] = 1  # its foot
    labels[2 : h // 3, w // 2 : w - 2] = 2
    salt = rng.random(shape) < 0.04
    labels[salt] = rng.integers(0, 3, int(salt.sum()))
    return labels


def _render(labels: np.ndarray, rng: np.random.Generator, top: float) -> np.ndarray:
    """Intensities 0.08 / 0.5 / 0.92 of ``top`` for classes 0 / 1 / 2, plus noise of 2 % of ``top``."""
    levels = np.array([0.08, 0.5, 0.92]) * top
    return levels[labels] + rng.uniform(-0.02, 0.02, labels.shape) * top


def _rotated_anisotropic_affine() -> np.ndarray:
    """Spacing 0.7 x 1.3 x 3.5 mm, 30 degrees about z, a shifted origin."""
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([0.7, 1.3, 3.5])
    affine[:3, 3] = [12.5, -7.25, 40.0]
    return affine


def _interior(labels: np.ndarray) -> np.ndarray:
    """Pixels whose in-plane 3 x 3 neighbourhood holds one class: where resizing cannot blur the class."""
    padded = np.pad(labels, [(1, 1), (1, 1)] + [(0, 0)] * (labels.ndim - 2), mode="edge")
    h, w = labels.shape[:2]
    same = np.ones(labels.shape, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            same &= padded[dy : dy + h, dx : dx + w] == labels
    return same


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray], np.ndarray]:
    """A bundle root whose ``models/model.pt`` holds the quantizer's centres, an input folder with a 37 x 58 PNG and
    a 30 x 45 x 4 float NIfTI volume; their class maps by file name, and the volume's affine."""
    rng = np.random.default_rng(20)
    root = tmp_path_factory.mktemp("quantized")
    (root / "models").mkdir()
    torch.save({"centers": torch.tensor(CENTERS)}, root / "models" / "model.pt")
    folder = root / "input"
    folder.mkdir()
    png = _class_map((37, 58), rng)
    Image.fromarray(_render(png, rng, 255.0).round().clip(0, 255).astype(np.uint8)).save(folder / "wide.png")
    volume = _class_map((30, 45, 4), rng)
    affine = _rotated_anisotropic_affine()
    nib.save(nib.Nifti1Image(_render(volume, rng, 1000.0).astype(np.float32), affine), folder / "case.nii.gz")
    return root, {"wide.png": png, "case.nii.gz": volume}, affine


def _infer(root: Path, output: Path, **overrides) -> None:
    """``inference.json`` of the prostate bundle, in process, with the quantizer as ``network_def``."""
    workflow = ConfigWorkflow(
        config_file=str(CONFIGS / "inference.json"), meta_file=str(CONFIGS / "metadata.json"), logging_file=False,
        run_id="run", bundle_root=str(root), input_dir=str(root / "input"), output_dir=str(output),
        network_def={"_target_": f"{__name__}.Quantizer", "num_classes": len(CENTERS)}, **overrides,
    )  # fmt: skip
    with one_torch_thread():
        workflow.initialize()
        workflow.run()
        workflow.finalize()


def _written(output: Path, name: str) -> np.ndarray:
    if name.endswith(".png"):
        return np.asarray(Image.open(output / name))
    return np.asanyarray(nib.load(output / name).dataobj)


def test_masks_equal_the_class_maps_voxel_for_voxel(inputs, tmp_path):
    """``image_size`` and ``input_size`` null (the network sees the images at their own size): every voxel must
    match."""
    root, expected, affine = inputs
    _infer(root, tmp_path, image_size=None, input_size=None)
    for name, labels in expected.items():
        mask = _written(tmp_path, name)
        assert mask.shape == labels.shape, name
        wrong = np.argwhere(mask != labels)
        assert not len(wrong), f"{name}: {len(wrong)} of {labels.size} voxels differ, first at {wrong[:3].tolist()}"
    written = nib.load(tmp_path / "case.nii.gz")
    np.testing.assert_allclose(written.affine, affine, atol=1e-5)
    assert written.header.get_zooms() == pytest.approx((0.7, 1.3, 3.5), abs=1e-5)


def test_masks_through_the_configured_resizing_keep_content_and_orientation(inputs, tmp_path):
    """The configuration's own ``image_size`` and ``input_size`` (the images resized to the base size 384, then to
    256 x 256, and the logits back): the mask equals the class map wherever a pixel's 3 x 3 neighbourhood is one class
    (resizing blurs only the boundaries)."""
    root, expected, affine = inputs
    _infer(root, tmp_path)
    for name, labels in expected.items():
        mask = _written(tmp_path, name)
        assert mask.shape == labels.shape, name
        inside = _interior(labels)
        assert inside.mean() > 0.5, "the test images must keep most pixels away from class boundaries"
        wrong = np.argwhere((mask != labels) & inside)
        assert not len(wrong), f"{name}: {len(wrong)} interior voxels differ, first at {wrong[:3].tolist()}"
    np.testing.assert_allclose(nib.load(tmp_path / "case.nii.gz").affine, affine, atol=1e-5)
