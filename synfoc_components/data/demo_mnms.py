"""A synthetic four-vendor cardiac cine MRI source in the M&Ms PNG layout (the ``demo_heart`` phantom).

Each slice shows a chest around the heart: a bright LV blood pool inside a dark ring-shaped myocardium, and a bright
crescent RV beside it (``demo_heart``). A case holds ``slices`` depths from base to apex at end-diastole, then the
same at end-systole. The vendors differ in appearance only, as scanners do: blood-to-muscle contrast, intensity
curve, noise, bias field, sharpness and field of view. Every slice contains all three structures. Masks are RGB,
R = LV, G = MYO, B = RV (255 where present), as in the release.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synfoc_components.data.demo_heart import BSSFP, LV, MYO, RV, HeartStyle, draw_heart, render_slice
from synfoc_components.data.demo_shapes import to_uint8, write_marker
from synfoc_components.data.descriptions import describe
from synfoc_components.data.writer import write_png

__all__ = ["VendorStyle", "VENDORS", "write_mnms_demo"]


@dataclass(frozen=True)
class VendorStyle:
    """How one synthetic scanner renders the phantom.

    Args:
        look: tissue intensities, noise and blur (``demo_heart.HeartStyle``).
        fov: half the image side in scene units (larger: more chest, a smaller heart).
        gamma: exponent of the scanner's intensity curve.
        bias: factor on the patient's bias field.
    """

    look: HeartStyle
    fov: float
    gamma: float
    bias: float


_VARIANT = dataclasses.replace
_STYLES = (
    VendorStyle(BSSFP, 0.65, 1.00, 1.0),  # vendorA (Siemens): the reference look
    VendorStyle(_VARIANT(BSSFP, blood=0.90, myocardium=0.25, noise=0.045, blur=0.9), 0.75, 0.85, 1.5),  # B: noisy
    VendorStyle(_VARIANT(BSSFP, blood=0.92, myocardium=0.20, fat=0.5, noise=0.04, blur=1.2), 0.70, 1.15, 1.2),  # C
    VendorStyle(_VARIANT(BSSFP, blood=1.00, myocardium=0.14, noise=0.035, blur=0.7), 0.60, 0.90, 0.8),  # D: sharp
)
VENDORS = dict(zip(describe("mnms").domains, _STYLES))
"""vendorA clean reference; vendorB brighter curve, lower contrast, noisy, stronger bias, wider view; vendorC darker
curve, soft; vendorD high contrast, sharp, zoomed in. Blood stays the brightest and myocardium the darkest soft
tissue everywhere, so a model of one vendor can carry over to the others (the shifts are of appearance only)."""


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
            for k in range(2 * slices):
                depth = (k % slices) / max(slices - 1, 1)
                image, labels = render_slice(style.look, heart, depth, k >= slices, size, rng, fov=style.fov)
                mask = np.dstack([(labels == class_id) * np.uint8(255) for class_id in (LV, MYO, RV)])
                name = f"{vendor[-1]}{c:03d}_{k:02d}.png"
                image = to_uint8(image ** np.float32(style.gamma))
                write_png(root / vendor / split / "image" / name, image, compress_level=1)
                write_png(root / vendor / split / "mask" / name, mask, compress_level=1)
    write_marker(root, "mnms", "M&Ms-like cardiac cine MRI phantom")
    return root
