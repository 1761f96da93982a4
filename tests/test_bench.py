"""The benchmarks keep working: each script end to end in its quick mode, and the upstream-style reference computes
what the package computes (same confidence, same decoder output, same losses)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is not installed with the package: import it from the checkout
    sys.path.insert(0, str(REPO))

from bench import data as bench_data  # noqa: E402
from bench import flops as bench_flops  # noqa: E402
from bench import gpu as bench_gpu  # noqa: E402
from bench import infer as bench_infer  # noqa: E402
from bench import step as bench_step  # noqa: E402
from bench.measure import StepBench  # noqa: E402
from bench.upstream_step import UpstreamIteration, host_confidence, sam_per_image  # noqa: E402
from bench.workload import QUICK, build_models, build_trainer, make_batches  # noqa: E402
from synfoc_components.losses import self_mutual_confidence  # noqa: E402
from synfoc_components.networks import SamAdapter  # noqa: E402

SPLITS = {"labeled": 4, "unlabeled": 8, "val": 2, "test": 4}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> str:
    """A prepared dataset of 96 x 96 slices in the layout ``prepare`` writes (much faster than the demo)."""
    root = tmp_path_factory.mktemp("bench_data")
    rng = np.random.default_rng(0)
    datalist: dict = {"dataset": "prostate", "channels": 1, "num_classes": 2}
    for split, count in SPLITS.items():
        items = []
        for i in range(count):
            label = np.zeros((96, 96), np.uint8)
            label[30:60, 20 + i : 60 + i] = 1
            image = (rng.random((96, 96)) * 80 + 120 * label).astype(np.uint8)
            for kind, array in (("images", image), ("labels", label)):
                (root / kind / "SITE").mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(root / kind / "SITE" / f"{split}_{i}.png")
            items.append({"image": f"images/SITE/{split}_{i}.png", "label": f"labels/SITE/{split}_{i}.png",
                          "domain": "SITE", "case": f"{split}{i}", "slice": 0, "split": split})  # fmt: skip
        datalist[split] = items
    (root / "datalist.json").write_text(json.dumps(datalist))
    return str(root)


@pytest.fixture(autouse=True)
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_step_quick(tmp_path):
    out = tmp_path / "step.json"
    bench_step.main(["--quick", "--threads", "1", "--repeats", "2", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["overhead_ratio"] > 0 and result["reference_ratio"] > 0
    assert set(result["backbones"]) == {"tiny"}
    assert len(result["backbones"]["tiny"]["iteration"]["samples_s"]) == 2


def test_data_quick(tmp_path, small_dataset):
    out = tmp_path / "data.json"
    bench_data.main(["--quick", "--threads", "1", "--data-dir", small_dataset, "--train-iterations", "1",
                     "--iteration-ms", "100", "--json", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert result["loaders"]["num_workers"] == 2  # the bundle's default
    assert result["supply"]["images_per_s_per_loader"] > 0
    assert {c["iteration"] for c in result["consumers"]} >= {"100 ms (given)"}
    assert 0 <= result["training"]["wait_share"] <= 1


def test_infer_quick(tmp_path, small_dataset):
    out = tmp_path / "infer.json"
    bench_infer.main(["--quick", "--threads", "1", "--data-dir", small_dataset, "--json", str(out)])
    result = json.loads(out.read_text())
    for network in result["networks"].values():
        assert network["masks_written"] == network["images_timed"] + 1  # one warm-up image
        assert 0 < network["pre_post_share"] < 1


def test_gpu_dry_run_on_cpu(tmp_path, small_dataset):
    out = tmp_path / "gpu.json"
    bench_gpu.main(["--device", "cpu", "--tiny", "--threads", "1", "--variants", "default", "--data-dir",
                    small_dataset, "--infer-images", "2", "--json", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert not result["errors"], result["errors"]
    run = result["training"]["tiny/default"]
    assert run["flops"] > 0 and run["ms_per_iteration"] > 0 and run["overhead_ratio"] > 0
    assert set(result) >= {"data", "infer"}


def test_gpu_variants_set_the_bundle_keys_through_the_trainer(tmp_path):
    """``contiguous`` and ``compile`` run (the eager backend keeps the dry run quick) and reach the trainer."""
    out = tmp_path / "gpu.json"
    bench_gpu.main(["--device", "cpu", "--tiny", "--threads", "1", "--variants", "contiguous", "compile",
                    "--compile-kwargs", '{"backend": "eager"}', "--skip-data", "--skip-infer", "--no-upstream",
                    "--json", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert not result["errors"], result["errors"]
    assert result["training"]["tiny/contiguous"]["options"]["channels_last"] is False
    assert result["training"]["tiny/compile"]["options"]["compile_kwargs"] == {"backend": "eager"}
    bench = StepBench(QUICK, torch.device("cpu"), **bench_gpu.VARIANTS["compile"], compile_kwargs={"backend": "eager"})
    trainer = bench.trainer(1)
    assert trainer.channels_last and type(trainer.unet).__name__ == "OptimizedModule"
    assert bench.passes(trainer).models.unet is trainer.unet
    assert next(bench.models.unet.parameters()).is_contiguous(memory_format=torch.channels_last)


def test_flops_quick():
    counts = bench_flops.main(["--quick", "--threads", "1"])["flops"]["quick"]
    assert counts["total"] == pytest.approx(counts["SAM total"] + counts["U-Net total"])
    assert counts["U-Net student backward"] > counts["U-Net student forwards"]


def test_host_confidence_matches_the_package():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randint(0, 3, (4, 32, 32), generator=g), torch.randint(0, 3, (4, 32, 32), generator=g)
    sam = torch.randint(0, 3, (4, 16, 16), generator=g)
    student[0], teacher[0] = 0, 0  # both empty: Dice 1
    structures = [(1,), (1, 2)]
    expected = self_mutual_confidence(student, teacher, sam, structures)
    torch.testing.assert_close(host_confidence(student, teacher, sam, structures), expected)


def test_per_image_decoding_matches_the_batched_decoder():
    torch.manual_seed(0)
    sam = SamAdapter("tiny", num_classes=3, img_size=64).eval()
    x = torch.rand(3, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(sam_per_image(sam, x), sam(x), rtol=1e-4, atol=1e-5)


def test_upstream_iteration_computes_the_trainer_losses():
    """From identical networks, batches and box streams, both iterations give the same loss terms."""
    device = torch.device("cpu")
    labeled, unlabeled = make_batches(QUICK)
    ours = build_trainer(build_models(QUICK, device), QUICK, labeled, unlabeled, 1, device)
    reference = UpstreamIteration(build_trainer(build_models(QUICK, device), QUICK, labeled, unlabeled, 1, device),
                                  labeled, unlabeled)  # fmt: skip
    ours.state.iteration = 1
    expected = ours._iteration(ours, labeled)
    reference()
    for name, value in reference.log.items():
        assert value == pytest.approx(expected[name], rel=1e-4, abs=1e-6), name
