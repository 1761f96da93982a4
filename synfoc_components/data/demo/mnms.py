"""A synthetic four-vendor cardiac cine MRI source in the M&Ms PNG layout (the ``drawing.cardiac_mri`` phantom).

Each slice shows a chest around the heart: a bright LV blood pool inside a dark ring-shaped myocardium, and a bright
crescent RV beside it (``drawing.cardiac_mri``). A case holds ``slices`` depths from base to apex at end-diastole,
then the same at end-systole. The vendors differ as scanners do in blood-to-muscle contrast, intensity curve, noise,
bias field, sharpness and field of view, and, as in the real M&Ms where a model of one vendor fails on the others, in
cine bSSFP phenomena around and inside the structures (``drawing.cine_phenomena``): off-resonance bands crossing
the image (vendorB), thick bright epicardial fat (vendorC), and papillary muscles and trabeculations in the LV cavity
(vendorD). vendorA is the clean reference. Without these, a LiteMedSAM fine-tuned on five vendorA slices scored
92-95 Dice on every vendor and left a semi-supervised method nothing to gain. Every slice contains all three
structures. Masks are RGB, R = LV, G = MYO, B = RV (255 where present), as in the release; the papillary muscles and
trabeculae count as LV cavity, as in M&Ms' masks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synfoc_components.data.demo.drawing.cardiac_mri import BSSFP, LV, MYO, RV, HeartStyle, draw_heart, render_slice
from synfoc_components.data.demo.drawing.cine_phenomena import CineLook, draw_cine
from synfoc_components.data.demo.drawing.shapes import to_uint8, write_marker
from synfoc_components.data.demo.registry import register_demo
from synfoc_components.data.descriptions import describe
from synfoc_components.data.preparation.writer import write_png

__all__ = ["VendorStyle", "VENDORS", "write_mnms_demo"]


@dataclass(frozen=True)
class VendorStyle:
    """How one synthetic scanner renders the phantom.

    Args:
        look: tissue intensities, noise and blur (``drawing.cardiac_mri.HeartStyle``).
        fov: half the image side in scene units (larger: more chest, a smaller heart).
        gamma: exponent of the scanner's intensity curve.
        bias: factor on the patient's bias field.
        cine: strengths of the cine bSSFP phenomena (``drawing.cine_phenomena``); none by default.
    """

    look: HeartStyle
    fov: float
    gamma: float
    bias: float
    cine: CineLook = field(default_factory=CineLook)


_VARIANT = dataclasses.replace
_STYLES = (
    VendorStyle(BSSFP, 0.65, 1.00, 1.0),  # vendorA (Siemens): the reference look
    VendorStyle(  # B (Philips): noisy, off-resonance bands
        _VARIANT(BSSFP, blood=0.90, myocardium=0.25, noise=0.045, blur=0.9), 0.75, 0.85, 1.5, CineLook(banding=0.9)
    ),
    VendorStyle(  # C (GE): soft, lower contrast, thick epicardial fat as bright as the blood
        _VARIANT(BSSFP, blood=0.85, myocardium=0.3, fat=0.92, noise=0.04, blur=1.2), 0.70, 1.15, 1.2, CineLook(fat=0.07)
    ),
    VendorStyle(  # D (Canon): sharp, papillary muscles and trabeculations
        _VARIANT(BSSFP, blood=1.00, myocardium=0.14, noise=0.035, blur=0.7), 0.60, 0.90, 0.8, CineLook(papillary=1.0)
    ),
)
VENDORS = dict(zip(describe("mnms").domains, _STYLES))
"""vendorA: the clean reference (no bands, a thin mid-grey fat rim, a smooth uniform LV cavity). vendorB: brighter
curve, lower contrast, noisy, stronger bias, wider view, and one or two dark off-resonance bands that shift from
base to apex and often cross the heart. vendorC: darker curve, soft, lower blood-to-myocardium contrast, and bright
fat (as bright as the blood) in thick pads at the RV insertions and over the RV free wall, right against the
myocardium. vendorD: high contrast, sharp, zoomed in, with two dark papillary muscles and a ragged row of
trabeculae on the LV free wall inside the cavity (labelled LV), larger towards the apex and at end-systole. So the
vendors differ in what surrounds and fills the structures, not only in appearance, and a model of one vendor does
not simply carry over to the others."""


@register_demo("mnms")
def write_mnms_demo(
    out: str, seed: int = 0, size: int = 256, train_cases: int = 8, test_cases: int = 2, slices: int = 3
) -> Path:
    """Write ``out/mnms/vendor{A..D}/{train,test}/{image,mask}/<case>_<slice>.png``.

    Args:
        out: output folder.
        seed: generator seed (same seed, same bytes).
        size: image side in pixels.
        train_cases: training cases per vendor.
        test_cases: test cases per vendor.
        slices: depths per phase (a case has ``2 * slices`` files: end-diastole, then end-systole).

    Returns:
        The ``mnms`` folder.
    """
    root = Path(out) / "mnms"
    for v, (vendor, style) in enumerate(VENDORS.items()):
        for c in range(train_cases + test_cases):
            split = "train" if c < train_cases else "test"
            rng = np.random.default_rng([seed, v, c])
            heart = draw_heart(rng)
            heart["bias"] = heart["bias"] * style.bias
            cine = draw_cine(rng.spawn(1)[0], style.cine, heart["center"])  # its own draws: rng's stay put
            for k in range(2 * slices):
                depth = (k % slices) / max(slices - 1, 1)
                image, labels = render_slice(style.look, heart, depth, k >= slices, size, rng, style.fov, cine)
                mask = np.dstack([(labels == class_id) * np.uint8(255) for class_id in (LV, MYO, RV)])
                name = f"{vendor[-1]}{c:03d}_{k:02d}.png"
                image = to_uint8(image ** np.float32(style.gamma))
                write_png(root / vendor / split / "image" / name, image, compress_level=1)
                write_png(root / vendor / split / "mask" / name, mask, compress_level=1)
    write_marker(root, "mnms", "M&Ms-like cardiac cine MRI phantom")
    return root
