"""The consistency weight lambda(t) of the upstream code."""

from __future__ import annotations

import math

__all__ = ["consistency_ramp"]


def consistency_ramp(iteration: int, max_iterations: int, rampup_steps: int = 200) -> float:
    """Sigmoid-shaped ramp from exp(-5) to 1 over the whole run, in ``rampup_steps`` stairs (docs/method.md 3.7).

    lambda(t) = exp(-5 (1 - e / rampup_steps)^2) with e = floor(t / (max_iterations / rampup_steps)), clipped to
    [0, rampup_steps]. The paper prints exp(-5 (1 - t / T)); the code that produced its numbers squares.

    Args:
        iteration: the current iteration t, counted from 0.
        max_iterations: the run's length T.
        rampup_steps: number of stairs (the upstream ``consistency_rampup``, 200).

    Returns:
        The weight, exp(-5) ~ 0.0067 at t = 0, ~0.29 at T/2 and 1.0 at T.
    """
    if max_iterations <= 0:
        raise ValueError(f"max_iterations must be positive, got {max_iterations}")
    step = min(max(iteration // (max_iterations / rampup_steps), 0.0), float(rampup_steps))
    phase = 1.0 - step / rampup_steps
    return math.exp(-5.0 * phase * phase)
