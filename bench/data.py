"""Loader throughput (the bundle's real transforms and DataLoaders) against what a training iteration consumes.

    python -m bench.data                                   # the bundle's defaults: 384 px, batch 4, 2 workers
    python -m bench.data --config medsam_vit_b.json        # the paper's 512 px images
    python -m bench.data --step-json step.json --iteration-ms 15 520
    python -m bench.data --train-iterations 8              # also: real trainer + real loaders, time spent waiting
    python -m bench.data --quick

The labeled and unlabeled loaders are built from the bundle's ``train.json`` (plus ``--config`` overrides) with the
ConfigParser, on the synthetic demo data (generated into a temporary folder unless ``--data-dir`` names a prepared
dataset), and drawn alternately as training does (one batch of each per iteration; the bundle's loaders are endless,
a finite one would be restarted, worker start-up included, as training does). Training stalls when the loaders
supply fewer images per second than ``batch / iteration time``; on a CPU-only machine the workers also share the
cores with the training arithmetic, which ``--train-iterations`` measures directly.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import torch
from ignite.engine import Events
from monai.bundle import ConfigParser

from .common import add_common_args, announce, parse_common_args, print_table, write_json
from .demo_data import CONFIGS, demo_dataset
from .workload import Setting, build_models, build_trainer

__all__ = ["bundle_loaders", "loader_throughput", "TimedLoader", "stall_table", "training_wait"]

#: Reference iterations (label, batch per loader, seconds): the issue's GPU target and the paper's RTX 3090 pace.
REFERENCE_ITERATIONS = [("GPU target, paper setting (15 ms)", 4, 0.015), ("upstream on an RTX 3090 (520 ms)", 4, 0.52)]


def bundle_loaders(
    dataset_dir: str, root: str, configs: list[str], overrides: dict[str, Any]
) -> tuple[Any, Any, dict[str, Any]]:
    """The bundle's ``train#dataloader`` and ``train#unlabeled_dataloader`` and the sizes they use.

    Args:
        dataset_dir: a prepared dataset (``datalist.json``).
        root: a scratch ``bundle_root``.
        configs: config files of the prostate bundle (``train.json`` first).
        overrides: config keys to set (e.g. ``num_workers``, ``batch_size``, ``sam_size``).
    """
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / c) for c in configs])
    parser.update({"bundle_root": root, "dataset_dir": dataset_dir, **overrides})
    labeled = parser.get_parsed_content("train#dataloader")
    unlabeled = parser.get_parsed_content("train#unlabeled_dataloader")
    keys = ("image_size", "sam_size", "unet_size", "batch_size", "num_workers")
    sizes = {k: parser.get_parsed_content(k) for k in keys}
    return labeled, unlabeled, sizes


class TimedLoader:
    """Wraps a loader and adds up the time spent waiting for it (starting its workers included); ``restarts``
    counts how often it was started."""

    def __init__(self, loader: Any) -> None:
        self.loader, self.wait, self.restarts = loader, 0.0, 0

    def __iter__(self) -> Iterator[Any]:
        start = time.perf_counter()
        iterator = iter(self.loader)
        self.restarts += 1
        self.wait += time.perf_counter() - start
        while True:
            start = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            finally:
                self.wait += time.perf_counter() - start
            yield batch


def _cycle(loader: Any) -> Iterator[Any]:
    while True:
        yield from loader


def loader_throughput(labeled: Any, unlabeled: Any, pairs: int, warmup: int) -> dict[str, Any]:
    """Draw ``warmup + pairs`` (labeled, unlabeled) batch pairs as training does, timing the last ``pairs``.

    Workers deliver their first batches in a burst, so at least one batch per worker is drawn untimed and at least
    four per worker are timed (fewer would measure the burst, not the steady rate).

    Returns:
        ``first_pair_s`` (worker start-up), ``pair_s`` (mean seconds per pair when timed), per-loader seconds, and
        ``images_per_s`` per loader at that pace.
    """
    workers = max(getattr(labeled, "num_workers", 0), getattr(unlabeled, "num_workers", 0))
    pairs, warmup = max(pairs, 4 * workers), max(warmup, workers)
    timed_l, timed_u = TimedLoader(labeled), TimedLoader(unlabeled)
    it_l, it_u = _cycle(timed_l), _cycle(timed_u)
    start = time.perf_counter()
    next(it_l), next(it_u)
    first = time.perf_counter() - start
    for _ in range(warmup):
        next(it_l), next(it_u)
    wait_l, wait_u, restarts = timed_l.wait, timed_u.wait, timed_l.restarts + timed_u.restarts
    start = time.perf_counter()
    for _ in range(pairs):
        next(it_l), next(it_u)
    elapsed = time.perf_counter() - start
    batch = labeled.batch_size
    return {
        "first_pair_s": first,
        "pair_s": elapsed / pairs,
        "labeled_batch_s": (timed_l.wait - wait_l) / pairs,
        "unlabeled_batch_s": (timed_u.wait - wait_u) / pairs,
        "images_per_s_per_loader": batch / (elapsed / pairs),
        "loader_restarts_timed": timed_l.restarts + timed_u.restarts - restarts,
        "batch": batch,
        "pairs_timed": pairs,
    }


def stall_table(supply_images_per_s: float, consumers: list[tuple[str, int, float]]) -> list[dict[str, Any]]:
    """For each (label, batch per loader, iteration seconds): images/s needed per loader and the headroom
    (supply / need; below 1 training waits for data)."""
    rows = []
    for label, batch, seconds in consumers:
        need = batch / seconds
        rows.append({"iteration": label, "iteration_s": seconds, "needed_images_per_s": need,
                     "headroom": supply_images_per_s / need, "stalls": supply_images_per_s < need})  # fmt: skip
    return rows


def consumers_from(args: argparse.Namespace) -> list[tuple[str, int, float]]:
    """The iterations to compare with: the references, ``--iteration-ms`` and a step.py JSON's measured ones."""
    consumers = list(REFERENCE_ITERATIONS)
    consumers += [(f"{ms:g} ms (given)", args.iteration_batch, ms / 1e3) for ms in args.iteration_ms or []]
    if args.step_json:
        import json

        with open(args.step_json) as stream:
            step = json.load(stream)
        for name, result in step["backbones"].items():
            batch, seconds = result["setting"]["batch"], result["iteration"]["median_s"]
            consumers.append((f"step.py: {result['name']}", batch, seconds))
    return consumers


