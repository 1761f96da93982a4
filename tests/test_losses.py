"""Each SynFoC formula against small cases worked out by hand (docs/method.md 3.4-3.7)."""

from __future__ import annotations

import math

import pytest
import torch

from synfoc_components.handlers import EMATeacher, ema_rate
from synfoc_components.losses import (
    consensus_divergence_loss,
    consistency_ramp,
    ensemble_pseudo_labels,
    masked_ce_loss,
    masked_dice_loss,
    self_mutual_confidence,
    smoothed_dice,
)
from synfoc_components.transforms.box_mix import BoxMaskSampler, box_mix

LN3 = math.log(3.0)


def _two_pixel_case():
    """Logits of one image with two pixels: a = (1/4, 3/4) labeled 1, b = (3/4, 1/4) labeled 0; mask keeps a."""
    logits = torch.tensor([[0.0, LN3], [LN3, 0.0]]).T.reshape(1, 2, 1, 2)
    target = torch.tensor([[[1, 0]]])
    mask = torch.tensor([[[[1.0, 0.0]]]])
    return logits, target, mask


def test_ramp_at_start_middle_and_end():
    assert consistency_ramp(0, 1000) == pytest.approx(math.exp(-5))  # 0.0067
    assert consistency_ramp(500, 1000) == pytest.approx(math.exp(-1.25))  # stair e = 100 of 200: 0.2865
    assert consistency_ramp(1000, 1000) == pytest.approx(1.0)
    assert consistency_ramp(5000, 1000) == pytest.approx(1.0)  # clipped
    assert consistency_ramp(4, 1000) == consistency_ramp(0, 1000)  # stairs of T/200 = 5 iterations
    assert consistency_ramp(5, 1000) == pytest.approx(math.exp(-5 * (1 - 1 / 200) ** 2))


def test_smoothed_dice_constants_and_both_empty():
    empty = torch.zeros(1, 2, 2, dtype=torch.bool)
    a = torch.tensor([[[True, True], [False, False]]])
    b = torch.tensor([[[True, False], [True, False]]])
    three = torch.tensor([[[True, True], [True, False]]])
    assert smoothed_dice(empty, empty).item() == 1.0  # not 1 / 1.001
    assert smoothed_dice(a, b).item() == pytest.approx(3 / 5.001)  # (2*1 + 1) / (2 + 2 + 1.001)
    assert smoothed_dice(empty, three).item() == pytest.approx(1 / 4.001)


