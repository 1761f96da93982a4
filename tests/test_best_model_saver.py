"""BestModelSaver: the best model of validation is kept across a resume (a worse first validation writes nothing), and
each save is followed by the settings file that names the weights it describes."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from ignite.metrics import Metric
from monai.engines import SupervisedEvaluator

from synfoc_components.handlers import BestModelSaver
from synfoc_components.networks import ModelSettings, settings_file


class _Scripted(Metric):
    """A key metric whose value at each run is the next of ``scores``."""

    required_output_keys = None

    def __init__(self, scores: list[float]) -> None:
        self.scores = list(scores)
        super().__init__(output_transform=lambda output: (output, output))

    def reset(self) -> None:
        pass

    def update(self, output) -> None:
        pass

    def compute(self) -> float:
        return self.scores.pop(0)


def _evaluator(network: torch.nn.Module, scores: list[float], saver: BestModelSaver) -> SupervisedEvaluator:
    data = [{"image": torch.zeros(1, 1), "label": torch.zeros(1, 1)}]
    return SupervisedEvaluator(
        device="cpu", val_data_loader=data, network=network, key_val_metric={"dice": _Scripted(scores)},
        val_handlers=[saver], decollate=False,
    )  # fmt: skip


def test_a_resumed_run_keeps_the_best_model_of_the_whole_run(tmp_path):
    path = tmp_path / "model.pt"
    network = torch.nn.Linear(1, 1)
    first = BestModelSaver(network, path)
    _evaluator(network, [0.8], first).run(global_epoch=1)
    best = {k: v.clone() for k, v in torch.load(path, weights_only=True).items()}
    state = first.state_dict()
    assert state == {"best_metric": 0.8, "best_metric_epoch": 1}

    with torch.no_grad():
        network.weight.fill_(3.0)  # the resumed run's weights differ
    resumed = BestModelSaver(network, path)
    resumed.load_state_dict(state)  # before attach, as TrainState does while the bundle is built
    evaluator = _evaluator(network, [0.5, 0.9], resumed)
    evaluator.run(global_epoch=2)  # worse than the run's best: model.pt stays
    assert all(torch.equal(best[k], v) for k, v in torch.load(path, weights_only=True).items())
    evaluator.run(global_epoch=3)  # better: replaced
    assert torch.equal(torch.load(path, weights_only=True)["weight"], network.weight.detach())
    assert resumed.state_dict() == {"best_metric": 0.9, "best_metric_epoch": 3}


def test_each_save_writes_the_settings_file_after_the_weights(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    network = torch.nn.Linear(1, 1)
    settings = ModelSettings("tiny", 64, 4, 4, 64, 4, 2, 1, class_names=("prostate",), bundle_version="9.9.9")
    evaluator = _evaluator(network, [0.5, 0.9], BestModelSaver(network, path, settings=settings))
    evaluator.run(global_epoch=1)
    saved = ModelSettings.read(path, description=None)  # checks the recorded SHA-256 against model.pt
    assert saved == dataclasses.replace(settings, network="Linear")
    assert saved.source == str(settings_file(path)) and saved.bundle_version == "9.9.9"

    with torch.no_grad():
        network.weight.fill_(3.0)
    monkeypatch.setattr(ModelSettings, "write", lambda *args: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):  # killed between the two files: new weights, the old settings file
        evaluator.run(global_epoch=2)
    with pytest.raises(ValueError, match="records other weights than"):
        ModelSettings.read(path, description=None)
