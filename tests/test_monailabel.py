"""MONAI Label end to end: its own environment, the ``monaibundle`` app serving a prostate bundle trained here and
shared as a Model Zoo archive (the unzipped folder, with the code it carries), on a real server on loopback: ``/info/``, ``/infer/`` on the labeled site's test PNGs (and the same mask as the bundle's
plain ``inference.json``, which both build from the model's settings file), and one training epoch through ``/train/``.

The environment is built once into ``$SYNFOC_MONAILABEL_VENV`` (default ``~/.cache/synfoc_components/
venv-monailabel``, outside the checkout, so that a fresh clone on the same machine reuses it; about 3 minutes,
reused while its stamp matches) and fails the test when it cannot be built (e.g. no package index): MONAI Label
support is part of the product.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

import monai.bundle
import numpy as np
import pytest
import torch
from PIL import Image

from bundle_runs import CONFIGS, ONE_THREAD, REPO, TINY, as_overrides, one_torch_thread, train_tiny
from synfoc_components.label.app import copy_app, link_bundles
from synfoc_components.label.environment import ensure_environment
from synfoc_components.label.server import running_server, server_command
from synfoc_components.label.studies import study_name, write_studies
from zoo_helpers import copy_bundle, packaged_and_unzipped

pytestmark = pytest.mark.slow

VENV = Path(os.environ.get("SYNFOC_MONAILABEL_VENV", Path.home() / ".cache/synfoc_components/venv-monailabel"))
MODEL = "prostate_segmentation"
QUICK = {
    "foundation": "tiny", "sam_size": 128, "sam_logit_stride": 4, "sam_lr": 0.005, "unet_size": 64,
    "unet_channels": 4, "num_workers": 0, "batch_size": 2, "max_iterations": 100, "val_interval": 100,
    "log_interval": 10,
}  # fmt: skip
"""The cheapest settings found whose deploy network overlaps demo labels (val Dice about 0.6 after 100 iterations,
about 30 s). MONAI Label trains with the config file, so they are written into the test bundle's ``train.json``;
``inference.json`` stays as shipped: it reads them from the trained model's settings file."""
LOGS: dict[str, Path] = {}


def with_settings(config: Path, settings: dict) -> None:
    """Set top-level keys of a JSON bundle config (those that exist in it)."""
    document = json.loads(config.read_text())
    document.update({k: v for k, v in settings.items() if k in document})
    config.write_text(json.dumps(document, indent=4))


def server_log(full: bool = False) -> str:
    """The server's output (with its training subprocesses'); the end only, for failure messages."""
    log = LOGS.get("server")
    text = log.read_text() if log and log.is_file() else "(no server log)"
    return text if full else text[-6000:]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float(np.logical_and(a, b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, dict]:
    """A ``multipart/form-data`` body and its header."""
    boundary = "synfoc-test-boundary"
    disposition = "Content-Disposition: form-data; name="
    parts = [f'--{boundary}\r\n{disposition}"{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    for key, (name, data) in files.items():
        head = f'--{boundary}\r\n{disposition}"{key}"; filename="{name}"\r\nContent-Type: image/png\r\n\r\n'
        parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 120) -> bytes:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{url}: HTTP {error.code} {error.read()[:2000]!r}\n{server_log()}") from None


@pytest.fixture(scope="module")
def python() -> Path:
    """MONAI Label's environment (built once, then reused)."""
    return ensure_environment(VENV)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, prostate_demo) -> Path:
    """The prostate bundle with the :data:`QUICK` settings, trained on its demo data (a copy of the session's), then
    shared as a Model Zoo archive and unzipped elsewhere: MONAI Label serves the unzipped folder (its configs, its
    weights and the code it carries). The demo data and the training state are copied beside it, as a receiver brings
    their own data."""
    work = tmp_path_factory.mktemp("label")
    source = copy_bundle(REPO / "bundles" / "prostate", work / "sender")
    shutil.copytree(prostate_demo.folder, source / "data")
    with_settings(source / "configs" / "train.json", QUICK)
    workflow = monai.bundle.ConfigWorkflow(
        config_file=str(source / "configs" / "train.json"), meta_file=str(source / "configs" / "metadata.json"),
        logging_file=False, run_id="run", bundle_root=str(source),
    )  # fmt: skip
    with one_torch_thread():  # as the command runs it, on one thread
        workflow.initialize()
        workflow.run()
        workflow.finalize()
    root = packaged_and_unzipped(source, work, "--limit_mb", "100")
    assert (root / "synfoc_components" / "__init__.py").is_file() and (root / "models" / "model.pt").is_file()
    shutil.copytree(source / "data", root / "data")
    shutil.copyfile(source / "models" / "train_state.pt", root / "models" / "train_state.pt")
    assert (root / "configs" / "inference.json").read_text() == (CONFIGS / "inference.json").read_text()
    return root


