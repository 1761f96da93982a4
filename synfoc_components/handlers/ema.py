"""Mean-teacher update of a teacher network from its student after every iteration."""

from __future__ import annotations

import torch
from ignite.engine import Engine, Events

from synfoc_components.networks.wrappers import unwrap

__all__ = ["EMATeacher", "ema_rate"]


def ema_rate(step: int, decay: float = 0.99) -> float:
    """The upstream rate min(1 - 1/(step + 1), decay): at step 0 the teacher becomes a copy of the student."""
    return min(1.0 - 1.0 / (step + 1), decay)


class EMATeacher:
    """Keeps ``teacher`` an exponential moving average of ``student``'s parameters.

    The U-Net teacher follows every parameter (buffers such as BatchNorm statistics are not copied, as upstream);
    the SAM teacher follows only the trainable ones (LoRA, decoder, prompt encoder): the frozen encoder is
    identical by construction. Attach to a trainer: the update runs on ``ITERATION_COMPLETED``, after the optimizer
    step, with step = iteration - 1.

    Args:
        teacher: the teacher network (its parameters need no gradient).
        student: the student network (DistributedDataParallel and ``torch.compile`` wrappers are unwrapped, the
            teacher's too: the update acts on the parameters the wrappers share).
        decay: the EMA's upper rate (0.99).
        trainable_only: follow only the student's parameters that require grad.
    """

    def __init__(
        self, teacher: torch.nn.Module, student: torch.nn.Module, decay: float = 0.99, trainable_only: bool = False
    ) -> None:
        teacher, student = unwrap(teacher), unwrap(student)
        pairs = [(t, s) for t, s in zip(teacher.parameters(), student.parameters()) if s.requires_grad or not trainable_only]
        self.teacher_params = [t for t, _ in pairs]
        self.student_params = [s for _, s in pairs]
        for t in teacher.parameters():
            t.requires_grad_(False)
        self.decay = decay

    def attach(self, engine: Engine) -> None:
        """Register the update on ``ITERATION_COMPLETED``."""
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        self.update(engine.state.iteration - 1)

    @torch.no_grad()
    def update(self, step: int) -> None:
        """teacher <- rate * teacher + (1 - rate) * student, in one fused call per parameter list."""
        rate = ema_rate(step, self.decay)
        torch._foreach_lerp_(self.teacher_params, self.student_params, 1.0 - rate)
