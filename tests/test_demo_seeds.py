"""bench.demo_seeds: the README seed tables from the runs' test Dice, and the demo settings read from each bundle."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is not installed with the package: import it from the checkout
    sys.path.insert(0, str(REPO))

from bench.demo_seeds import curve_table, demo_settings, overview, saved_runs, table  # noqa: E402


def run(arm: str, seed: int, sam: float, unet: float, wall: float) -> dict:
    return {"bundle": "busi", "arm": arm, "seed": seed, "wall_s": wall,
            "test_dice": {"sam": {"mean": sam}, "unet": {"mean": unet}}}  # fmt: skip


def test_table_rows_differences_and_means():
    runs = [run("synfoc", 1337, 0.80, 0.70, 280.4), run("supervised_only", 1337, 0.83, 0.60, 130.0),
            run("synfoc", 1, 0.82, 0.66, 300.0), run("supervised_only", 1, 0.81, 0.76, 140.0),
            {"bundle": "busi", "arm": "synfoc", "seed": 2, "error": "failed"}]  # fmt: skip
    lines = table(runs, "busi").splitlines()
    assert lines[2] == "| 1337 | 80.00 | 83.00 | -3.00 | 70.00 | 60.00 | 280 / 130 |"
    assert lines[3] == "| 1 | 82.00 | 81.00 | +1.00 | 66.00 | 76.00 | 300 / 140 |"
    assert lines[4] == "| mean | 81.00 | 82.00 | -1.00 | 68.00 | 68.00 | |"
    assert len(lines) == 5, "a seed without both arms has no row"


def test_overview_has_each_bundles_seed_means_and_every_seeds_difference():
    runs = [run("synfoc", 1337, 0.80, 0.70, 280.0), run("supervised_only", 1337, 0.83, 0.60, 130.0),
            run("synfoc", 1, 0.82, 0.66, 300.0), run("supervised_only", 1, 0.81, 0.76, 140.0),
            {**run("synfoc", 1337, 0.9, 0.8, 500.0), "bundle": "prostate"},
            {**run("supervised_only", 1337, 0.85, 0.7, 250.0), "bundle": "prostate"},
            {**run("synfoc", 1, 0.9, 0.8, 500.0), "bundle": "prostate"}]  # fmt: skip
    lines = overview(runs).splitlines()
    assert lines[2] == "| busi | 1337, 1 | 81.00 | 82.00 | -1.00 (-3.00, +1.00) | 68.00 | 68.00 | 290 / 135 |"
    assert lines[3] == "| prostate | 1337 | 90.00 | 85.00 | +5.00 (+5.00) | 80.00 | 70.00 | 500 / 250 |"
    assert len(lines) == 4


def quality(sam: float, unet: float, ensemble: float) -> dict:
    return {"dice_sam_teacher": sam, "dice_unet_teacher": unet, "dice_ensemble": ensemble,
            "confident": 0.9, "alpha": 1.25}  # fmt: skip


def test_curve_table_lists_every_validation_then_each_domain_at_the_last():
    record = {
        "iteration": 40,
        "pseudo_labels": {"benign": quality(0.8, 0.6, 0.7), "malignant": quality(0.4, 0.2, 0.3),
                          "Mean": quality(0.6, 0.4, 0.5)},
        "students": {"val_dice_sam": {"benign": 0.85, "Mean": 0.75}, "val_dice_unet": {"Mean": 0.5}},
    }  # fmt: skip
    later = {**record, "iteration": 80}
    lines = curve_table({"pseudo_labels": [record, later]}).splitlines()
    assert lines[2] == "| 40 | Mean | 60.0 | 40.0 | 50.0 | 90.0 | 1.25 | 75.0 | 50.0 |"
    assert lines[3].startswith("| 80 | Mean |")
    assert lines[4] == "| 80 | benign | 80.0 | 60.0 | 70.0 | 90.0 | 1.25 | 85.0 |  |"
    assert lines[5] == "| 80 | malignant | 40.0 | 20.0 | 30.0 | 90.0 | 1.25 |  |  |"
    assert curve_table({"pseudo_labels": []}) == "", "the supervised-only arm has no curve"


@pytest.mark.parametrize("bundle", ["prostate", "busi"])
def test_demo_settings_are_the_bundles_own(bundle):
    demo = json.loads((REPO / "bundles" / bundle / "configs" / "demo.json").read_text())
    assert demo_settings(bundle) == {"max_iterations": demo["max_iterations"], "val_interval": demo["val_interval"]}


def test_report_joins_runs_saved_apart_at_one_budget(tmp_path):
    first, later, longer = (tmp_path / name for name in ("1337.json", "1_2.json", "long.json"))
    first.write_text(json.dumps({"args": {"iterations_factor": 1}, "runs": [run("synfoc", 1337, 0.8, 0.7, 280.0)]}))
    later.write_text(json.dumps({"args": {"iterations_factor": 1}, "runs": [run("synfoc", 1, 0.82, 0.66, 300.0)]}))
    longer.write_text(json.dumps({"args": {"iterations_factor": 4}, "runs": [run("synfoc", 1, 0.9, 0.8, 900.0)]}))
    assert [r["seed"] for r in saved_runs([str(first), str(later)])] == [1337, 1]
    with pytest.raises(SystemExit, match="different --iterations-factor"):
        saved_runs([str(first), str(longer)])