def test_self_mutual_confidence_multiplies_self_and_mutual_terms():
    teacher = torch.tensor([[[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]])
    student = teacher.clone()
    student[0, 0, 2] = 1  # one extra pixel: Dice (2*4 + 1) / (5 + 4 + 1.001)
    # nearest 4x4 -> 2x2 keeps rows/cols 0 and 2: the teacher becomes [[1, 0], [0, 0]]
    sam = torch.tensor([[[1, 1], [0, 0]]])  # Dice (2*1 + 1) / (1 + 2 + 1.001)
    alpha = self_mutual_confidence(student, teacher, sam, [(1,)])
    assert alpha.shape == (1,)
    assert alpha.item() == pytest.approx(9 / 10.001 * 3 / 4.001)


def test_self_mutual_confidence_averages_structures_made_of_class_unions():
    teacher = torch.tensor([[[1, 2], [0, 0]]])
    student = torch.tensor([[[2, 2], [0, 0]]])  # cup (1): 1 vs 0 px; disc (1 or 2): identical
    alpha = self_mutual_confidence(student, teacher, teacher, [(1,), (1, 2)])
    phi_self = (1 / 2.001 + 5 / 5.001) / 2  # cup: (0 + 1) / (1 + 0 + 1.001); disc: (2*2 + 1) / (2 + 2 + 1.001)
    phi_mut = (3 / 3.001 + 5 / 5.001) / 2  # the teacher against itself: smoothed, so not exactly 1
    assert alpha.item() == pytest.approx(phi_self * phi_mut)


def test_masked_ce_averages_over_all_pixels():
    logits, target, mask = _two_pixel_case()
    ce = -math.log(0.75)
    assert masked_ce_loss(logits, target).item() == pytest.approx(ce)
    assert masked_ce_loss(logits, target, mask).item() == pytest.approx(ce / 2)  # not normalised by sum(mask)


def test_masked_dice_leaves_background_channel_unmasked():
    logits, target, mask = _two_pixel_case()
    background = 1 - 2 * 0.75 / (0.25**2 + 0.75**2 + 1)  # both pixels count: 0.0769
    foreground = 1 - 2 * 0.75 / (0.75**2 + 1)  # only pixel a: 0.04
    assert masked_dice_loss(logits, target, mask, 2).item() == pytest.approx((background + foreground) / 2)
    plain_fg = 1 - 2 * 0.75 / (0.75**2 + 0.25**2 + 1)
    assert masked_dice_loss(logits, target, None, 2).item() == pytest.approx((background + plain_fg) / 2)


def test_consensus_divergence_on_agreeing_and_disagreeing_pixels():
    sam_logits = torch.tensor([0.0, LN3]).reshape(1, 2, 1, 1)  # (1/4, 3/4), upsampled to both U-Net pixels
    unet_logits = torch.tensor([[0.0, LN3], [LN3, 0.0]]).T.reshape(1, 2, 1, 2)  # agrees at pixel 0 only
    consensus, divergence = consensus_divergence_loss(sam_logits, unet_logits)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert consensus.item() == pytest.approx(0.5 * (h / 2 + h / 4))  # means over B*K*H*W elements
    assert divergence.item() == pytest.approx((0.5**2 + 0.5**2) / 4)


def test_consensus_divergence_gradients_reach_both_students():
    sam_logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    unet_logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    consensus, divergence = consensus_divergence_loss(sam_logits, unet_logits)
    (consensus + divergence).backward()
    assert sam_logits.grad.abs().sum() > 0 and unet_logits.grad.abs().sum() > 0


def test_ensemble_pseudo_labels_mixes_by_alpha_and_thresholds_each_resolution():
    sam = torch.tensor([0.02, 0.98]).reshape(1, 2, 1, 1)
    unet = torch.tensor([0.9, 0.1]).reshape(1, 2, 1, 1).expand(1, 2, 2, 2)
    only_sam = ensemble_pseudo_labels(sam, unet, torch.tensor([0.0]), 0.95)
    assert only_sam.labels_unet.eq(1).all() and only_sam.masks_unet.eq(1).all()
    half = ensemble_pseudo_labels(sam, unet, torch.tensor([0.5]), 0.95)  # (0.46, 0.54): label 1, not confident
    assert half.labels_unet.eq(1).all() and half.masks_unet.eq(0).all()
    assert half.labels_sam.shape == (1, 1, 1) and half.masks_sam.shape == (1, 1, 1, 1)
    only_unet = ensemble_pseudo_labels(sam, unet, torch.tensor([1.0]), 0.95)
    assert only_unet.labels_unet.eq(0).all() and only_unet.masks_unet.eq(0).all()


def test_box_sampler_area_and_aspect_bounds():
    sampler = BoxMaskSampler(seed=0)
    size = 128
    for top, left, h, w in sampler.boxes(500, size):
        assert 0 <= top and top + h <= size and 0 <= left and left + w <= size
        area = h * w / size**2
        assert 0.02 * 0.85 <= area <= 0.4 + 1e-9  # floor() of both sides shrinks small boxes a little
        assert 0.3 * 0.8 <= h / w <= 1 / 0.3 * 1.25


def test_box_mask_matches_boxes_and_mixes():
    a, b = BoxMaskSampler(seed=3), BoxMaskSampler(seed=3)
    mask = a(4, 32)
    for m, (top, left, h, w) in zip(mask, b.boxes(4, 32)):
        assert m.sum().item() == h * w and m[0, top : top + h, left : left + w].eq(1).all()
    ones, zeros = torch.ones(4, 1, 32, 32), torch.zeros(4, 1, 32, 32)
    assert torch.equal(box_mix(zeros, ones, mask), mask)
    assert torch.equal(box_mix(zeros[:, 0].long(), ones[:, 0].long(), mask), mask[:, 0].long())


def test_box_sampler_state_round_trip():
    a = BoxMaskSampler(seed=1)
    state = a.state_dict()
    first = a.boxes(3, 64)
    a.load_state_dict(state)
    assert a.boxes(3, 64) == first


def test_ema_rule():
    assert ema_rate(0) == 0.0 and ema_rate(1) == 0.5 and ema_rate(1000) == 0.99
    student, teacher = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    ema = EMATeacher(teacher, student, decay=0.99)
    ema.update(0)
    assert all(torch.equal(t, s) for t, s in zip(teacher.parameters(), student.parameters()))
    before = [p.clone() for p in teacher.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    ema.update(4)  # rate 0.8
    for t, b, s in zip(teacher.parameters(), before, student.parameters()):
        torch.testing.assert_close(t, 0.8 * b + 0.2 * s)


def test_ema_trainable_only_skips_frozen_parameters():
    student, teacher = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)), None
    teacher = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    student[0].requires_grad_(False)
    frozen_before = teacher[0].weight.clone()
    EMATeacher(teacher, student, trainable_only=True).update(0)
    assert torch.equal(teacher[0].weight, frozen_before)
    assert torch.equal(teacher[1].weight, student[1].weight)
