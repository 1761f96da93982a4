"""Evaluation: per-slice and per-case metrics, DomainDice, domain tables, writers, pictures, inferer, evaluator."""

from __future__ import annotations

import csv
import json
import math
import os
import socket

import pytest
import torch
from monai.bundle import ConfigParser
from monai.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from synfoc_components.engines import DomainEvaluator, ResizeInferer
from synfoc_components.handlers import DomainMetricsSaver
from synfoc_components.metrics import (
    CaseSlice,
    DomainDice,
    case_rows,
    merge_csv,
    merge_json,
    metric_rows,
    render_table,
    save_domain_bars,
    save_learning_curve,
    slice_metrics,
    summarize,
)
from synfoc_components.metrics import writers

STRUCTURES = [(1,), (1, 2)]  # fundus: cup, disc = cup + rim


def square(size: int = 8, rows: slice = slice(2, 6), cols: slice = slice(2, 6), value: int = 1) -> torch.Tensor:
    """A 1 x size x size class map with ``value`` in the given box."""
    out = torch.zeros(1, size, size, dtype=torch.long)
    out[0, rows, cols] = value
    return out


# ---------------------------------------------------------------- per-slice metrics


def test_slice_metrics_hand_computed():
    label = square()[None]  # 4 x 4 square: 16 pixels, 12 on its border
    pred = square(cols=slice(2, 4))[None]  # its left half: 8 pixels, all on the border
    m = slice_metrics(pred, label, [(1,)], spacing=[(2.0, 2.0)])
    assert m["dice"].item() == pytest.approx(2 * 8 / 24)
    assert m["jaccard"].item() == pytest.approx(8 / 16)
    # pred->gt border distances: six 0, two 1; gt->pred: six 0, two 1, four 2 -> 95th percentiles 1 and 2
    assert m["hd95"].item() == pytest.approx(2.0)
    assert m["asd"].item() == pytest.approx(2 / 8)  # medpy's asd(pred, gt): mean pred->gt distance
    assert m["hd95_mm"].item() == pytest.approx(4.0)
    assert m["asd_mm"].item() == pytest.approx(0.5)


def test_slice_metrics_empty_prediction_and_empty_ground_truth():
    empty = torch.zeros(1, 8, 8, dtype=torch.long)
    label = torch.stack([square(), empty, empty])
    pred = torch.stack([empty, empty, square()])
    m = slice_metrics(pred, label, [(1,)], spacing=[(0.5, 0.5)] * 3)
    # empty prediction: overlap 0, distances = 100 px penalty (50 mm at 0.5 mm / px)
    assert m["dice"][0].item() == 0 and m["jaccard"][0].item() == 0
    assert m["hd95"][0].item() == 100 and m["asd"][0].item() == 100 and m["hd95_mm"][0].item() == 50
    # empty ground truth: overlap 1 if the prediction is empty too, else 0; distances undefined (NaN)
    assert m["dice"][1].item() == 1 and m["jaccard"][1].item() == 1
    assert m["dice"][2].item() == 0 and m["jaccard"][2].item() == 0
    assert torch.isnan(m["hd95"][1:]).all() and torch.isnan(m["asd"][1:]).all()
    assert "hd95_mm" not in slice_metrics(pred, label, [(1,)])


def test_slice_metrics_structures_logits_and_resizing():
    label = square() + square(rows=slice(3, 5), cols=slice(3, 5))  # cup (1) ring 12 px, rim (2) core 4 px
    pred_ids = square()  # everything predicted as class 1
    logits = torch.nn.functional.one_hot(pred_ids[0], 3).permute(2, 0, 1).float()[None]
    a = slice_metrics(pred_ids[None], label[None], STRUCTURES)
    b = slice_metrics(logits, label[None], STRUCTURES)
    assert a["dice"][0].tolist() == pytest.approx([2 * 12 / 28, 1.0])  # cup: 12 of 16; disc: exact
    assert torch.equal(a["dice"], b["dice"])
    # class ids at half the label's size are nearest-resized to it
    half = pred_ids[:, ::2, ::2][None]
    assert slice_metrics(half, label[None], STRUCTURES)["dice"][0, 1].item() == pytest.approx(1.0)


