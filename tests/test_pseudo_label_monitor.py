"""PseudoLabelMonitor: the logged pseudo-label Dice equals one computed here, labels are optional, training unchanged."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ignite.engine import Events
from PIL import Image

from bundle_runs import TINY, bundle_in_process, one_torch_thread, tiny_dataset
from synfoc_components.handlers import PseudoLabelMonitor
from synfoc_components.transforms import labeled_transforms
from test_trainer import SIZE, make_trainer

THRESHOLD = 0.95
KINDS = ("dice_sam_teacher", "dice_unet_teacher", "dice_ensemble")


def write_items(root: Path, domains: dict[str, int], unlabeled_only: dict[str, int]) -> list[dict]:
    """Datalist items of 40 x 40 PNGs: a bright rectangle on noise; the label is the rectangle shifted by 2 pixels.

    Args:
        root: where to write.
        domains: domain -> number of items with a label.
        unlabeled_only: domain -> number of items without one.
    """
    rng = np.random.default_rng(3)
    items = []
    for domain, (with_label, without) in {d: (domains.get(d, 0), unlabeled_only.get(d, 0))
                                          for d in sorted({*domains, *unlabeled_only})}.items():  # fmt: skip
        for k in range(with_label + without):
            top, left, h, w = (int(v) for v in rng.integers([4, 4, 8, 8], [16, 16, 20, 20]))
            mask = np.zeros((40, 40), np.uint8)
            mask[top : top + h, left : left + w] = 1
            image = (rng.normal(70, 25, mask.shape) + 110 * mask).clip(0, 255).astype(np.uint8)
            item = {"image": str(root / f"{domain}_{k}.png"), "domain": domain, "case": str(k), "slice": 0}
            Image.fromarray(image).save(item["image"])
            if k < with_label:  # items after the labeled ones have no label
                item["label"] = str(root / f"{domain}_{k}_label.png")
                Image.fromarray(np.roll(mask, 2, axis=1)).save(item["label"])
            items.append(item)
    return items


class Brighter(torch.nn.Module):
    """A tiny model: logits of "brighter than ``level``" (background, foreground), averaged over ``stride`` pixels."""

    def __init__(self, level: float, stride: int = 1, gain: float = 12.0) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([-gain, gain]).view(2, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([gain * level, -gain * level]))
        self.pool = torch.nn.AvgPool2d(stride) if stride > 1 else torch.nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x))


def numpy_dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Dice of two boolean masks; 1 when both are empty."""
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else 2.0 * float((pred & true).sum()) / float(total)


def smoothed_dice(pred: np.ndarray, true: np.ndarray) -> float:
    """The upstream confidence Dice: (2|A and G| + 1) / (|A| + |G| + 1.001), 1 when both are empty."""
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else (2.0 * float((pred & true).sum()) + 1.0) / (float(total) + 1.001)


def expected_scores(item: dict, sam: Brighter, unet: Brighter, student: Brighter) -> dict[str, float]:
    """One item's quantities, computed here: SAM input S = 64, U-Net size R = 32, SAM logits L = 16."""
    sample = labeled_transforms(SIZE, augment=False)(item)
    x, label = sample["image"][None], sample["label"][0].numpy()  # 1 x 1 x 64 x 64, 64 x 64
    x_unet = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)  # 64 -> 32
    with torch.no_grad():
        p_sam, p_unet = sam(x).softmax(1), unet(x_unet).softmax(1)  # 1 x 2 x 16 x 16, 1 x 2 x 32 x 32
        student_fg = student(x_unet).argmax(1)[0].numpy() == 1
    sam_fg, unet_fg = p_sam.argmax(1)[0].numpy() == 1, p_unet.argmax(1)[0].numpy() == 1
    alpha = smoothed_dice(student_fg, unet_fg) * smoothed_dice(unet_fg[::2, ::2], sam_fg)
    ensemble = (1 - alpha) * F.interpolate(p_sam, size=(32, 32), mode="bilinear") + alpha * p_unet
    confidence, labels = ensemble.max(1)
    label_l, label_r = label[2::4, 2::4] == 1, label[1::2, 1::2] == 1  # nearest-exact (pixel centres) to 16, 32
    return {
        "dice_sam_teacher": numpy_dice(sam_fg, label_l),
        "dice_unet_teacher": numpy_dice(unet_fg, label_r),
        "dice_ensemble": numpy_dice(labels[0].numpy() == 1, label_r),
        "confident": float((confidence > THRESHOLD).float().mean()),
        "alpha": alpha,
    }


