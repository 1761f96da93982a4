"""Everything issue 18 measures on the GPU machine, in one call of at most ``--budget-s`` seconds (8 minutes).

    bash bench/gpu_run.sh                                   # on the GPU machine: writes into $OUT
    python -m bench.gpu_run --out gpu_out --gpu-args "--variants default tuned compile"

Steps, each a process of its own with a time limit; each writes its JSON and log into ``--out`` when it ends (the
JSON also during the step, where the step writes it as it goes), and ``run.json`` records every step's status:

1. ``install``: the wheels carried in ``--wheels`` (``bench/gpu_wheels.sh`` downloads them) installed offline into
   ``--site``, which the later steps import first; skipped when the folder holds no wheel.
2. ``environment``: ``python -m bench.gpu_env``: nvidia-smi, torch with its CUDA and cuDNN, every package's version
   and origin (``environment.json``); it fails when a package a bundle imports is missing.
3. ``gpu``: ``python -m bench.gpu`` with ``--gpu-args`` (default: the ``default`` and ``tuned`` variants of both
   settings, loaders, inference) into ``gpu.json``.
4. ``training``: ``python -m bench.paper_run`` with ``--training-args`` (default: LiteMedSAM 256 + U-Net 64 at 384,
   4+4, bf16, SynFoC then supervised only, each for as many iterations as fit in 2.5 minutes), given what is left of
   the budget, into ``training.json``.

A failed step does not stop the later ones; the exit status is 1 when any step failed, ran out of time, or (the
``gpu`` step) finished with failed sections. Standard library only: the
packages the steps need may only be importable once ``install`` has run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .processes import run_limited

logger = logging.getLogger("bench.gpu_run")

REPO = Path(__file__).resolve().parents[1]
STEPS = ("install", "environment", "gpu", "training")
#: Step statuses that make the exit status 1 (``partial``: bench.gpu ran, but some of its sections failed).
FAILED = ("failed", "timed_out", "partial")


def install_wheels(wheels: Path, site: Path, timeout: float) -> dict[str, Any]:
    """``pip install --no-index --no-deps --target site`` of every wheel in ``wheels`` (skipped when there is none)."""
    found = sorted(wheels.glob("*.whl")) if wheels.is_dir() else []
    if not found:
        return {"status": "skipped", "reason": f"no wheels in {wheels}"}
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
           "--upgrade", "--target", str(site), *map(str, found)]  # fmt: skip
    start = time.time()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timed_out", "wall_s": time.time() - start, "wheels": [w.name for w in found]}
    return {"status": "ok" if done.returncode == 0 else "failed", "rc": done.returncode, "wall_s": time.time() - start,
            "wheels": [w.name for w in found], "output": (done.stdout + done.stderr)[-4000:]}  # fmt: skip


def run_step(cmd: list[str], log: Path, timeout: float, env: dict[str, str]) -> dict[str, Any]:
    """Run ``cmd`` from the repository root, its output into ``log``, stopped with its children after ``timeout``."""
    with open(log, "w") as stream:
        result = run_limited(cmd, timeout, cwd=REPO, env=env, stdout=stream)
    return {**result, "command": cmd, "log": log.name}


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""


def summary(out: Path) -> list[str]:
    """One line per headline figure in the steps' JSON files (``gpu.json``, ``training.json``)."""
    lines, nan = [], float("nan")
    gpu = json.loads((out / "gpu.json").read_text()) if (out / "gpu.json").is_file() else {}
    for key, r in gpu.get("training", {}).items():
        memory, syncs = r.get("memory", {}), r.get("syncs", {}).get("count")
        lines.append(f"gpu {key}: {r.get('ms_per_iteration', nan):.1f} ms/it, "
                     f"{memory.get('peak_allocated_gib', nan):.1f} GiB allocated at most, {syncs} syncs")  # fmt: skip
    for key, error in gpu.get("errors", {}).items():
        lines.append(f"gpu {key}: FAILED {(error.strip().splitlines() or [''])[-1]}")
    training = json.loads((out / "training.json").read_text()) if (out / "training.json").is_file() else {}
    for arm, r in training.get("arms", {}).items():
        dice = {m: round(100 * d["mean"], 2) for m, d in r.get("test_dice", {}).items()}
        lines.append(f"training {arm}: {r.get('overrides', {}).get('max_iterations')} iterations, "
                     f"{r.get('wall_s', nan):.0f} s, mean test Dice % {dice or r.get('error')}")  # fmt: skip
    return lines


