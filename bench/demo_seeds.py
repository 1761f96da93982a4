"""The bundles' CPU demos over several seeds, both arms: the tables of the bundle READMEs' Performance sections.

    python -m bench.demo_seeds --json demo_seeds.json                       # six demos x seeds 1337, 1, 2 x both arms
    python -m bench.demo_seeds --bundles fundus busi --seeds 1337 --iterations-factor 4 --json long.json
    python -m bench.demo_seeds --report long.json                           # the tables again, from the file
    python -m bench.demo_seeds --report seed1337.json seeds12.json          # one table from runs saved apart

For each bundle the demo data are generated once (``train.json`` + ``demo.json``'s ``datalist``: the phantom and the
prepare options the bundle itself uses) into ``<work-dir>/<bundle>/data``; then every seed runs both arms,
``train.json`` + ``demo.json`` (SynFoC) and the same + ``supervised_only.json``, each the bundle's own ``python -m
monai.bundle run training`` in a fresh bundle root. ``--iterations-factor`` multiplies ``demo.json``'s
``max_iterations`` and ``val_interval`` (the same number of validations, further apart). Recorded per run: the wall
time, the test Dice of both students per domain and overall (``eval/metrics.json``), and the pseudo-label curve of
SynFoC's runs (``eval/pseudo_labels.json``: the teachers' and the ensemble's Dice on unlabeled items against the
students' validation Dice). The tables printed at the end are in the READMEs' form. ``--json`` is rewritten after
every run, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from .common import machine_info, write_json
from .paper_run import ARMS, bundle_command, dice_on_test_split, fresh
from .processes import run_limited

logger = logging.getLogger("bench.demo_seeds")

BUNDLES_DIR = Path(__file__).resolve().parents[1] / "bundles"
DEMO = ["demo.json"]
QUICK = {"foundation": "tiny", "sam_size": 64, "sam_logit_stride": 4, "unet_size": 64, "unet_channels": 4,
         "num_workers": 0, "batch_size": 2, "max_iterations": 2, "val_interval": 2}  # fmt: skip
"""``--quick``: tiny networks for two iterations (checks the script runs; the Dice mean nothing)."""


def demo_settings(bundle: str) -> dict[str, Any]:
    """``max_iterations`` and ``val_interval`` of ``bundle``'s ``train.json`` + ``demo.json``."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(BUNDLES_DIR / bundle / "configs" / name) for name in ("train.json", *DEMO)])
    return {key: int(parser.get_parsed_content(key)) for key in ("max_iterations", "val_interval")}


def demo_data(bundle: str, folder: Path) -> dict[str, Any]:
    """Generate ``bundle``'s demo data into ``folder`` as its training command would; the seconds it took."""
    from monai.bundle import ConfigParser

    start = time.perf_counter()
    parser = ConfigParser()
    parser.read_config([str(BUNDLES_DIR / bundle / "configs" / name) for name in ("train.json", *DEMO)])
    parser["dataset_dir"] = str(folder)
    parser.get_parsed_content("datalist")
    return {"dir": str(folder), "seconds": time.perf_counter() - start}


def pseudo_label_curve(eval_dir: Path) -> list[dict[str, Any]]:
    """SynFoC's pseudo-label quality at each validation (empty for the supervised-only arm)."""
    path = eval_dir / "pseudo_labels.json"
    return json.loads(path.read_text())["validations"] if path.is_file() else []


