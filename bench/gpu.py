"""Every GPU measurement in one run, sized for a short GPU slot (a few minutes on one H200).

    python -m bench.gpu --json $OUT/gpu.json                 # paper setting + LiteMedSAM default, 3 variants each
    python -m bench.gpu --variants default tuned --json gpu_tuned.json
    python -m bench.gpu --device cpu --tiny                 # dry run of every section on the CPU (seconds)
    python -m bench.gpu --device cpu --tiny --skip-data --skip-infer --compile-kwargs '{"backend": "eager"}'

Per setting (the paper's MedSAM ViT-B at 512 with 4+4 and bf16 autocast; the bundle's LiteMedSAM default) and per
variant, each named after the bundle keys it sets (``train.json``; the trainer applies them, as in training):

- ``default``: what the bundle runs on a GPU: ``channels_last`` (U-Nets and their inputs channels-last), pinned
  batches (``pin_memory``) copied with ``non_blocking`` (the trainer's default), ``compile: false``;
- ``contiguous``: the same with ``channels_last: false`` (what channels-last gains);
- ``compile``: the same with ``compile: true`` (``torch.compile`` of both students and both teachers; the first
  iterations of the memory section include the compilation);
- ``tuned``: the default plus cuDNN autotuning (not a bundle key: the bundle's ``set_determinism`` turns it off).

- peak GPU memory of training alone (allocated and reserved), first 3 iterations;
- host synchronisations inside one iteration (``torch.cuda.set_sync_debug_mode("warn")``), with their source lines;
- FLOPs of one iteration (``FlopCounterMode``) and the early estimate of docs/method.md 8 (4.5 TFLOP at the paper
  setting);
- ms per iteration (ignite engine, EMA included, warm), images per second, achieved TFLOP/s and the share of the
  peak, the overhead ratio against the model passes and the upstream-style reference ratio (as bench/step.py);
- model passes one by one.

Then the bundle's loaders on this machine's CPUs (2 workers as the bundle, and ``--data-workers``) against the
measured iteration times, and the bundle's inference path for both deploy networks. Results are written to ``--json``
after every section, so a run cut short still leaves what it measured.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from torch.utils.flop_counter import FlopCounterMode

from .common import configure, machine_info, print_table, write_json
from .flops import FIELD_TFLOP_PER_ITERATION, count_pass_flops
from .measure import StepBench
from .workload import LITE_DEFAULT, PAPER, QUICK, Setting

#: The bundle's settings on a GPU (train.json: ``channels_last`` and ``pin_memory`` follow the device, ``compile``
#: is false, ``non_blocking`` is the trainer's default).
BUNDLE_GPU = {"channels_last": True, "pin_memory": True, "non_blocking": True, "compile": False}
#: Variants: name -> StepBench options (bundle keys of the same names, plus ``cudnn_benchmark``).
VARIANTS: dict[str, dict[str, bool]] = {
    "default": BUNDLE_GPU,
    "contiguous": {**BUNDLE_GPU, "channels_last": False},
    "compile": {**BUNDLE_GPU, "compile": True},
    "tuned": {**BUNDLE_GPU, "cudnn_benchmark": True},
}
SETTINGS = {"paper": PAPER, "lite_default": LITE_DEFAULT}


def peak_memory(bench: StepBench, iterations: int) -> dict[str, float]:
    """Peak memory of ``iterations`` training iterations alone (GiB; on the CPU nothing is measured)."""
    device = bench.device
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    bench.trainer(iterations).run()
    out = {"first_iterations_s": time.perf_counter() - start}
    if device.type == "cuda":
        out.update(peak_allocated_gib=torch.cuda.max_memory_allocated(device) / 2**30,
                   peak_reserved_gib=torch.cuda.max_memory_reserved(device) / 2**30)  # fmt: skip
    return out


def one_iteration(bench: StepBench) -> Any:
    """A trainer that has run one iteration, ready for :func:`_run_once` (the EMA needs a step number)."""
    trainer = bench.trainer(2)
    trainer.state.iteration = 1
    return trainer


def _run_once(trainer: Any, bench: StepBench) -> None:
    """One full iteration outside the engine loop: ``_iteration`` and the ITERATION_COMPLETED handlers (EMA)."""
    trainer.state.iteration += 1
    trainer._iteration(trainer, bench.labeled)
    trainer.fire_event(Events.ITERATION_COMPLETED)


def host_syncs(bench: StepBench) -> dict[str, Any]:
    """Synchronising CUDA calls during one iteration, counted with ``torch.cuda.set_sync_debug_mode``."""
    if bench.device.type != "cuda":
        return {"checked": False, "reason": "torch.cuda.set_sync_debug_mode needs CUDA"}
    trainer = one_iteration(bench)
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            _run_once(trainer, bench)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    where = collections.Counter(f"{Path(w.filename).parent.name}/{Path(w.filename).name}:{w.lineno}" for w in syncs)
    return {"checked": True, "count": len(syncs), "where": dict(where)}


def count_flops(bench: StepBench) -> float:
    """FLOPs of one full iteration (matrix products, convolutions, attention; forward and backward)."""
    trainer = one_iteration(bench)
    with FlopCounterMode(display=False) as counter:
        _run_once(trainer, bench)
    return float(counter.get_total_flops())


def run_setting(
    key: str, setting: Setting, variant: str, args: argparse.Namespace, device: torch.device, flops: dict[str, float]
) -> dict:
    """Every training measurement of one setting and variant; ``flops`` caches each setting's count.

    Compiled networks bypass the dispatcher FlopCounterMode listens to, so a compiled variant takes the count of an
    eager variant of the same setting, or else the model passes' count on the meta device (bench/flops.py).
    """
    out: dict[str, Any] = {"setting": setting.to_dict(), "name": setting.name, "variant": variant}
    start = time.perf_counter()
    options = dict(VARIANTS[variant])
    if options.get("compile"):
        options["compile_kwargs"] = args.compile_kwargs
    out["options"] = options
    bench = StepBench(setting, device, **options)
    out["build_s"] = time.perf_counter() - start
    print(f"\n[{key} / {variant}] {setting.name}: built in {out['build_s']:.1f} s", flush=True)
    out["memory"] = peak_memory(bench, 3)
    print(f"  memory: {out['memory']}", flush=True)
    out["syncs"] = host_syncs(bench)
    print(f"  host syncs in one iteration: {out['syncs']}", flush=True)
    if not VARIANTS[variant].get("compile"):
        flops[key] = count_flops(bench)
        out["flops_source"] = "FlopCounterMode over one iteration"
    elif key not in flops:
        flops[key] = count_pass_flops(setting)["total"]
        out["flops_source"] = "model passes on the meta device"
    else:
        out["flops_source"] = "FlopCounterMode over one eager iteration"
    out["flops"] = flops[key]
    print(f"  FLOPs per iteration: {out['flops'] / 1e12:.2f} T ({out['flops_source']})", flush=True)
    result = bench.measure(args.repeats, args.warmup, upstream=not args.no_upstream)
    seconds = result.iteration.median
    out.update(result.to_dict())
    out.update(
        ms_per_iteration=1e3 * seconds,
        achieved_tflops=out["flops"] / seconds / 1e12,
        field_count_tflops=FIELD_TFLOP_PER_ITERATION / seconds if key == "paper" else None,
        share_of_peak=out["flops"] / seconds / 1e12 / args.peak_tflops,
    )
    out["pass_breakdown_s"] = bench.pass_breakdown(max(3, args.repeats // 4))
    print(f"  {out['ms_per_iteration']:.1f} ms per iteration, {out['images_per_s']:.0f} images/s, "
          f"{out['achieved_tflops']:.0f} TFLOP/s, overhead ratio {out['overhead_ratio']:.3f}, "
          f"reference ratio {out['reference_ratio']:.3f}", flush=True)  # fmt: skip
    del bench
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


#: Bundle configs whose loaders feed each setting (the paper's medsam_vit_b.json loads 512 px images).
DATA_CONFIGS = {"paper": ["train.json", "medsam_vit_b.json"], "lite_default": ["train.json"], "tiny": ["train.json"]}


def run_data(args: argparse.Namespace, keys: list[str], training: dict[str, dict]) -> dict:
    """The bundle's loaders on this machine's CPUs against the iteration times measured for each setting."""
    from .data import bundle_loaders, loader_throughput, stall_table
    from .demo_data import demo_dataset

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="synfoc-bench-gpu-data-") as tmp:
        dataset_dir = demo_dataset(tmp, args.data_dir)
        for key in keys:
            consumers = [
                (f"{name}: {r['name']}", r["setting"]["batch"], r["ms_per_iteration"] / 1e3)
                for name, r in training.items()
                if name.split("/")[0] == key
            ]
            for workers in sorted({2, args.data_workers}):
                overrides: dict[str, Any] = {"num_workers": workers}
                if args.tiny:
                    overrides.update(sam_size=64, unet_size=64, batch_size=2)
                labeled, unlabeled, sizes = bundle_loaders(dataset_dir, tmp, DATA_CONFIGS[key], overrides)
                supply = loader_throughput(labeled, unlabeled, args.data_pairs, 3)  # >= 4 pairs per worker
                results[f"{key}/{workers} workers"] = {
                    "loaders": sizes,
                    "supply": supply,
                    "consumers": stall_table(supply["images_per_s_per_loader"], consumers),
                }
                rate = supply["images_per_s_per_loader"]
                print(f"  loaders {key}, {workers} workers: {rate:.0f} images/s per loader", flush=True)
    return results


def run_infer(args: argparse.Namespace, device: torch.device) -> dict:
    """The bundle's inference path for both deploy networks on this device."""
    from .demo_data import demo_dataset
    from .infer import DEPLOY_NETWORKS, QUICK_OVERRIDES, copy_test_images, measure_inference

    results = {}
    with tempfile.TemporaryDirectory(prefix="synfoc-bench-gpu-infer-") as tmp:
        root = Path(tmp)
        dataset_dir = demo_dataset(root, args.data_dir)
        count = 3 if args.tiny else args.infer_images
        input_dir = copy_test_images(dataset_dir, root / "input", count + 2)
        for name, (configs, overrides) in DEPLOY_NETWORKS.items():
            overrides = {**overrides, **(QUICK_OVERRIDES[name] if args.tiny else {})}
            results[name] = measure_inference(configs, overrides, input_dir, root, device, warmup=2)
            print(f"  inference {name}: {results[name]['images_per_s']:.1f} images/s, pre+post "
                  f"{100 * results[name]['pre_post_share']:.0f}%", flush=True)  # fmt: skip
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny networks and few repeats: a dry run of every section")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--variants", nargs="+", default=["default", "contiguous", "compile"], choices=list(VARIANTS))
    parser.add_argument("--compile-kwargs", type=json.loads, default={},
                        help="the compile variant's compile_kwargs (JSON), e.g. '{\"mode\": \"max-autotune\"}'; "
                        "'{\"backend\": \"eager\"}' for a quick CPU dry run")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-upstream", action="store_true", help="skip the upstream-style reference")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)")
    parser.add_argument("--skip-data", action="store_true")
    parser.add_argument("--skip-infer", action="store_true")
    parser.add_argument("--data-dir", help="a prepared dataset; default: the demo data in a temporary folder")
    parser.add_argument("--data-workers", type=int, default=8, help="workers of the second loader measurement")
    parser.add_argument("--data-pairs", type=int, default=20)
    parser.add_argument("--infer-images", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    configure(args.threads or torch.get_num_threads())
    if args.tiny:
        args.repeats, args.warmup, args.data_pairs = min(args.repeats, 3), min(args.warmup, 1), min(args.data_pairs, 3)
    settings = {"tiny": QUICK.with_overrides(amp=True)} if args.tiny else {k: SETTINGS[k] for k in args.settings}
    payload: dict[str, Any] = {"benchmark": "gpu", "machine": machine_info(device), "args": vars(args),
                               "training": {}, "errors": {}}  # fmt: skip
    print(f"SynFoC GPU benchmark: {payload['machine']}", flush=True)

    flops: dict[str, float] = {}
    for key, setting in settings.items():
        for variant in args.variants:
            name = f"{key}/{variant}"
            try:
                payload["training"][name] = run_setting(key, setting, variant, args, device, flops)
            except Exception as error:  # keep going: a failed variant (e.g. compile) must not lose the others
                payload["errors"][name] = "".join(traceback.format_exception(error))[-3000:]
                print(f"  FAILED {name}: {error!r}", flush=True)
            write_json(args.json_path, payload)
    sections = {
        "data": lambda: run_data(args, list(settings), payload["training"]),
        "infer": lambda: run_infer(args, device),
    }
    for section, run in sections.items():
        if getattr(args, f"skip_{section}"):
            continue
        print(f"\n[{section}]", flush=True)
        try:
            payload[section] = run()
        except Exception as error:
            payload["errors"][section] = "".join(traceback.format_exception(error))[-3000:]
            print(f"  FAILED {section}: {error!r}", flush=True)
        write_json(args.json_path, payload)
    report(payload)
    return payload


def report(payload: dict[str, Any]) -> None:
    """Print the result tables."""
    rows = []
    for name, r in payload["training"].items():
        memory = r["memory"]
        rows.append(
            [
                name, r["ms_per_iteration"], r["images_per_s"], r["flops"] / 1e12, r["achieved_tflops"],
                100 * r["share_of_peak"], r["field_count_tflops"] or float("nan"), r["overhead_ratio"],
                r["reference_ratio"], memory.get("peak_allocated_gib", float("nan")),
                memory.get("peak_reserved_gib", float("nan")), r["syncs"].get("count", "-"),
            ]
        )  # fmt: skip
    print_table(
        "Training iteration (median)",
        ["setting/variant", "ms/it", "img/s", "TFLOP/it", "TFLOP/s", "% peak", "4.5T/s", "overhead", "ref ratio",
         "alloc GiB", "reserved GiB", "syncs"],
        rows,
    )  # fmt: skip
    for name, r in payload["training"].items():
        if r["syncs"].get("where"):
            print(f"  {name}: syncs at {r['syncs']['where']}")
    for name, r in payload.get("data", {}).items():
        for c in r["consumers"]:
            supply = r["supply"]["images_per_s_per_loader"]
            print(f"  loaders {name}: {supply:.0f} images/s per loader vs {c['needed_images_per_s']:.0f} needed "
                  f"by {c['iteration']}: headroom {c['headroom']:.2f}")  # fmt: skip
    if payload.get("infer"):
        rows = [[n, r["images_per_s"], 100 * r["pre_post_share"]] for n, r in payload["infer"].items()]
        print_table("Inference (bundle path, batch 1)", ["network", "images/s", "pre+post %"], rows)
    for name, error in payload["errors"].items():
        print(f"\nERROR in {name}:\n{error}")


if __name__ == "__main__":
    main()
