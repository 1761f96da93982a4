"""Small ignite handlers (``attach(engine)``) used by the SynFoC bundles."""

from __future__ import annotations

from .best_model_saver import BestModelSaver
from .ema import EMATeacher, ema_rate
from .model_loader import ModelLoader
from .domain_metrics_saver import DomainMetricsSaver
from .pseudo_label_monitor import PseudoLabelMonitor
from .train_state import TrainState, rng_state, set_rng_state
from .progress import LossProgressBar
from .tracking import scalar_outputs, tracked_handlers

__all__ = [
    "BestModelSaver",
    "DomainMetricsSaver",
    "EMATeacher",
    "LossProgressBar",
    "ModelLoader",
    "PseudoLabelMonitor",
    "TrainState",
    "ema_rate",
    "rng_state",
    "scalar_outputs",
    "set_rng_state",
    "tracked_handlers",
]