# ---------------------------------------------------------------- DomainDice


def test_domain_dice_macro_over_domains():
    metric = DomainDice(structures=[[1]])
    metric.reset()
    good, bad = square(), torch.zeros(1, 8, 8, dtype=torch.long)
    # decollated lists, logits for the first batch and class ids for the second
    logits = torch.nn.functional.one_hot(good[0], 2).permute(2, 0, 1).float()
    metric.update(([logits, logits], [good, good[:, :, :]], ["A", "B"]))  # A: 1.0, B: 1.0
    metric.update(([bad], [good], ["A"]))  # A: 0.0
    assert metric.compute() == pytest.approx((0.5 + 1.0) / 2)  # mean of domain means, not 2/3
    assert metric.per_domain == {"A": [0.5], "B": [1.0]}
    with pytest.raises(ValueError, match="domains"):
        metric.update(([bad], [good], ["A", "B"]))


# ---------------------------------------------------------------- domain table and 3D


def test_summarize_and_render():
    names = ["cup", "disc"]
    metrics = {
        "dice": torch.tensor([[0.5, 1.0], [0.7, 0.9], [0.2, 0.4]]),
        "jaccard": torch.tensor([[0.4, 1.0], [0.6, 0.8], [0.1, 0.3]]),
        "hd95": torch.tensor([[2.0, float("nan")], [4.0, 1.0], [100.0, 3.0]]),
        "asd": torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),
    }
    rows = metric_rows(metrics, names, "sam", ["A", "A", "B"], ["c1", "c1", "c2"], [0, 1, 0])
    assert len(rows) == 6 and rows[1] == {**rows[1], "domain": "A", "structure": "disc", "dice": 1.0}
    assert math.isnan(rows[0]["hd95_mm"])
    s = summarize(rows, names)
    a, mean = s["domains"]["A"], s["Mean"]
    assert a["cup"]["dice"] == pytest.approx(0.6) and a["disc"]["dice"] == pytest.approx(0.95)
    assert a["average"]["dice"] == pytest.approx(0.775) and a["count"] == 2
    assert a["disc"]["hd95"] == pytest.approx(1.0)  # NaN excluded
    assert mean["cup"]["dice"] == pytest.approx((0.6 + 0.2) / 2)
    assert mean["average"]["dice"] == pytest.approx((0.775 + 0.3) / 2) and mean["count"] == 3
    text = render_table(s, names, title="sam")
    assert "DSC Avg" in text and "Mean" in text and "77.50" in text and "HD95 mm" not in text


def test_case_rows_stack_slices_in_order():
    empty = torch.zeros(8, 8, dtype=torch.uint8)
    gt, pr = square()[0].to(torch.uint8), square()[0].to(torch.uint8)
    # ground truth on slices 0 and 1, prediction on slices 1 and 2; given out of order
    slices = [
        CaseSlice("A", "c1", 2, pr, empty, (0.5, 0.5, 3.0)),
        CaseSlice("A", "c1", 0, empty, gt, (0.5, 0.5, 3.0)),
        CaseSlice("A", "c1", 1, pr, gt, (0.5, 0.5, 3.0)),
        CaseSlice("B", "c1", 0, pr, gt, (0.5, 0.5)),  # same case name in another domain: another case
    ]
    rows = case_rows(slices, [(1,)], ["fg"], "unet")
    assert [(r["domain"], r["case"], r["slice"]) for r in rows] == [("A", "c1", None), ("B", "c1", None)]
    assert rows[0]["dice"] == pytest.approx(0.5) and rows[1]["dice"] == pytest.approx(1.0)
    volume_pred = torch.stack([empty, pr, pr])[None, None].long()
    volume_gt = torch.stack([gt, gt, empty])[None, None].long()
    expected = slice_metrics(volume_pred, volume_gt, [(1,)], spacing=[(3.0, 0.5, 0.5)])
    for key in ("hd95", "asd", "hd95_mm", "asd_mm"):
        assert rows[0][key] == pytest.approx(expected[key].item())
    assert rows[0]["hd95_mm"] != pytest.approx(rows[0]["hd95"] * 0.5)  # slice thickness is used
    assert math.isnan(rows[1]["hd95_mm"])  # no slice thickness known


