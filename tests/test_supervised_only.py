"""The supervised-only baseline as the README runs it: ``train.json`` + ``supervised_only.json``, ``training``."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigWorkflow

from bundle_runs import CONFIGS, TINY, as_overrides, one_torch_thread, tiny_dataset


def _count_items(dataset, counts: dict[str, int], name: str) -> None:
    """Count the items ``dataset`` loads (``monai.data.Dataset.__getitem__`` goes through ``_transform``)."""
    load = dataset._transform

    def counted(index: int):
        counts[name] += 1
        return load(index)

    dataset._transform = counted


def test_supervised_only_trains_two_iterations_without_drawing_unlabeled_data(tmp_path):
    tiny_dataset(tmp_path)
    workflow = ConfigWorkflow(
        config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "supervised_only.json")],
        meta_file=str(CONFIGS / "metadata.json"), logging_file=False, run_id="training", bundle_root=str(tmp_path),
        **as_overrides(*TINY, "--max_iterations", "2"),  # fewer than val_interval (500): one short epoch
    )  # fmt: skip
    parser = workflow.parser
    loaded = {"labeled": 0, "unlabeled": 0}
    outputs: list[dict] = []
    with one_torch_thread():
        workflow.initialize()
        _count_items(parser.get_parsed_content("train#dataset"), loaded, "labeled")
        _count_items(parser.get_parsed_content("train#unlabeled_dataset"), loaded, "unlabeled")
        trainer = parser.get_parsed_content("train#trainer")
        trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: outputs.append(dict(e.state.output)))
        workflow.run()
        workflow.finalize()

    assert trainer.unlabeled_data_loader is None and trainer.state.iteration == 2
    assert [set(out) for out in outputs] == [{"loss", "sup_sam", "sup_unet", "weight"}] * 2
    for out in outputs:
        assert out["weight"] == 0.0 and out["loss"] == pytest.approx(out["sup_sam"] + out["sup_unet"], rel=1e-6)
    batch = parser.get_parsed_content("batch_size")
    assert parser.get_parsed_content("train#dataloader").consumed == 2 * batch and loaded["labeled"] >= 2 * batch
    assert parser.get_parsed_content("train#unlabeled_dataloader").consumed == 0
    assert loaded["unlabeled"] == 0, f"{loaded['unlabeled']} unlabeled items were loaded"
    state = torch.load(tmp_path / "models" / "train_state.pt", weights_only=False)
    assert state["unlabeled_loader"]["consumed"] == 0 and state["trainer"]["iteration"] == 2
    assert (tmp_path / "models" / "model.pt").is_file() and (tmp_path / "eval" / "metrics.json").is_file()
