"""Images per second of each deploy network through the bundle's inference path, and the pre/post-processing share.

    python -m bench.infer                          # LiteMedSAM at 256 and the U-Net at 384, CPU
    python -m bench.infer --repeats 16 --device cuda
    python -m bench.infer --quick

Each network runs as ``inference.json`` (and ``inference.json`` + ``inference_unet.json``) define it, built by the
ConfigParser: ``inference_transforms`` (PNG loading, scaling) in the DataLoader, ``ResizeInferer``, ``AsDiscreted``
and ``SaveMaskd`` writing every mask, batch 1, on the synthetic demo's 384 x 384 test slices. The weights are random
(saved as ``model.pt`` and loaded by the bundle's ``CheckpointLoader``), which does not change the timing. Per image:
``pre`` = getting the batch (loading, transforms, collation), ``network`` = the network's forward (hooks),
``resize`` = the rest of the forward step (device transfer, ResizeInferer's interpolations), ``post`` = argmax,
decollation and writing the mask.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from monai.bundle import ConfigParser

from .common import add_common_args, announce, parse_common_args, print_table, synchronize, write_json
from .demo_data import CONFIGS, demo_dataset

__all__ = ["DEPLOY_NETWORKS", "measure_inference", "copy_test_images"]

#: name -> (config files, overrides): the bundle's two deploy networks.
DEPLOY_NETWORKS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "lite_medsam S256": (["inference.json"], {}),
    "U-Net64 R384": (["inference.json", "inference_unet.json"], {}),
}
QUICK_OVERRIDES: dict[str, dict[str, Any]] = {
    "lite_medsam S256": {"foundation": "tiny", "sam_size": 64, "sam_logit_stride": 4},
    "U-Net64 R384": {"unet_size": 64, "unet_channels": 4},
}


def copy_test_images(dataset_dir: str, target: Path, count: int) -> Path:
    """Copy ``count`` test slices of a prepared dataset into ``target`` (flat, unique names)."""
    import json

    with open(Path(dataset_dir) / "datalist.json") as stream:
        items = json.load(stream)["test"]
    target.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        source = Path(dataset_dir) / items[i % len(items)]["image"]
        shutil.copy(source, target / f"{i:04d}_{source.name}")
    return target


def measure_inference(
    configs: list[str], overrides: dict[str, Any], input_dir: Path, root: Path, device: torch.device, warmup: int
) -> dict[str, Any]:
    """Run the bundle's inference evaluator over ``input_dir``; per-stage times of the images after ``warmup``."""
    for stale in ("models", "output"):
        shutil.rmtree(root / stale, ignore_errors=True)
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / c) for c in configs])
    parser.update({"bundle_root": str(root), "input_dir": str(input_dir), "output_dir": str(root / "output"),
                   "device": f"$torch.device('{device}')", **overrides})  # fmt: skip
    network = parser.get_parsed_content("network")
    model_file = Path(parser.get_parsed_content("model_file"))
    model_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(network.state_dict(), model_file)  # random weights, loaded strictly by the bundle's CheckpointLoader
    evaluator = parser.get_parsed_content("evaluator")

    stamps: dict[str, float] = {}
    rows: list[dict[str, float]] = []

    def now() -> float:
        synchronize(device)
        return time.perf_counter()

    def forward_pre(module: Any, inputs: Any) -> None:
        stamps["net0"] = now()

    def forward_post(module: Any, inputs: Any, output: Any) -> None:
        stamps["net"] = stamps.get("net", 0.0) + now() - stamps.pop("net0")

    hooks = [network.register_forward_pre_hook(forward_pre), network.register_forward_hook(forward_post)]
    evaluator.add_event_handler(Events.GET_BATCH_STARTED, lambda e: stamps.update(get0=now()))
    evaluator.add_event_handler(Events.GET_BATCH_COMPLETED, lambda e: stamps.update(get1=now()))
    evaluator.add_event_handler(Events.ITERATION_STARTED, lambda e: stamps.update(it0=now(), net=0.0))
    from monai.engines.utils import IterationEvents

    evaluator.add_event_handler(IterationEvents.FORWARD_COMPLETED, lambda e: stamps.update(fwd=now()))

    def completed(engine: Any) -> None:
        end = now()
        rows.append({"pre": stamps["get1"] - stamps["get0"], "network": stamps["net"],
                     "resize": stamps["fwd"] - stamps["it0"] - stamps["net"], "post": end - stamps["fwd"],
                     "start": stamps["get0"], "end": end})  # fmt: skip

    evaluator.add_event_handler(Events.ITERATION_COMPLETED, completed)
    evaluator.run()
    for hook in hooks:
        hook.remove()
    written = len(list((root / "output").glob("*.png")))
    timed = rows[warmup:]
    wall = timed[-1]["end"] - timed[0]["start"]
    med = {k: statistics.median(r[k] for r in timed) for k in ("pre", "network", "resize", "post")}
    total = sum(med.values())
    return {
        "images_timed": len(timed),
        "masks_written": written,
        "images_per_s": len(timed) / wall,
        "median_ms": {k: 1e3 * v for k, v in med.items()},
        "pre_post_share": (med["pre"] + med["resize"] + med["post"]) / total,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, repeats=8, warmup=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", help="a prepared dataset; default: the demo data in a temporary folder")
    parser.add_argument("--networks", nargs="+", default=list(DEPLOY_NETWORKS), choices=list(DEPLOY_NETWORKS))
    args = parse_common_args(parser, argv)
    device = torch.device(args.device)
    info = announce("SynFoC inference benchmark", device)
    results = {}
    with tempfile.TemporaryDirectory(prefix="synfoc-bench-infer-") as tmp:
        root = Path(tmp)
        dataset_dir = demo_dataset(root, args.data_dir)
        input_dir = copy_test_images(dataset_dir, root / "input", args.warmup + args.repeats)
        for name in args.networks:
            configs, overrides = DEPLOY_NETWORKS[name]
            overrides = {**overrides, **(QUICK_OVERRIDES[name] if args.quick else {})}
            print(f"{name}: {args.warmup} warm-up + {args.repeats} timed images", flush=True)
            results[name] = measure_inference(configs, overrides, input_dir, root, device, args.warmup)
    rows = [[n, r["images_per_s"], *r["median_ms"].values(), 100 * r["pre_post_share"]] for n, r in results.items()]
    headers = ["network", "images/s", "pre ms", "network ms", "resize ms", "post ms", "pre+post %"]
    title = "Bundle inference path, batch 1 (median per image)"
    print_table(title + (" -- quick: tiny stand-ins for both networks" if args.quick else ""), headers, rows)
    payload = {"benchmark": "infer", "machine": info, "quick": args.quick, "networks": results}
    write_json(args.json_path, payload)
    return payload


if __name__ == "__main__":
    main()