def run_one(bundle: str, arm: str, seed: int, work: Path, overrides: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One training run; its wall time, test Dice and pseudo-label curve, or ``error``."""
    root = fresh(work / bundle / f"{arm}_seed{seed}")
    configs = list(dict.fromkeys(["train.json", *DEMO, *ARMS[arm]]))  # train.json, demo.json, then the arm's own
    cmd = bundle_command("training", configs, root, {**overrides, "seed": seed}, BUNDLES_DIR / bundle / "configs")
    with open(root.parent / f"{arm}_seed{seed}.log", "w") as log:
        result = run_limited(cmd, timeout, stdout=log, group=False)
    result.update(bundle=bundle, arm=arm, seed=seed, configs=configs, bundle_root=str(root))
    if result["status"] != "ok":
        result["error"] = f"{bundle} {arm} seed {seed} {result['status']} (rc {result['rc']}): see {log.name}"
        return result
    result["test_dice"] = dice_on_test_split(root / "eval")
    result["pseudo_labels"] = pseudo_label_curve(root / "eval")
    return result


def markdown_header(columns: list[str]) -> list[str]:
    """The first two lines of a README table with ``columns``."""
    return ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]


def paired(runs: list[dict[str, Any]], bundle: str) -> list[tuple[int, list[float], list[float]]]:
    """Per seed of ``bundle`` with both arms done: the seed, the five Dice columns of :func:`table` (SynFoC SAM,
    supervised SAM, their difference, SynFoC U-Net, supervised U-Net; in %) and the two wall times (SynFoC,
    supervised), in the order the runs were made."""
    done = {(r["arm"], r["seed"]): r for r in runs if r["bundle"] == bundle and "test_dice" in r}
    rows = []
    for seed in dict.fromkeys(r["seed"] for r in runs if r["bundle"] == bundle):
        synfoc, sup = done.get(("synfoc", seed)), done.get(("supervised_only", seed))
        if synfoc and sup:
            sam, unet = ([100 * r["test_dice"][model]["mean"] for r in (synfoc, sup)] for model in ("sam", "unet"))
            rows.append((seed, [sam[0], sam[1], sam[0] - sam[1], *unet], [synfoc["wall_s"], sup["wall_s"]]))
    return rows


def dice_cells(values: list[float]) -> list[str]:
    """:func:`paired`'s five Dice columns as table cells (the difference signed)."""
    return [f"{v:+.2f}" if i == 2 else f"{v:.2f}" for i, v in enumerate(values)]


def column_means(rows: list[tuple[int, list[float], list[float]]]) -> tuple[list[float], list[float]]:
    """The mean over seeds of :func:`paired`'s Dice columns and of its wall times."""
    return ([statistics.mean(c) for c in zip(*(values for _, values, _ in rows))],
            [statistics.mean(c) for c in zip(*(walls for _, _, walls in rows))])  # fmt: skip


def table(runs: list[dict[str, Any]], bundle: str) -> str:
    """The README's seed table of ``bundle``: mean test Dice (%) of both students in both arms, and wall times."""
    header = ["seed", "SynFoC SAM", "supervised SAM", "difference", "SynFoC U-Net", "supervised U-Net", "seconds"]
    lines = markdown_header(header)
    rows = paired(runs, bundle)
    for seed, values, walls in rows:
        lines.append(f"| {seed} | " + " | ".join(dice_cells(values)) + f" | {walls[0]:.0f} / {walls[1]:.0f} |")
    if len(rows) > 1:
        lines.append("| mean | " + " | ".join(dice_cells(column_means(rows)[0])) + " | |")
    return "\n".join(lines)


def overview(runs: list[dict[str, Any]]) -> str:
    """The top README's table: per bundle, the seed means of both students in both arms, the difference on each
    seed and the mean wall times (seconds, SynFoC / supervised)."""
    header = ["bundle", "seeds", "SynFoC SAM", "supervised SAM", "difference (each seed)", "SynFoC U-Net",
              "supervised U-Net", "seconds"]  # fmt: skip
    lines = markdown_header(header)
    for bundle in dict.fromkeys(r["bundle"] for r in runs):
        rows = paired(runs, bundle)
        if not rows:
            continue
        means, walls = column_means(rows)
        cells = dice_cells(means)
        cells[2] += " (" + ", ".join(f"{values[2]:+.2f}" for _, values, _ in rows) + ")"
        seeds = ", ".join(str(seed) for seed, _, _ in rows)
        lines.append(f"| {bundle} | {seeds} | " + " | ".join(cells) + f" | {walls[0]:.0f} / {walls[1]:.0f} |")
    return "\n".join(lines)


PERCENT = ("dice_sam_teacher", "dice_unet_teacher", "dice_ensemble", "confident")
"""The pseudo-label quantities :func:`curve_table` shows in %, in its column order (then alpha)."""


def curve_table(run: dict[str, Any]) -> str:
    """The pseudo-label curve of one SynFoC run as a README table: per validation, the mean over domains of the two
    teachers' and the ensemble's Dice on unlabeled items, the confident share and alpha, then the students' validation
    Dice (all in %, alpha as is); a last row per domain at the final validation."""
    curve = run.get("pseudo_labels") or []
    if not curve:
        return ""
    header = ["iteration", "domain", "SAM teacher", "U-Net teacher", "ensemble", "confident", "alpha",
              "SAM student (val)", "U-Net student (val)"]  # fmt: skip
    lines = markdown_header(header)

    def row(record: dict[str, Any], domain: str) -> str:
        quality = record["pseudo_labels"][domain]
        students = [record["students"].get(name, {}).get(domain) for name in ("val_dice_sam", "val_dice_unet")]
        cells = [f"{100 * quality[q]:.1f}" for q in PERCENT]
        cells += [f"{quality['alpha']:.2f}"] + ["" if v is None else f"{100 * v:.1f}" for v in students]
        return f"| {record['iteration']} | {domain} | " + " | ".join(cells) + " |"

    lines += [row(record, "Mean") for record in curve]
    last = curve[-1]
    lines += [row(last, domain) for domain in last["pseudo_labels"] if domain != "Mean"]
    return "\n".join(lines)


def report(runs: list[dict[str, Any]]) -> str:
    """The overview of every bundle, then each bundle's seed table and the pseudo-label curve of each SynFoC run."""
    parts = [f"overview\n{overview(runs)}"]
    for bundle in dict.fromkeys(r["bundle"] for r in runs):
        parts.append(f"{bundle}\n{table(runs, bundle)}")
        for run in runs:
            if run["bundle"] == bundle and run.get("pseudo_labels"):
                parts.append(f"{bundle} SynFoC seed {run['seed']}: pseudo-labels\n{curve_table(run)}")
    return "\n\n".join(parts)


def saved_runs(paths: list[str]) -> list[dict[str, Any]]:
    """The runs of earlier ``--json`` files, in order, so a seed table can join runs measured apart.

    Raises:
        SystemExit: when the files ran the demos at different ``--iterations-factor`` (one table, one budget).
    """
    payloads = {path: json.loads(Path(path).read_text()) for path in paths}
    factors = {path: p["args"].get("iterations_factor", 1) for path, p in payloads.items()}
    if len(set(factors.values())) > 1:
        raise SystemExit(f"--report: the files ran different --iterations-factor, one table cannot join them: {factors}")
    return [run for payload in payloads.values() for run in payload["runs"]]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", nargs="+", default=sorted(p.parent.name for p in BUNDLES_DIR.glob("*/configs")))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1337, 1, 2])
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--iterations-factor", type=int, default=1, help="x demo.json's iterations and val_interval")
    parser.add_argument("--work-dir", default="/tmp/synfoc-demo-seeds", help="data, bundle roots and logs")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="per run")
    parser.add_argument("--quick", action="store_true", help="tiny networks, 2 iterations: checks the script runs")
    parser.add_argument("--json", dest="json_path", help="write the results here (after every run)")
    parser.add_argument("--report", nargs="+", metavar="JSON",
                        help="print the tables of earlier --json files (their runs joined); run nothing")
    args = parser.parse_args(argv)
    if args.report:
        runs = saved_runs(args.report)
        print(report(runs), flush=True)
        return {"runs": runs}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    work = Path(args.work_dir)
    payload: dict[str, Any] = {"benchmark": "demo_seeds", "args": vars(args), "machine": machine_info(),
                               "data": {}, "runs": []}  # fmt: skip
    for bundle in args.bundles:
        if args.quick:
            overrides = dict(QUICK)
        else:
            overrides = {k: v * args.iterations_factor for k, v in demo_settings(bundle).items()}
        payload["data"][bundle] = data = demo_data(bundle, work / bundle / "data")
        overrides["dataset_dir"] = data["dir"]
        for seed in args.seeds:
            for arm in args.arms:
                result = run_one(bundle, arm, seed, work, overrides, args.timeout_s)
                payload["runs"].append(result)
                logger.info("%s %s seed %d: %s", bundle, arm, seed, result.get("error") or
                            {m: round(100 * d["mean"], 2) for m, d in result["test_dice"].items()})  # fmt: skip
                write_json(args.json_path, payload)
        runs = [r for r in payload["runs"] if r["bundle"] == bundle]
        print(f"\n{bundle} (iterations {overrides['max_iterations']})\n{report(runs)}", flush=True)
    failed = [r["error"] for r in payload["runs"] if "error" in r]
    if failed:
        raise SystemExit("runs failed:\n" + "\n".join(failed))
    return payload


if __name__ == "__main__":
    main()