def plain_inference(bundle: Path, image: Path, out: Path) -> np.ndarray:
    """The mask the bundle's own ``inference.json`` writes for ``image``, with no override (run in this process)."""
    inputs = out / "in"
    inputs.mkdir(parents=True)
    shutil.copyfile(image, inputs / image.name)
    workflow = monai.bundle.ConfigWorkflow(
        config_file=str(bundle / "configs" / "inference.json"), meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=False, run_id="run", bundle_root=str(bundle), input_dir=str(inputs), output_dir=str(out / "out"),
    )  # fmt: skip
    with one_torch_thread():
        workflow.initialize()
        workflow.run()
        workflow.finalize()
    return np.asarray(Image.open(out / "out" / image.name))


class Demo(NamedTuple):
    id: str  # MONAI Label's image id: the studies file name without extension
    image: Path
    label: Path


@pytest.fixture(scope="module")
def site_tests(bundle) -> list[Demo]:
    """Every test-split PNG of the labeled site, in the datalist's order."""
    data = bundle / "data"
    datalist = json.loads((data / "datalist.json").read_text())
    site = datalist["labeled"][0]["domain"]
    items = [item for item in datalist["test"] if item["domain"] == site]
    assert items, f"no test images of the labeled site {site} in {data / 'datalist.json'}"
    return [Demo(Path(study_name(i["image"])).stem, data / i["image"], data / i["label"]) for i in items]


@pytest.fixture(scope="module")
def demo(site_tests) -> Demo:
    """One of them, for the requests that need a single image."""
    return site_tests[0]


@pytest.fixture(scope="module")
def server(python, bundle, site_tests, tmp_path_factory):
    """A MONAI Label server on a free loopback port serving the bundle; stopped (its process group) afterwards."""
    work = tmp_path_factory.mktemp("server")
    app = copy_app(python, work / "apps" / "monaibundle")
    assert list(link_bundles(app, [bundle])) == [MODEL]
    studies = write_studies(bundle / "data" / "datalist.json", work / "studies", labeled=6, unlabeled=0)
    for test in site_tests:
        shutil.copyfile(test.image, studies / f"{test.id}.png")  # to segment: no label
    port = free_port()
    cmd = server_command(python, app, studies, [MODEL], port=port)
    env = {k: v for k, v in ONE_THREAD.items() if k != "PYTHONPATH"}
    LOGS["server"] = work / "server.log"
    with open(LOGS["server"], "w") as log:
        start = time.monotonic()
        try:
            with running_server(cmd, log, f"http://127.0.0.1:{port}", env=env) as info:
                yield f"http://127.0.0.1:{port}", info, time.monotonic() - start
        except RuntimeError as error:
            raise AssertionError(f"{error}\n{server_log()}") from None


def test_info_lists_the_bundle(server):
    _, info, seconds = server
    assert seconds < 120, f"the server took {seconds:.0f} s to answer /info/"
    model = info["models"].get(MODEL)
    assert model, f"{MODEL} not served: {sorted(info['models'])}\n{server_log()}"
    assert model["type"] == "segmentation" and model["dimension"] == 2
    assert model["labels"] == {"prostate": 1}
    assert MODEL in info["trainers"]
    assert "sam_2d" not in info["models"]  # --conf sam2 false


