"""One SynFoC iteration against the model passes it contains, and against the upstream-style iteration.

    python -m bench.step                       # tiny, lite_medsam, medsam_vit_b at reduced CPU sizes (a few minutes)
    python -m bench.step --quick               # tiny at 64 px, seconds: checks the script
    python -m bench.step --backbones medsam_vit_b --sam-size 512 --batch 1 --json step.json

Prints per backbone the median iteration time, the time of its model passes, the overhead ratio (iteration /
passes; target <= 1.10), the share of time outside the networks, the upstream-style iteration time and the reference
ratio (upstream-style / ours; target >= 1.3). ``--json`` writes them with every sample and the machine.
"""

from __future__ import annotations

import argparse

import torch

from .common import add_common_args, announce, geometric_mean, machine_info, parse_common_args, print_table, write_json
from .measure import StepBench
from .workload import CPU_SETTINGS, QUICK, Setting


def settings_from_args(args: argparse.Namespace) -> list[Setting]:
    """The settings to run: the CPU presets of the chosen backbones with command-line overrides applied."""
    if args.quick:
        return [QUICK.with_overrides(amp=args.amp or None)]
    overrides = dict(
        sam_size=args.sam_size,
        unet_size=args.unet_size,
        unet_channels=args.unet_channels,
        batch=args.batch,
        amp=args.amp or None,
    )
    return [CPU_SETTINGS[b].with_overrides(**overrides) for b in args.backbones]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, repeats=5, warmup=2)
    parser.add_argument("--backbones", nargs="+", default=list(CPU_SETTINGS), choices=list(CPU_SETTINGS))
    parser.add_argument("--sam-size", type=int, help="override the foundation input size of every backbone")
    parser.add_argument("--unet-size", type=int, help="override the U-Net resolution")
    parser.add_argument("--unet-channels", type=int, help="override the U-Net base width")
    parser.add_argument("--batch", type=int, help="override the labeled = unlabeled batch size")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (off on the CPU, as the bundle)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-upstream", action="store_true", help="skip the upstream-style reference")
    parser.add_argument("--ablate", action="store_true", help="also time each upstream habit on its own")
    parser.add_argument("--breakdown", action="store_true", help="also time each model pass on its own")
    args = parse_common_args(parser, argv)
    device = torch.device(args.device)
    info = announce("SynFoC step benchmark", device)

    results, breakdowns = [], {}
    for setting in settings_from_args(args):
        print(f"\n{setting.name}: {args.warmup} warm-up + {args.repeats} timed repeats", flush=True)
        bench = StepBench(setting, device)
        results.append(
            bench.measure(
                args.repeats, args.warmup, upstream=not args.no_upstream, ablate=args.ablate,
                progress=lambda line: print(line, flush=True),
            )
        )  # fmt: skip
        if args.breakdown:
            breakdowns[setting.backbone] = bench.pass_breakdown(max(1, args.repeats // 2))

    rows = [
        [
            r.setting.name,
            r.iteration.median * 1e3,
            r.passes.median * 1e3,
            r.overhead_ratio,
            100 * r.outside_share,
            r.upstream.median * 1e3,
            r.reference_ratio,
            max(r.iteration.spread(), r.passes.spread()),
        ]
        for r in results
    ]
    headers = ["setting", "iteration ms", "passes ms", "overhead", "outside %", "upstream ms", "ref ratio", "spread"]
    print_table("Median over repeats; ratios are medians of back-to-back pairs", headers, rows)
    for r in results:
        for name, samples in r.ablations.items():
            ratio = r._paired(samples, r.iteration)
            print(f"  {r.setting.backbone}: {name}: {samples.median * 1e3:.1f} ms ({ratio:.3f} x ours)")
    for backbone, parts in breakdowns.items():
        print_table(f"{backbone}: model passes on their own", ["pass", "ms"], [[k, v * 1e3] for k, v in parts.items()])
    payload = {
        "benchmark": "step",
        "machine": info,
        "load_average_1min_end": machine_info(device).get("load_average_1min"),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "overhead_ratio": geometric_mean(r.overhead_ratio for r in results),
        "reference_ratio": geometric_mean(r.reference_ratio for r in results),
        "worst_overhead_ratio": max(r.overhead_ratio for r in results),
        "worst_reference_ratio": min(r.reference_ratio for r in results),
        "backbones": {r.setting.backbone: r.to_dict() for r in results},
        "pass_breakdown_s": breakdowns,
    }
    print(
        f"\noverall (geometric mean over backbones): overhead ratio {payload['overhead_ratio']:.3f} "
        f"(worst {payload['worst_overhead_ratio']:.3f}), reference ratio {payload['reference_ratio']:.3f} "
        f"(worst {payload['worst_reference_ratio']:.3f})"
    )
    write_json(args.json_path, payload)
    return payload


if __name__ == "__main__":
    main()
