"""A paper-size training run of both arms on the prostate phantom: SynFoC, then supervised only, same data and seed.

    python -m bench.paper_run --json training.json           # LiteMedSAM 256 + U-Net 64 at 384, 4+4, bf16 on a GPU
    python -m bench.paper_run --budget-s 420 --arm-seconds 150 --num-workers 6 --json training.json

1. The data: the prostate bundle's phantom (what ``ensure_demo_dataset`` makes for an empty ``dataset_dir``), a
   smaller phantom with ``--phantom`` (``write_prostate_demo`` options) and ``--prepare`` (``prepare`` options), or
   a prepared ``--data-dir``.
2. A probe: the real bundle command (``run``: training and one validation) for ``--probe-warmup`` +
   ``--probe-iterations`` iterations, logging every iteration; ms per iteration from the wall times TensorBoard
   recorded after the warm-up, plus the seconds before the first iteration and after the last.
3. Both arms (``train.json``; ``train.json`` + ``supervised_only.json``) with one ``max_iterations``: as many SynFoC
   iterations as fit in ``--arm-seconds`` (start-up, validations and test included), or in half of what is left of
   ``--budget-s`` when that is shorter (the supervised arm's iterations are cheaper: it ends sooner); each is
   ``python -m monai.bundle run training`` (train with ``--validations`` validations, then the test split) in its
   own bundle root. One ``max_iterations`` for both, so that their Dice compare at the same schedule (the
   consistency ramp follows it too). Per-site test Dice of both models of each arm (``eval/metrics.json``), wall
   times and the pace TensorBoard recorded.

``--json`` is written after every stage, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .common import write_json
from .demo_data import CONFIGS
from .processes import run_limited

logger = logging.getLogger("bench.paper_run")

#: The two arms: name -> the prostate bundle's config files, layered in this order.
ARMS = {"synfoc": ["train.json"], "supervised_only": ["train.json", "supervised_only.json"]}


def prepare_dataset(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The prepared dataset both arms train on; returns its folder, the seconds it took and its split sizes."""
    from synfoc_components.data import ensure_demo_dataset, prepare
    from synfoc_components.data.demo.prostate import write_prostate_demo

    start = time.perf_counter()
    if args.data_dir:
        folder = Path(args.data_dir)
    elif args.phantom is None:
        folder = work / "data"
        ensure_demo_dataset(str(folder), "prostate", **args.prepare)
    else:
        folder = work / "data"
        source = write_prostate_demo(str(work / "source"), **args.phantom).parent
        prepare("prostate", source=str(source), out=str(folder), **args.prepare)
    datalist = json.loads((folder / "datalist.json").read_text())
    counts = {split: len(datalist.get(split, [])) for split in ("labeled", "unlabeled", "val", "test")}
    return {"dir": str(folder), "seconds": time.perf_counter() - start, "counts": counts}


def bundle_command(
    run_id: str, configs: list[str], root: Path, overrides: dict[str, Any], folder: Path = CONFIGS
) -> list[str]:
    """``python -m monai.bundle run`` of ``configs`` in ``folder`` (default: the prostate bundle's) under ``root``,
    with ``overrides``."""
    files = "[" + ",".join(f"'{folder / c}'" for c in configs) + "]"
    cmd = [sys.executable, "-m", "monai.bundle", "run", run_id, "--config_file", files, "--bundle_root", str(root)]
    cmd += ["--meta_file", str(folder / "metadata.json"), "--logging_file", str(folder / "logging.conf")]
    for key, value in overrides.items():
        cmd += [f"--{key}", str(value)]  # fire reads True / False / numbers as Python literals
    return cmd


def iteration_times(event_dir: Path) -> list[tuple[int, float]]:
    """(iteration, wall time) of every logged training iteration in a bundle's TensorBoard events (``eval/``).

    The trainer's output terms are logged every ``log_interval`` iterations, the evaluators' metrics once per
    validation; the tag with the most points is a training term.
    """
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    accumulator = EventAccumulator(str(event_dir), size_guidance={SCALARS: 0})
    accumulator.Reload()
    tags = accumulator.Tags()[SCALARS]
    if not tags:
        raise RuntimeError(f"{event_dir}: no TensorBoard scalars (did the run train any iteration?)")
    events = max((accumulator.Scalars(tag) for tag in tags), key=len)
    first: dict[int, float] = {}
    for event in events:
        first.setdefault(event.step, event.wall_time)
    return sorted(first.items())


