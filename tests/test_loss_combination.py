"""How SynFoC's loss terms are combined, checked against the method rather than against the trainer's own code.

The authors' ``code/train.py`` (github.com/MQinghe/SynFoC) minimises, at iteration ``iter_num`` counted from 0,

    loss = sam_sup + unet_sup + w * (sam_unsup + unet_unsup + cons + discons),
    w = consistency * exp(-5 (1 - e / 200)^2),  e = min(iter_num // (max_iterations / 200), 200),

where the unsupervised targets are the ensemble pseudo-labels outside the pasted box and the labeled image's mask
inside it, with the confidence mask set to 1 inside the box. The first test reads the terms a real trainer records
and recombines them with ``w`` written out here; the second derives every term of one hand-built case on paper.
"""

from __future__ import annotations

import math

import pytest
import torch
from ignite.engine import Events

from synfoc_components.engines.trainer import LOSS_TERMS
from synfoc_components.losses import PseudoLabels, consistency_ramp
from test_trainer import make_trainer

LN3 = math.log(3.0)


def method_weight(iteration: int, max_iterations: int, consistency: float) -> float:
    """The upstream consistency weight at ``iteration`` (from 0): 200 stairs of a squared-exponential ramp."""
    stair = min(iteration // (max_iterations / 200), 200)
    return consistency * math.exp(-5.0 * (1.0 - stair / 200) ** 2)


@pytest.mark.parametrize("consistency", [1.0, 0.5])
def test_recorded_loss_is_the_methods_combination_at_the_right_step(consistency):
    iterations = 4  # stairs of 4 / 200 iterations: every iteration has its own weight, so an off-by-one shows
    trainer = make_trainer(2, iterations=iterations, consistency=consistency)
    outputs: list[tuple[int, dict]] = []
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: outputs.append((e.state.iteration, dict(e.state.output)))
    )
    trainer.run()

    assert [i for i, _ in outputs] == [1, 2, 3, 4]  # ignite counts from 1, upstream's iter_num from 0
    weights = [out["weight"] for _, out in outputs]
    expected = [method_weight(t, iterations, consistency) for t in range(iterations)]
    assert weights == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx([consistency * consistency_ramp(t, iterations) for t in range(iterations)])
    assert weights[0] == pytest.approx(consistency * math.exp(-5.0))  # the first iteration is upstream's iter_num 0
    assert len(set(expected)) == iterations
    for iteration, out in outputs:
        assert all(math.isfinite(out[name]) and out[name] > 0 for name in LOSS_TERMS), out
        unsupervised = out["unsup_sam"] + out["unsup_unet"] + out["consensus"] + out["divergence"]
        total = out["sup_sam"] + out["sup_unet"] + expected[iteration - 1] * unsupervised
        assert out["loss"] == pytest.approx(total, rel=1e-6), f"iteration {iteration}"


def _logits(pattern: str) -> torch.Tensor:
    """Logits 1 x 2 x 1 x W of a row of pixels: ``a`` has p(class 1) = 3/4, ``b`` has p(class 1) = 1/4."""
    pixels = {"a": (0.0, LN3), "b": (LN3, 0.0)}
    return torch.tensor([pixels[c] for c in pattern]).T.reshape(1, 2, 1, len(pattern))


