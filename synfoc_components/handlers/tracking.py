"""Fit MONAI's ``--tracking mlflow`` handlers to the SynFoC trainer: every loss term and both validators' Dice."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
from ignite.engine import Engine, Events
from monai.handlers import MLFlowHandler

__all__ = ["scalar_outputs", "tracked_handlers"]

logger = logging.getLogger(__name__)


def scalar_outputs(output: Any) -> dict[str, float] | None:
    """Every scalar of a trainer output dict (the loss terms, ``confidence``, ``alpha``, ``weight``) as floats.

    Args:
        output: ``engine.state.output``.

    Returns:
        ``{name: value}`` of its numeric (or one-element tensor) entries, or None when ``output`` is not a dict.
    """
    if not isinstance(output, dict):
        return None
    scalars = {}
    for name, value in output.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            scalars[name] = float(value.item())
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            scalars[name] = float(value)
    return scalars


def _fitted_transform(original: Callable) -> Callable:
    """``original`` where it gives MLflow something it can log (a number or a dict), :func:`scalar_outputs` else.

    MONAI's default, ``from_engine(['loss'], first=True)``, expects decollated outputs (a list of dicts); on a dict
    it returns a 1-tuple, which MLflow rejects. A custom transform from a tracking settings file that works is kept.
    """

    def transform(output: Any) -> Any:
        try:
            value = original(output)
        except (KeyError, IndexError, TypeError):
            value = None
        if isinstance(value, (dict, numbers.Real)) or (isinstance(value, torch.Tensor) and value.numel() == 1):
            return value
        return scalar_outputs(output)

    return transform


def _every(interval: int) -> Callable[[Engine, int], bool]:
    """An ignite event filter that passes every ``interval``-th iteration."""
    return lambda engine, iteration: iteration % interval == 0


def _attach_companion(trainer_handler: MLFlowHandler, validator: Engine) -> None:
    """Attach to ``validator`` an epoch-level MLflow handler that writes into ``trainer_handler``'s run."""
    handler = MLFlowHandler(
        tracking_uri=trainer_handler.client.tracking_uri,
        iteration_log=False,
        experiment_name=trainer_handler.experiment_name,
        run_name=trainer_handler.run_name,
        artifact_location=trainer_handler.artifact_location,
    )

    def share_run(engine: Engine) -> None:
        if handler.cur_run is None:  # the trainer started its run before the first validation
            handler.cur_run = trainer_handler.cur_run

    validator.add_event_handler(Events.STARTED, share_run)  # before handler.start, which keeps a set run
    handler.attach(validator)


def tracked_handlers(handlers: Sequence[Any], validators: Sequence[Engine] = (), log_interval: int = 1) -> list[Any]:
    """The trainer's handlers, with an ``MLFlowHandler`` among them fitted to the SynFoC trainer.

    ``python -m monai.bundle run ... --tracking mlflow`` appends an ``MLFlowHandler`` to ``train#handlers`` that logs
    ``from_engine(['loss'], first=True)`` of each iteration's output; on this trainer's output (a dict of floats) that
    is a 1-tuple, which MLflow rejects. Here that handler logs every scalar of the output instead (each loss term, the
    confident-pixel ratio ``confidence``, ``alpha`` and the ramp weight ``weight``, as TensorBoard gets them) every
    ``log_interval`` iterations, and each engine of ``validators`` gets an epoch-level ``MLFlowHandler`` writing its
    metrics (Dice overall and per domain) into the same run: MONAI adds one only to ``validate#evaluator``, so this
    covers the U-Net's validator. Without an ``MLFlowHandler`` (no ``--tracking``, or a rank > 0 under
    torch.distributed, where MONAI disables it) the handlers come back unchanged.

    Args:
        handlers: the resolved ``train#handlers``.
        validators: further validation engines to track (not ``validate#evaluator``, which MONAI tracks).
        log_interval: iterations between two logged outputs (when MONAI's handler logs every iteration).

    Returns:
        The same handlers, as a list.

    Raises:
        ValueError: when ``log_interval`` is not positive.
    """
    if log_interval < 1:
        raise ValueError(f"tracked_handlers: log_interval must be >= 1, got {log_interval}")
    handlers = list(handlers)
    tracking = [h for h in handlers if isinstance(h, MLFlowHandler)]
    for handler in tracking:
        handler.output_transform = _fitted_transform(handler.output_transform)
        if handler.iteration_log is True and log_interval > 1:
            handler.iteration_log = _every(log_interval)
    if tracking:
        for validator in validators:
            _attach_companion(tracking[0], validator)
        logger.info(
            "MLflow tracking at %s: every trainer output scalar each %d iterations, validation metrics of %d + 1 "
            "validators",
            tracking[0].client.tracking_uri,
            log_interval,
            len(validators),
        )
    return handlers