def training_wait(
    labeled: Any, unlabeled: Any, setting: Setting, iterations: int, warmup: int, device: torch.device
) -> dict[str, Any]:
    """Run the package trainer on the real loaders; the share of wall time it waits for data after ``warmup``."""
    models = build_models(setting, device)
    timed_l, timed_u = TimedLoader(labeled), TimedLoader(unlabeled)
    trainer = build_trainer(models, setting, timed_l, timed_u, warmup + iterations, device, loaders=True)
    marks: dict[str, float] = {}

    @trainer.on(Events.ITERATION_COMPLETED)
    def mark(engine: Any) -> None:
        if engine.state.iteration == warmup:
            marks.update(t=time.perf_counter(), wait=timed_l.wait + timed_u.wait)
        print(f"  trained {engine.state.iteration}/{warmup + iterations}", flush=True)

    trainer.run()
    elapsed, wait = time.perf_counter() - marks["t"], timed_l.wait + timed_u.wait - marks["wait"]
    return {"setting": setting.to_dict(), "iterations": iterations, "iteration_s": elapsed / iterations,
            "wait_s_per_iteration": wait / iterations, "wait_share": wait / elapsed}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, repeats=20, warmup=3)
    parser.add_argument("--config", nargs="*", default=[], help="bundle configs merged over train.json")
    parser.add_argument("--workers", type=int, help="override num_workers (default: the bundle's, 2)")
    parser.add_argument("--batch", type=int, help="override batch_size (default: the bundle's, 4)")
    parser.add_argument("--data-dir", help="a prepared dataset; default: the demo data in a temporary folder")
    parser.add_argument("--iteration-ms", type=float, nargs="*", help="iteration times to compare with")
    parser.add_argument("--iteration-batch", type=int, default=4, help="batch per loader of --iteration-ms")
    parser.add_argument("--step-json", help="compare with the iterations a bench.step JSON measured")
    parser.add_argument("--train-iterations", type=int, default=0, help="also train this many timed iterations")
    parser.add_argument("--train-backbone", default="tiny", help="foundation backbone of the --train-iterations run")
    parser.add_argument("--train-unet-channels", type=int, default=64, help="U-Net width of that run")
    args = parse_common_args(parser, argv, quick_repeats=4)
    overrides: dict[str, Any] = {}
    if args.quick:
        overrides.update(sam_size=64, unet_size=64, batch_size=2)
        args.train_iterations, args.train_unet_channels = min(args.train_iterations, 2), 4
    if args.workers is not None:
        overrides["num_workers"] = args.workers
    if args.batch is not None:
        overrides["batch_size"] = args.batch
    info = announce("SynFoC loader benchmark")

    with tempfile.TemporaryDirectory(prefix="synfoc-bench-data-") as tmp:
        dataset_dir = demo_dataset(tmp, args.data_dir)
        labeled, unlabeled, sizes = bundle_loaders(dataset_dir, tmp, ["train.json", *args.config], overrides)
        print(f"loaders: {sizes}; {args.warmup} warm-up + {args.repeats} timed pairs", flush=True)
        supply = loader_throughput(labeled, unlabeled, args.repeats, args.warmup)
        stalls = stall_table(supply["images_per_s_per_loader"], consumers_from(args))
        train = None
        if args.train_iterations:
            setting = Setting(args.train_backbone, sizes["sam_size"], 4 if args.train_backbone != "lite_medsam" else 1,
                              sizes["unet_size"], args.train_unet_channels, sizes["batch_size"])  # fmt: skip
            print(f"training {setting.name} on the real loaders", flush=True)
            train = training_wait(labeled, unlabeled, setting, args.train_iterations, 1, torch.device("cpu"))

    print_table(
        f"Loader supply ({sizes['image_size']} px, batch {sizes['batch_size']}, {sizes['num_workers']} workers each)",
        ["first pair s", "pair s", "labeled batch s", "unlabeled batch s", "images/s per loader"],
        [[supply["first_pair_s"], supply["pair_s"], supply["labeled_batch_s"], supply["unlabeled_batch_s"],
          supply["images_per_s_per_loader"]]],
    )  # fmt: skip
    print_table(
        "Against what an iteration consumes (headroom = supply / need; < 1: training waits for data)",
        ["iteration", "needed images/s", "headroom", "stalls"],
        [[r["iteration"], r["needed_images_per_s"], r["headroom"], "yes" if r["stalls"] else "no"] for r in stalls],
    )
    if train:
        print(f"\nreal trainer on the real loaders ({train['setting']['backbone']}): "
              f"{train['iteration_s'] * 1e3:.0f} ms per iteration, {train['wait_s_per_iteration'] * 1e3:.1f} ms "
              f"waiting for data ({100 * train['wait_share']:.1f}% of the time)")  # fmt: skip
    payload = {"benchmark": "data", "machine": info, "loaders": sizes, "supply": supply, "consumers": stalls}
    payload["training"] = train
    write_json(args.json_path, payload)
    return payload


if __name__ == "__main__":
    main()
