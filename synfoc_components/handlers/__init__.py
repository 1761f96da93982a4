"""Small ignite handlers (``attach(engine)``) used by the SynFoC bundles."""

from __future__ import annotations

from .ema import EMATeacher, ema_rate
from .domain_metrics_saver import DomainMetricsSaver
from .train_state import TrainState, rng_state, set_rng_state
from .progress import LossProgressBar