def test_infer_segments_the_labeled_sites_test_pngs(server, bundle, site_tests, demo, tmp_path):
    """Mean Dice over all the labeled site's test images (0.71 over 12 when measured with inference.json alone)."""
    url = server[0]
    body = urllib.parse.urlencode({"params": json.dumps({})}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    scores, preds = {}, {}
    for test in site_tests:
        png = call(f"{url}/infer/{MODEL}?image={test.id}&output=image", body, headers)
        pred = preds[test.id] = np.asarray(Image.open(BytesIO(png)))
        label = np.asarray(Image.open(test.label))
        assert pred.shape == label.shape, f"{test.id}: label image {pred.shape} for an input of {label.shape}"
        assert set(np.unique(pred)) <= {0, 1}, test.id
        scores[test.id] = dice(pred == 1, label == 1)
    mean = float(np.mean(list(scores.values())))
    listed = ", ".join(f"{name} {score:.3f}" for name, score in scores.items())
    logging.getLogger(__name__).info("MONAI Label segmented %d test images: mean Dice %.3f (%s)", len(scores), mean,
                                     listed)  # fmt: skip
    assert mean > 0.5, f"mean Dice {mean:.3f} over the labeled site's {len(scores)} test images: {listed}"
    # the network MONAI Label built from the model's settings file is the one the plain inference.json builds
    pred, mask = preds[demo.id], plain_inference(bundle, demo.image, tmp_path)
    assert np.array_equal(pred, mask), f"{int((pred != mask).sum())} pixels differ from inference.json's mask"
    image, crop = Image.open(demo.image), BytesIO()
    width, height = image.size
    image.crop((width // 10, 0, width, height * 3 // 4)).save(crop, format="PNG")  # not square: are axes kept?
    body, headers = multipart({"params": "{}"}, {"file": ("crop.png", crop.getvalue())})  # an upload, not an id
    png = call(f"{url}/infer/{MODEL}?output=image", body, headers)
    assert np.asarray(Image.open(BytesIO(png))).shape == (height * 3 // 4, width - width // 10)


def test_train_one_epoch_writes_a_new_model(server, bundle, demo):
    url = server[0]
    models = bundle / "models"
    before, state = digest(models / "model.pt"), digest(models / "train_state.pt")
    params = json.dumps({"max_epochs": 1, "val_split": 0.3, "multi_gpu": False}).encode()
    task = json.loads(call(f"{url}/train/{MODEL}", params, {"Content-Type": "application/json"}))
    assert task.get("status") in {"SUBMITTED", "RUNNING", "DONE"}, task
    deadline = time.monotonic() + 600
    while (status := json.loads(call(f"{url}/train/")))["status"] in {"SUBMITTED", "RUNNING"}:
        assert time.monotonic() < deadline, "training did not finish within 600 s"
        time.sleep(2)
    details = "\n".join(status.get("details", []))
    assert status["status"] == "DONE", f"{status['status']}:\n{details}\n{server_log()}"
    assert digest(models / "model.pt") != before, f"no new model.pt:\n{details}"
    assert digest(models / "train_state.pt") == state, "MONAI Label's run touched the bundle's own training state"
    assert (models / "train_state_monailabel.pt").is_file()
    assert "/model_unet.pt into UNet" in server_log(full=True), "the U-Net did not start from models/model_unet.pt"
    body = urllib.parse.urlencode({"params": "{}"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    png = call(f"{url}/infer/{MODEL}?image={demo.id}&output=image", body, headers)  # reloads the new model.pt
    assert np.asarray(Image.open(BytesIO(png))).shape == np.asarray(Image.open(demo.label)).shape


def test_train_config_takes_monailabel_overrides(tmp_path, monkeypatch, caplog):
    """``train.json`` run as MONAI Label's ``BundleTrainTask`` runs it (in this environment, no server): datastore
    pairs without domains, a ``CheckpointLoader`` prepended to ``train#handlers``, ``max_epochs`` 1; it starts afresh
    beside the bundle's own training state, loads both students' models and writes a new ``model.pt``."""
    root = train_tiny(tmp_path / "prostate")
    models = root / "models"
    before = {name: digest(models / name) for name in ("model.pt", "train_state.pt")}
    datalist = json.loads((root / "data" / "datalist.json").read_text())
    data = root / "data"
    pairs = [{"image": str(data / i["image"]), "label": str(data / i["label"])} for i in datalist["labeled"]]
    handlers = json.loads((CONFIGS / "train.json").read_text())["train"]["handlers"]
    assert all(isinstance(h, dict) for h in handlers), "MONAI Label calls .get on every train#handlers entry"
    loader = {"_target_": "CheckpointLoader", "load_path": str(models / "model.pt"), "load_dict": {"model": "@network"}}
    overrides = {
        "bundle_root": str(root), "device": "cpu", "train#trainer#max_epochs": 1, "train#handlers": [loader, *handlers],
        "train#dataset#data": pairs[:-1], "validate#dataset#data": pairs[-1:],
        **as_overrides(*TINY, "--max_iterations", "2", "--val_interval", "2"),
    }  # fmt: skip
    monkeypatch.setenv("MONAI_LABEL_APP_DIR", str(tmp_path))
    with one_torch_thread(), caplog.at_level(logging.INFO):
        monai.bundle.run(
            run_id="run",
            meta_file=str(CONFIGS / "metadata.json"),
            config_file=str(CONFIGS / "train.json"),
            logging_file=False,
            **overrides,
        )
    assert digest(models / "train_state.pt") == before["train_state.pt"]
    assert digest(models / "model.pt") != before["model.pt"]
    assert torch.load(models / "train_state_monailabel.pt", weights_only=False)["trainer"]["iteration"] == 2
    assert f"loaded {models / 'model_unet.pt'} into UNet" in caplog.text
