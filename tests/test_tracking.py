"""Experiment tracking: ``--tracking mlflow`` (offline, SQLite store in the bundle's eval/) and TensorBoard events."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from monai.handlers import from_engine
from monai.utils import path_to_sqlite_uri

from bundle_runs import TINY, run_bundle, tiny_dataset
from synfoc_components.engines.trainer import LOSS_TERMS
from synfoc_components.handlers import scalar_outputs, tracked_handlers
from synfoc_components.handlers.tracking import _fitted_transform
from synfoc_components.metrics import PSEUDO_LABEL_QUANTITIES

STATS = ("loss", *LOSS_TERMS, "confidence", "alpha", "weight")
"""What every training iteration reports: the total, each loss term, the confident-pixel ratio, alpha, the ramp."""
DOMAINS = ("A", "B")  # of tiny_dataset
PSEUDO = {f"pseudo_{q}{d}" for q in PSEUDO_LABEL_QUANTITIES for d in ("", "/B")}
"""What every validation reports on the pseudo-labels (tiny_dataset's unlabeled images are all of domain B)."""


def required_mlflow():
    """The mlflow module; fails (not skips) the test without it: requirements-dev.txt installs it, and CI must run
    these tests."""
    try:
        import mlflow
    except ImportError as error:
        pytest.fail(f"mlflow cannot be imported ({error}): install the test requirements, pip install -r "
                    "requirements-dev.txt", pytrace=False)  # fmt: skip
    return mlflow


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    """A bundle root trained for 4 iterations (2 validations) with ``--tracking mlflow``."""
    required_mlflow()
    root = tmp_path_factory.mktemp("tracked")
    tiny_dataset(root)
    result = run_bundle("run", ["train.json"], root, *TINY, "--max_iterations", "4", "--val_interval", "2",
                        "--tracking", "mlflow")  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def test_mlflow_run_holds_loss_terms_and_validation_dice(tracked):
    mlflow = required_mlflow()
    database = tracked / "eval" / "mlruns.db"
    assert database.is_file(), "the tracking store belongs in the bundle's eval/"
    client = mlflow.MlflowClient(tracking_uri=path_to_sqlite_uri(database))
    experiment = client.get_experiment_by_name("monai_experiment")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run_id = runs[0].info.run_id
    metrics = set(runs[0].data.metrics)
    assert set(STATS) <= metrics, f"missing {set(STATS) - metrics}"
    for model in ("sam", "unet"):
        assert {f"val_dice_{model}", *(f"val_dice_{model}/{d}" for d in DOMAINS)} <= metrics
        history = client.get_metric_history(run_id, f"val_dice_{model}")
        assert [m.step for m in history] == [1, 2] and all(0 <= m.value <= 1 for m in history)
    assert PSEUDO <= metrics, f"missing {PSEUDO - metrics}"
    assert [m.step for m in client.get_metric_history(run_id, "pseudo_dice_ensemble/B")] == [1, 2]
    assert [m.step for m in client.get_metric_history(run_id, "sup_sam")] == [1, 2, 3, 4]
    assert [m.step for m in client.get_metric_history(run_id, "weight")] == [1, 2, 3, 4]


def test_tensorboard_events_hold_every_term_and_domain_dice(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for path in (tracked / "eval").glob("events.out.tfevents.*"):
        events = EventAccumulator(str(path))
        events.Reload()
        tags |= set(events.Tags()["scalars"])
    assert set(STATS) <= tags, f"missing {set(STATS) - tags}"
    for model in ("sam", "unet"):
        assert {f"val_dice_{model}", *(f"val_dice_{model}/{d}" for d in DOMAINS)} <= tags
    assert PSEUDO <= tags, f"missing {PSEUDO - tags}"


def test_tracked_handlers_without_mlflow_change_nothing():
    handlers = [object(), object()]
    assert tracked_handlers(handlers, [], 5) == handlers
    with pytest.raises(ValueError, match="log_interval"):
        tracked_handlers(handlers, [], 0)


def test_fitted_transform_logs_every_scalar_of_a_dict_output():
    output = {"loss": 1.5, "sup_sam": torch.tensor(0.5), "weight": 0.1, "name": "x", "flag": True}
    default = _fitted_transform(from_engine(["loss"], first=True))  # MONAI's, a 1-tuple on a dict
    assert default(output) == {"loss": 1.5, "sup_sam": 0.5, "weight": 0.1} == scalar_outputs(output)
    assert _fitted_transform(lambda x: x["loss"])(output) == 1.5  # a working custom transform is kept
    assert default([{"loss": 2.0}]) == 2.0  # MONAI's decollated outputs, as before