def test_logged_dice_equals_independent_dice_per_domain(tmp_path):
    items = write_items(tmp_path, {"A": 4, "B": 2}, {"A": 1, "C": 2})  # C has no label at all
    trainer = make_trainer(2, threshold=THRESHOLD)
    sam, unet, student = Brighter(0.5, stride=4), Brighter(0.45), Brighter(0.6)
    trainer.sam_teacher, trainer.unet_teacher, trainer.unet = sam, unet, student  # tiny models with known outputs
    monitor = PseudoLabelMonitor(items, SIZE, tmp_path / "eval", items_per_domain=3, batch_size=2)
    subset = [(i["domain"], i["case"]) for i in monitor.subset()]
    assert subset == [("A", "0"), ("B", "0"), ("A", "1"), ("B", "1"), ("A", "2")]
    monitor.attach(trainer)
    monitor(trainer)

    per_domain = {d: [expected_scores(i, sam, unet, student) for i in items if i["domain"] == d and "label" in i][:3]
                  for d in ("A", "B")}  # fmt: skip
    expected = {d: {q: float(np.mean([s[q] for s in scores])) for q in scores[0]} for d, scores in per_domain.items()}
    values = [v for d in expected.values() for k, v in d.items() if k in KINDS]
    assert 0.05 < min(values) and max(values) < 0.99 and len(set(np.round(values, 4))) > 3, "a test that can fail"
    assert 0.0 < expected["A"]["alpha"] < 1.0 and 0.0 < expected["A"]["confident"] < 1.0

    metrics = trainer.state.metrics
    report = json.loads((tmp_path / "eval" / "pseudo_labels.json").read_text())["validations"][-1]["pseudo_labels"]
    assert set(report) == {"A", "B", "Mean"}  # C: no item with a label
    for quantity in expected["A"]:
        for domain in ("A", "B"):
            assert metrics[f"pseudo_{quantity}/{domain}"] == pytest.approx(expected[domain][quantity], abs=1e-6)
            assert report[domain][quantity] == pytest.approx(expected[domain][quantity], abs=1e-6)
        mean = (expected["A"][quantity] + expected["B"][quantity]) / 2
        assert metrics[f"pseudo_{quantity}"] == pytest.approx(mean, abs=1e-6)
    assert not any(name.endswith("/C") for name in metrics)
    for name in ("pseudo_labels.csv", "pseudo_labels.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 0


def test_items_without_labels_are_skipped_and_nothing_is_written(tmp_path):
    items = write_items(tmp_path, {}, {"A": 2, "B": 1})
    trainer = make_trainer(2)
    monitor = PseudoLabelMonitor(items, SIZE, tmp_path / "eval")
    assert monitor.subset() == []
    monitor(trainer)
    assert not trainer.state.metrics and not monitor.history and not (tmp_path / "eval").exists()


def _run(with_monitor: bool, items: list[dict], out: Path) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Train 2 epochs of 2 iterations; the outputs of every iteration and every network's final state."""
    random.seed(0)  # the box sampler's stream
    trainer = make_trainer(2, iterations=2)
    trainer.state.max_epochs = 2
    if with_monitor:
        PseudoLabelMonitor(items, SIZE, out, items_per_domain=2, batch_size=2).attach(trainer)
    outputs = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: outputs.append(dict(e.state.output)))
    trainer.run()
    state = {f"{name}.{k}": v.clone() for name in ("network", "unet", "sam_teacher", "unet_teacher")
             for k, v in getattr(trainer, name).state_dict().items()}  # fmt: skip
    return outputs, state


def test_monitoring_feeds_nothing_back_into_training(tmp_path):
    items = write_items(tmp_path, {"A": 2, "B": 2}, {})
    with one_torch_thread():
        plain_outputs, plain_state = _run(False, items, tmp_path / "plain")
        outputs, state = _run(True, items, tmp_path / "monitored")
    history = json.loads((tmp_path / "monitored" / "pseudo_labels.json").read_text())["validations"]
    assert [r["iteration"] for r in history] == [2, 4]  # it ran in the middle of training, and at the end
    assert outputs == plain_outputs
    assert state.keys() == plain_state.keys()
    changed = [k for k in state if not torch.equal(state[k], plain_state[k])]
    assert not changed, f"monitoring changed {changed[:5]}"


def test_supervised_only_bundle_trains_without_monitor(tmp_path):
    tiny_dataset(tmp_path)
    with one_torch_thread():
        bundle_in_process("run", ["train.json", "supervised_only.json"], tmp_path, *TINY, "--max_iterations", "2",
                          "--val_interval", "2")  # fmt: skip
    assert (tmp_path / "models" / "model_unet.pt").is_file()
    assert not list((tmp_path / "eval").glob("pseudo_labels.*"))
