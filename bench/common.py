"""Shared helpers of the benchmarks: threads, timing samples, tables, JSON and a description of the machine."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "Samples",
    "add_common_args",
    "busy_warning",
    "configure",
    "geometric_mean",
    "machine_info",
    "print_table",
    "quiet_libraries",
    "parse_common_args",
    "synchronize",
    "timed",
    "write_json",
]


def add_common_args(parser: argparse.ArgumentParser, repeats: int, warmup: int) -> None:
    """Add ``--threads``, ``--repeats``, ``--warmup``, ``--quick`` and ``--json`` to a benchmark's parser."""
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2, the CI machines)")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed repeats; the median is reported")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed repeats before the timed ones")
    parser.add_argument("--quick", action="store_true", help="tiny settings, a few seconds: checks the script runs")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results to this JSON file")


def parse_common_args(
    parser: argparse.ArgumentParser, argv: list[str] | None, quick_repeats: int = 3
) -> argparse.Namespace:
    """Parse ``argv``; under ``--quick`` cap the repeats at ``quick_repeats`` and the warm-up at 1; then
    :func:`configure` the threads.

    Returns:
        The parsed arguments.
    """
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = min(args.repeats, quick_repeats), min(args.warmup, 1)
    configure(args.threads)
    return args


def configure(threads: int) -> None:
    """Set torch's thread counts and keep library chatter (timm, segment_anything, MONAI) out of the tables."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (a second benchmark in the same process)
        pass
    quiet_libraries()


def quiet_libraries() -> None:
    """Silence warnings and info logs that would interleave with the printed tables."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in ("synfoc_components", "ignite", "monai", "SynFoCTrainer", "DomainEvaluator"):
        logging.getLogger(name).setLevel(logging.ERROR)


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds ``fn()`` takes, the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


@dataclass
class Samples:
    """Timed repeats of one quantity in seconds (warm-up repeats already dropped)."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def minimum(self) -> float:
        return min(self.values) if self.values else float("nan")

    def spread(self) -> float:
        """(max - min) / median: how noisy the repeats were."""
        return (max(self.values) - min(self.values)) / self.median if len(self.values) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"median_s": self.median, "min_s": self.minimum, "spread": self.spread(), "samples_s": self.values}


def geometric_mean(values: Iterable[float]) -> float:
    """Geometric mean of positive numbers (NaN if there are none)."""
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def machine_info(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Date, host description, library versions, threads and load: what a result needs to be read later."""
    device = torch.device(device)
    info: dict[str, Any] = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
    }
    try:
        import monai

        info["monai"] = monai.__version__
    except ImportError:
        pass
    if hasattr(os, "getloadavg"):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
    return info


def busy_warning(info: dict[str, Any]) -> str | None:
    """A warning line when the 1-minute load average says other work shares the CPUs."""
    load, cores = info.get("load_average_1min"), info.get("cpu_count") or 1
    if load is not None and load > 0.5 * cores:
        return f"WARNING: load average {load} on {cores} cores: other work is running, figures are indicative only"
    return None



def announce(title: str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Print the benchmark's header line (date, CPU, threads, torch, device) and a warning if the CPUs are busy.

    Returns:
        :func:`machine_info` of ``device``.
    """
    info = machine_info(device)
    print(f"{title}: {info['date_utc']}, {info['cpu']} ({info['cpu_count']} cores), "
          f"{info['torch_threads']} threads, torch {info['torch']}, device {device}")  # fmt: skip
    if warning := busy_warning(info):
        print(warning)
    return info

def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain aligned table (floats with 3 significant decimals)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` (nothing when ``path`` is None)."""
    if path:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with open(path, "w") as stream:
            json.dump(payload, stream, indent=2, default=str)
        print(f"\nwrote {path}")