def pace(times: list[tuple[int, float]], skip: int = 0) -> dict[str, Any]:
    """Milliseconds per iteration between logged points after iteration ``skip``: the mean over the span and the
    median of the steps between consecutive points (which leaves validations out)."""
    times = [(step, wall) for step, wall in times if step >= skip]
    if len(times) < 2:
        return {"iterations_timed": 0, "mean_ms": math.nan, "median_ms": math.nan}
    rates = [1e3 * (w1 - w0) / (s1 - s0) for (s0, w0), (s1, w1) in zip(times, times[1:])]
    span = times[-1][0] - times[0][0]
    return {"iterations_timed": span, "mean_ms": 1e3 * (times[-1][1] - times[0][1]) / span,
            "median_ms": statistics.median(rates)}  # fmt: skip


def size_run(
    probe: dict[str, Any], seconds_left: float, arm_seconds: float, validations: int, margin_s: float = 0.0,
    min_iterations: int = 1, max_iterations: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """One ``max_iterations`` for both arms: as many as fit in an arm's share of the time at the probe's pace.

    Args:
        probe: :func:`run_probe`'s result: ``pace["mean_ms"]``, ``startup_s`` and ``tail_s`` (one validation and the
            end of the process).
        seconds_left: what is left of the budget.
        arm_seconds: wall seconds per arm at most, its start-up, validations and test evaluation included.
        validations: validations per arm; with the test evaluation each is taken to last the probe's tail.
        margin_s: seconds of ``seconds_left`` kept spare.
        min_iterations: at least this many, even when they do not fit (before rounding down to whole validation
            intervals).
        max_iterations: at most this many (0: no cap).

    Returns:
        ``iterations`` (a multiple of ``val_interval``), ``val_interval``, ``log_interval`` (about 100 logged
        points) and what they were sized from.
    """
    ms = probe["pace"]["mean_ms"]
    per_arm = min(arm_seconds, (seconds_left - margin_s) / len(ARMS))
    overhead = probe["startup_s"] + (validations + 1) * probe["tail_s"]
    train_s = per_arm - overhead
    fit = int(train_s * 1e3 / ms) if math.isfinite(ms) and ms > 0 and train_s > 0 else 0
    iterations = int(min(max(fit, min_iterations), max_iterations or math.inf))
    val_interval = max(1, iterations // validations)
    iterations = val_interval * max(1, iterations // val_interval)
    return {"iterations": iterations, "val_interval": val_interval, "log_interval": max(1, iterations // 100),
            "ms_per_iteration": ms, "iterations_that_fit": fit, "arm_s_planned": per_arm, "train_s_planned": train_s,
            "overhead_s_per_arm": overhead, "seconds_left": seconds_left}  # fmt: skip


def dice_on_test_split(eval_dir: Path) -> dict[str, Any]:
    """Per-site and mean test Dice (structure average, fraction) of each model in ``eval_dir/metrics.json``."""
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    out = {}
    for model, report in metrics.items():
        summary = report["slices"]
        out[model] = {"per_site": {d: v["average"]["dice"] for d, v in summary["domains"].items()},
                      "mean": summary["Mean"]["average"]["dice"]}  # fmt: skip
    return out


def overrides_from(args: argparse.Namespace, dataset_dir: str) -> dict[str, Any]:
    """The bundle keys both arms and the probe share (sizes, batch, workers, seed, precision, data)."""
    overrides = {"foundation": args.foundation, "sam_size": args.sam_size, "sam_logit_stride": args.sam_logit_stride,
                 "unet_size": args.unet_size, "unet_channels": args.unet_channels, "batch_size": args.batch,
                 "num_workers": args.num_workers, "seed": args.seed, "dataset_dir": dataset_dir}  # fmt: skip
    if args.amp != "auto":  # auto: the bundle's own default, bf16 autocast on a GPU
        overrides["amp"] = args.amp == "true"
    return {k: v for k, v in overrides.items() if v is not None}


def fresh(folder: Path) -> Path:
    """``folder``, emptied (a bundle root with an old ``models/train_state.pt`` would resume)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def run_probe(args: argparse.Namespace, work: Path, shared: dict[str, Any], deadline: float) -> dict[str, Any]:
    """The SynFoC arm's command for a few iterations, logged every iteration: its pace, start-up and tail."""
    total = args.probe_warmup + args.probe_iterations
    root = fresh(work / "probe")
    overrides = {**shared, "max_iterations": total, "val_interval": total, "log_interval": 1}
    result = run_limited(bundle_command("run", ARMS["synfoc"], root, overrides), deadline - time.time(), group=False)
    if result["status"] != "ok":
        raise RuntimeError(f"the probe run {result['status']} (rc {result['rc']}); its output is in the log")
    times = iteration_times(root / "eval")
    result.update(pace=pace(times, args.probe_warmup), iterations=total, startup_s=times[0][1] - result["start"],
                  tail_s=result["end"] - times[-1][1])  # fmt: skip
    return result


def run_arm(name: str, work: Path, shared: dict[str, Any], plan: dict[str, Any], deadline: float) -> dict[str, Any]:
    """One arm: ``run training`` with the planned iterations; its wall time, pace and per-site test Dice, or
    ``error`` when the command failed or ran out of time."""
    root = fresh(work / name)
    overrides = {**shared, "max_iterations": plan["iterations"], "val_interval": plan["val_interval"],
                 "log_interval": plan["log_interval"]}  # fmt: skip
    expected = plan["iterations"] * plan["ms_per_iteration"] / 1e3 + plan["overhead_s_per_arm"]
    timeout = min(deadline - time.time(), 1.5 * expected + 30)
    result = run_limited(bundle_command("training", ARMS[name], root, overrides), timeout, group=False)
    result.update(configs=ARMS[name], overrides=overrides, bundle_root=str(root))
    if result["status"] != "ok":
        result["error"] = f"arm {name} {result['status']} (rc {result['rc']}); its output is in the log"
        return result
    times = iteration_times(root / "eval")
    result.update(pace=pace(times), first_to_last_logged_s=times[-1][1] - times[0][1])
    result["test_dice"] = dice_on_test_split(root / "eval")
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", dest="json_path", help="write the results here (after every stage)")
    parser.add_argument("--work-dir", default="/tmp/synfoc-paper-run", help="data and bundle roots (emptied)")
    parser.add_argument("--data-dir", help="a prepared dataset; default: the prostate phantom in the work dir")
    parser.add_argument("--phantom", type=json.loads, help="write_prostate_demo options (JSON), e.g. a small size")
    parser.add_argument("--prepare", type=json.loads, default={}, help="prepare options (JSON), e.g. lb_num")
    parser.add_argument("--foundation", default="lite_medsam")
    parser.add_argument("--sam-size", type=int, default=256)
    parser.add_argument("--sam-logit-stride", type=int, help="default: the bundle's (1)")
    parser.add_argument("--unet-size", type=int, default=384)
    parser.add_argument("--unet-channels", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4, help="labeled = unlabeled batch")
    parser.add_argument("--num-workers", type=int, default=6, help="workers per loader")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--amp", choices=["auto", "true", "false"], default="auto",
                        help="bf16 autocast; auto: the bundle's default (on with CUDA)")  # fmt: skip
    parser.add_argument("--probe-warmup", type=int, default=10)
    parser.add_argument("--probe-iterations", type=int, default=40)
    parser.add_argument("--arm-seconds", type=float, default=150.0,
                        help="wall seconds per arm at most (start-up, validations and test included)")  # fmt: skip
    parser.add_argument("--budget-s", type=float, default=420.0, help="seconds for everything, the probe included")
    parser.add_argument("--margin-s", type=float, default=20.0, help="seconds of the budget kept spare")
    parser.add_argument("--validations", type=int, default=3, help="validations per arm (the best model is tested)")
    parser.add_argument("--min-iterations", type=int, default=20)
    parser.add_argument("--max-iterations", type=int, default=0, help="cap on the iterations (0: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    deadline = time.time() + args.budget_s
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"benchmark": "paper_run", "args": vars(args), "arms": {}}

    try:
        payload["dataset"] = prepare_dataset(args, work)
        logger.info("dataset: %s", payload["dataset"])
        shared = payload["overrides"] = overrides_from(args, payload["dataset"]["dir"])
        write_json(args.json_path, payload)
        payload["probe"] = probe = run_probe(args, work, shared, deadline)
        payload["plan"] = plan = size_run(probe, deadline - time.time(), args.arm_seconds, args.validations,
                                          args.margin_s, args.min_iterations, args.max_iterations)  # fmt: skip
        logger.info("probe: %.1f ms per iteration; plan: %s", probe["pace"]["mean_ms"], plan)
    except Exception as error:  # the arms need the data and the plan: record why there are none
        payload["error"] = "".join(traceback.format_exception(error))[-3000:]
        raise
    finally:
        write_json(args.json_path, payload)

    for name in ARMS:
        try:
            payload["arms"][name] = run_arm(name, work, shared, plan, deadline)
        except Exception as error:  # keep going: the other arm's Dice is worth having alone
            payload["arms"][name] = {"error": "".join(traceback.format_exception(error))[-3000:]}
        result = payload["arms"][name]
        logger.info("%s: %s", name, result.get("error") or json.dumps(result["test_dice"]))
        write_json(args.json_path, payload)
    failed = [name for name, result in payload["arms"].items() if "error" in result]
    if failed:
        raise SystemExit(f"arms failed: {', '.join(failed)}")
    return payload


if __name__ == "__main__":
    main()