# ---------------------------------------------------------------- writers and pictures


def test_merge_writers(tmp_path):
    path_json, path_csv = tmp_path / "metrics.json", tmp_path / "metrics.csv"
    merge_json(path_json, "sam", {"x": float("nan"), "y": 1.0})
    merge_json(path_json, "unet", {"y": 2.0})
    assert json.loads(path_json.read_text()) == {"sam": {"x": None, "y": 1.0}, "unet": {"y": 2.0}}
    merge_csv(path_csv, [{"model": "sam", "dice": 0.5}, {"model": "sam", "dice": float("nan")}], "sam")
    merge_csv(path_csv, [{"model": "unet", "dice": 0.7, "extra": 1}], "unet")
    merge_csv(path_csv, [{"model": "sam", "dice": 0.9}], "sam")  # replaces sam's rows only
    with open(path_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["dice"], r["extra"]) for r in rows] == [("unet", "0.7", "1"), ("sam", "0.9", "")]


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    merge_json(path, "sam", {"dice": 0.5})
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(writers.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        merge_json(path, "unet", {"dice": 0.7})
    monkeypatch.undo()

    def broken_write(f):
        f.write("{half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        writers.atomic_write(path, broken_write)
    assert path.read_text() == before and os.listdir(tmp_path) == ["metrics.json"]  # no temp file left


def test_learning_curve_and_bars(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    save_learning_curve(tmp_path / "curve.png", [(500, 0.5), (1000, 0.7)], ylabel="val_mean_dice")
    writer = SummaryWriter(log_dir=str(tmp_path / "tb"))
    for step, value in [(1, 0.2), (2, 0.4)]:
        writer.add_scalar("val_mean_dice", value, step)
    writer.close()
    save_learning_curve(tmp_path / "tb_curve.png", str(tmp_path / "tb"), tags=["val_mean_dice"])
    rows = metric_rows({"dice": torch.tensor([[0.5], [0.8]])}, ["fg"], "sam", ["A", "B"], ["1", "2"], [0, 0])
    save_domain_bars(tmp_path / "bars.png", summarize(rows, ["fg"]), ["fg"])
    for name in ("curve.png", "tb_curve.png", "bars.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(FileNotFoundError):
        save_learning_curve(tmp_path / "none.png", str(tmp_path / "empty_folder"))


# ---------------------------------------------------------------- inferer and evaluator


@pytest.mark.parametrize("size, input_size", [(32, 64), (64, 32), (32, None), (32, 32)])
def test_resize_inferer_shapes(size, input_size):
    seen = []

    def quarter_net(x):  # a SAM-like network: logits at a quarter of its input size
        seen.append(tuple(x.shape[-2:]))
        return torch.nn.functional.avg_pool2d(x.repeat(1, 3, 1, 1), 4)

    out = ResizeInferer(input_size)(torch.rand(2, 1, size, size), quarter_net)
    assert out.shape == (2, 3, size, size)
    assert seen == [(input_size or size,) * 2]


def _threshold_net() -> torch.nn.Module:
    """1x1 conv whose argmax is class 1 exactly where the image is above 0.5."""
    net = torch.nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([0.0, 1.0]).view(2, 1, 1, 1))
        net.bias.copy_(torch.tensor([0.5, 0.0]))
    return net


def test_domain_evaluator_end_to_end(tmp_path):
    full, half = square(16, slice(4, 12), slice(4, 12)), square(16, slice(4, 12), slice(4, 8))
    data = []
    for domain, (lab, img) in {"A": (full, full), "B": (full, half)}.items():  # A perfect, B Dice 2/3
        for i in range(3):
            data.append({"image": img.float(), "label": lab, "domain": domain, "case": f"c{i // 2}", "slice": i,
                         "spacing": (0.5, 0.5)})
    loader = DataLoader(data, batch_size=2, shuffle=False, num_workers=0)
    config = {
        "output_dir": str(tmp_path),
        "network": "$torch.nn.Identity()",
        "validate": {
            "inferer": {"_target_": "synfoc_components.engines.ResizeInferer", "input_size": None},
            "key_metric": {
                "val_mean_dice": {
                    "_target_": "synfoc_components.metrics.DomainDice",
                    "structures": [[1]],
                    "output_transform": "$monai.handlers.from_engine(['pred', 'label', 'domain'])",
                }
            },
            "handlers": [
                {
                    "_target_": "synfoc_components.handlers.DomainMetricsSaver",
                    "output_dir": "@output_dir",
                    "model_name": "unet",
                    "structures": [[1]],
                    "structure_names": ["prostate"],
                    "volumetric": True,
                    "num_overlays_per_domain": 2,
                    "only_on_best": True,
                }
            ],
            "evaluator": {
                "_target_": "synfoc_components.engines.DomainEvaluator",
                "device": "$torch.device('cpu')",
                "val_data_loader": "$None",
                "network": "@network",
                "inferer": "@validate#inferer",
                "key_val_metric": "@validate#key_metric",
                "val_handlers": "@validate#handlers",
            },
        },
    }
    parser = ConfigParser(config)
    parser["network"] = _threshold_net()
    parser["validate"]["evaluator"]["val_data_loader"] = loader
    evaluator = parser.get_parsed_content("validate#evaluator")
    evaluator.run()

    metrics = evaluator.state.metrics
    assert metrics["val_mean_dice"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert metrics["val_mean_dice/B"] == pytest.approx(2 / 3)
    report = json.loads((tmp_path / "metrics.json").read_text())["unet"]
    assert report["slices"]["Mean"]["average"]["dice"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert report["slices"]["domains"]["A"]["count"] == 3 and report["slices"]["domains"]["B"]["prostate"]["hd95_mm"]
    assert report["cases"]["domains"]["B"]["count"] == 2  # cases c0 (slices 0, 1) and c1 (slice 2)
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {r["model"] for r in rows} == {"unet"} and rows[2]["slice"] == "2"
    for name in ("unet_overlays.png", "unet_domains.png", "unet_curve.png", "metrics_cases.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert report["epoch"] == 1
    (tmp_path / "metrics.json").unlink()
    evaluator.run(2)  # as ValidationHandler does at the next validation: no improvement, so no new report
    assert not (tmp_path / "metrics.json").exists()


def _distributed_evaluation(rank: int, world: int, port: int, output_dir: str) -> None:
    """One rank of a 2-process gloo evaluation over a DistributedSampler (for the test below)."""
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        full, half = square(16, slice(4, 12), slice(4, 12)), square(16, slice(4, 12), slice(4, 8))
        data = [
            {"image": (half if i % 3 == 0 else full).float(), "label": full, "domain": "AB"[i % 2],
             "case": f"c{i // 4}", "slice": i}
            for i in range(8)
        ]
        loader = DataLoader(data, batch_size=1, sampler=DistributedSampler(data, shuffle=False))
        evaluator = DomainEvaluator(
            device=torch.device("cpu"), val_data_loader=loader, network=_threshold_net(), inferer=ResizeInferer(),
            key_val_metric={"dice": DomainDice([[1]])},
            val_handlers=[DomainMetricsSaver(output_dir, "sam", [[1]], ["fg"], volumetric=True)],
        )
        evaluator.run()
        with open(os.path.join(output_dir, f"rank{rank}.json"), "w") as f:
            json.dump(evaluator.state.metrics, f)
    finally:
        torch.distributed.destroy_process_group()


def test_distributed_evaluation_equals_single_process(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.start_processes(
        _distributed_evaluation, args=(2, port, str(tmp_path)), nprocs=2, start_method="fork"
    )
    # single process: A = slices 0, 2, 4, 6 -> Dice 2/3, 1, 1, 2/3; B = 1, 3, 5, 7 -> 1, 2/3, 1, 1
    expected = ((2 / 3 + 1 + 1 + 2 / 3) / 4 + (1 + 2 / 3 + 1 + 1) / 4) / 2
    for rank in (0, 1):  # every rank gets the reduced value
        assert json.loads((tmp_path / f"rank{rank}.json").read_text())["dice"] == pytest.approx(expected)
    report = json.loads((tmp_path / "metrics.json").read_text())["sam"]
    assert report["slices"]["Mean"]["average"]["dice"] == pytest.approx(expected)
    assert report["slices"]["Mean"]["count"] == 8 and report["cases"]["Mean"]["count"] == 4