def step_command(step: str, args: argparse.Namespace, out: Path, left: float) -> tuple[list[str], float]:
    """The command line of ``step`` and its time limit, given ``left`` seconds of the budget."""
    python = [sys.executable, "-m"]
    if step == "environment":
        return python + ["bench.gpu_env", "--json", str(out / "environment.json")], args.environment_timeout_s
    if step == "gpu":
        return python + ["bench.gpu", "--json", str(out / "gpu.json"), *shlex.split(args.gpu_args)], args.gpu_timeout_s
    budget = f"{left - args.margin_s:.0f}"  # the last step sizes itself to what is left
    return python + ["bench.paper_run", "--json", str(out / "training.json"), "--work-dir", args.work_dir,
                     "--budget-s", budget, *shlex.split(args.training_args)], left  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu_out"), help="results folder (default: $OUT)")
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    parser.add_argument("--budget-s", type=float, default=480.0, help="seconds for all steps together")
    parser.add_argument("--wheels", default=str(REPO / ".whl"), help="wheels to install offline (gpu_wheels.sh)")
    parser.add_argument("--site", default="/tmp/synfoc-site", help="where the wheels are installed")
    parser.add_argument("--install-timeout-s", type=float, default=60.0)
    parser.add_argument("--environment-timeout-s", type=float, default=90.0)
    parser.add_argument("--gpu-timeout-s", type=float, default=150.0)
    parser.add_argument("--gpu-args", default="--variants default tuned", help="arguments of python -m bench.gpu")
    parser.add_argument("--training-args", default="", help="arguments of python -m bench.paper_run")
    parser.add_argument("--work-dir", default="/tmp/synfoc-gpu-run", help="scratch folder of the training step")
    parser.add_argument("--margin-s", type=float, default=15.0, help="seconds of the budget the last step leaves")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    deadline = time.time() + args.budget_s
    out, site = Path(args.out), Path(args.site)
    out.mkdir(parents=True, exist_ok=True)
    run: dict[str, Any] = {"args": vars(args), "steps": {}}
    paths = [str(REPO), os.environ.get("PYTHONPATH", "")]
    if "install" not in args.steps and site.is_dir():  # a rerun on a machine that has them already
        paths.insert(0, str(site))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    for step in (s for s in STEPS if s in args.steps):
        left = deadline - time.time()
        if step == "install":
            result = install_wheels(Path(args.wheels), site, min(args.install_timeout_s, left))
            if result["status"] == "ok":
                env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
        else:
            cmd, limit = step_command(step, args, out, left)
            result = run_step(cmd, out / f"{step}.log", min(limit, left), env)
            if step == "gpu" and result["status"] == "ok":  # bench.gpu goes on after a failed section, exit 0
                errors = json.loads((out / "gpu.json").read_text()).get("errors")
                if errors:
                    result.update(status="partial", errors=sorted(errors))
        run["steps"][step] = result
        logger.info("%s: %s in %.0f s", step, result["status"], result.get("wall_s", 0.0))
        if result["status"] in FAILED and "log" in result:
            logger.info("last lines of %s:\n%s", result["log"], tail(out / result["log"]))
        (out / "run.json").write_text(json.dumps(run, indent=2, default=str))
    for line in summary(out):
        logger.info("%s", line)
    failed = [s for s, r in run["steps"].items() if r["status"] in FAILED]
    elapsed = time.time() - deadline + args.budget_s
    logger.info("done in %.0f s: %s", elapsed, f"FAILED {failed}" if failed else "all ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