def _row(values: list[float], channel: bool = False, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One image's row of pixels as B x H x W (or B x 1 x H x W with ``channel``)."""
    row = torch.tensor(values, dtype=dtype).reshape(1, 1, len(values))
    return row[:, None] if channel else row


def test_student_losses_of_a_hand_built_case_with_a_box():
    """SAM logits at 1 x 2, U-Net logits at 1 x 4, one image, two classes; every value below is worked out by hand.

    Building blocks (upstream ``ce_loss(reduction='none')`` and ``DiceLossWithMask``): masked CE = mean over all
    pixels of mask x CE; Dice = mean over both channels of 1 - 2 sum(p t w) / (sum(p^2 w) + sum(t^2 w)), where the
    background channel ignores the mask. With p = 3/4 for the right class, a pixel's CE is ln(4/3), else ln 4.
    """
    trainer = make_trainer(1, iterations=1)
    l43, l4 = math.log(4 / 3), math.log(4.0)

    # supervised SAM: p1 = (1/4, 3/4), label (0, 1): CE ln(4/3) at both pixels; Dice 1/13 on each channel
    # (inter 3/4, denominator 10/16 + 1)
    sam_x, y_small = _logits("ba"), _row([0, 1], dtype=torch.long)
    sup_sam = l43 + 1 / 13
    # supervised U-Net: p1 = (3/4, 3/4, 1/4, 3/4), label (1, 1, 0, 0): CE 3 x ln(4/3) + ln 4 over 4 pixels;
    # background Dice 1 - 2 x 1 / (12/16 + 2) = 3/11, foreground 1 - 2 x 3/2 / (28/16 + 2) = 1/5
    unet_x, y_unet = _logits("aaba"), _row([1, 1, 0, 0], dtype=torch.long)
    sup_unet = (3 * l43 + l4) / 4 + (3 / 11 + 1 / 5) / 2

    # U-Net on the mixed image. Pseudo-labels (0, 0, 1, 1) trusted at (1, 0, 0, 1); the box covers pixel 1, where
    # the label (1) replaces the pseudo-label (0) and is trusted: target (0, 1, 1, 1), mask (1, 1, 0, 1).
    # p1 = (1/4, 3/4, 3/4, 1/4): CE ln(4/3) + ln(4/3) + 0 + ln 4 over 4 pixels; background Dice (unmasked)
    # 1 - 2 x 3/4 / (20/16 + 1) = 1/3; foreground (masked) 1 - 2 x 1 / (11/16 + 2) = 11/43
    unet_mix, box = _logits("baab"), _row([0, 1, 0, 0], channel=True)
    unsup_unet = (2 * l43 + l4) / 4 + (1 / 3 + 11 / 43) / 2
    # SAM on the mixed image. Pseudo-labels (1, 1) trusted nowhere; the box covers pixel 0: target (0, 1) from the
    # label there, mask (1, 0). p1 = (3/4, 3/4): CE ln 4 / 2; background Dice 1 - 2 x 1/4 / (2/16 + 1) = 5/9;
    # foreground: no pixel counts, so 1 - eps / eps' = 1 (the smoothing eps is 1e-10)
    sam_mix, box_small = _logits("aa"), _row([1, 0], channel=True)
    unsup_sam = l4 / 2 + (5 / 9 + 1) / 2

    # CDCR on the mixed images: SAM's (3/4, 3/4) nearest-upsampled to 4 pixels predicts 1 everywhere, the U-Net
    # (0, 1, 1, 0): they agree at pixels 1 and 2 (at SAM's size: pixel 1 only). Each agreeing pixel's entropy h over
    # the 2 channels, averaged over all elements: SAM h / 4, U-Net 2h / 8, halved sum h / 4. Divergence: squared
    # difference 1/4 on both channels of pixels 0 and 3, over 8 elements: 1/8.
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    pseudo = PseudoLabels(
        labels_unet=_row([0, 0, 1, 1], dtype=torch.long),
        masks_unet=_row([1, 0, 0, 1], channel=True),
        labels_sam=_row([1, 1], dtype=torch.long),
        masks_sam=_row([0, 0], channel=True),
    )
    terms = trainer.student_losses(sam_x, sam_mix, unet_x, unet_mix, y_small, y_unet, pseudo, box, box_small)

    expected = {"sup_sam": sup_sam, "sup_unet": sup_unet, "unsup_sam": unsup_sam, "unsup_unet": unsup_unet,
                "consensus": h / 4, "divergence": 1 / 8}  # fmt: skip
    assert set(terms) == set(LOSS_TERMS)
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-6, abs=1e-7), name
