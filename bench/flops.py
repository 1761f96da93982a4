"""FLOPs of the model passes of one SynFoC iteration, counted on the meta device (no arithmetic runs).

    python -m bench.flops                      # the paper setting and the bundle's LiteMedSAM default
    python -m bench.flops --quick

``torch.utils.flop_counter.FlopCounterMode`` counts matrix products, convolutions and attention (forward and
backward), i.e. the arithmetic the hardware's peak refers to; elementwise work is not counted. An early estimate
(docs/method.md 8) counts about 4.5 TFLOP per iteration at the paper setting for the SAM encoder alone; the U-Net
passes are counted here too.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode

from .common import configure, print_table, write_json
from .passes import ModelPasses
from .workload import LITE_DEFAULT, PAPER, QUICK, Setting, build_models, make_batches

__all__ = ["count_pass_flops", "FIELD_TFLOP_PER_ITERATION"]

#: The early estimate for the paper setting (SAM encoder passes only; docs/method.md 8).
FIELD_TFLOP_PER_ITERATION = 4.5


def count_pass_flops(setting: Setting) -> dict[str, float]:
    """FLOPs of each model pass of one iteration at ``setting`` (and ``total``), counted on the meta device."""
    models = build_models(setting.with_overrides(amp=False), torch.device("cpu"))
    for net in (models.sam, models.unet, models.sam_teacher, models.unet_teacher):
        net.to("meta")
    labeled, unlabeled = make_batches(setting)
    passes = ModelPasses(models, setting.with_overrides(amp=False), labeled, unlabeled, torch.device("meta"))
    counts: dict[str, float] = {}

    @contextlib.contextmanager
    def count(name: str) -> Iterator[None]:
        with FlopCounterMode(display=False) as counter:
            yield
        counts[name] = counts.get(name, 0.0) + counter.get_total_flops()

    passes.section, passes.split_backward = count, True
    passes()
    counts["SAM total"] = sum(v for k, v in counts.items() if k.startswith("SAM"))
    counts["U-Net total"] = sum(v for k, v in counts.items() if k.startswith("U-Net"))
    counts["total"] = counts["SAM total"] + counts["U-Net total"]
    return counts


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    configure(args.threads)
    settings = {"quick": QUICK} if args.quick else {"paper": PAPER, "lite_default": LITE_DEFAULT}
    results = {key: count_pass_flops(s) for key, s in settings.items()}
    names = list(next(iter(results.values())))
    rows = [[n] + [results[k][n] / 1e12 for k in settings] for n in names]
    print_table("TFLOP per iteration (model passes, FlopCounterMode)", ["pass", *settings], rows)
    for key, setting in settings.items():
        print(f"  {key}: {setting.name}")
    print(f"\nfield.md 4.3 counts {FIELD_TFLOP_PER_ITERATION} TFLOP for the paper setting (SAM encoder passes only)")
    payload = {"benchmark": "flops", "settings": {k: s.to_dict() for k, s in settings.items()}, "flops": results}
    write_json(args.json_path, payload)
    return payload


if __name__ == "__main__":
    main()
