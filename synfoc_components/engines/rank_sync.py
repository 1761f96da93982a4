"""Keeping the ranks of a torch.distributed run in step: the same start, and one stop for all (README.md,
multi-GPU training)."""

from __future__ import annotations

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from torch.utils.data import DistributedSampler

__all__ = ["RankStop", "check_same_start", "distributed", "follow_epochs"]


def distributed() -> bool:
    """Whether this process is one of several torch.distributed ranks."""
    return idist.get_world_size() > 1


def check_same_start(iteration: int) -> None:
    """Check that every rank resumes from the same iteration (a no-op in a single process).

    Raises:
        RuntimeError: when the ranks resumed from different iterations.
    """
    if not distributed():
        return
    iterations = idist.all_gather(torch.tensor([iteration], device=idist.device()))
    if iterations.min() != iterations.max():
        raise RuntimeError(
            f"the ranks start from different iterations {iterations.tolist()}: every rank must read the same "
            "models/train_state.pt (put bundle_root on storage that all nodes share)"
        )


def follow_epochs(engine: Engine, loader: object) -> None:
    """Set the epoch of ``loader``'s ``DistributedSampler`` (if it has one) at every epoch start of ``engine``, so
    each epoch shuffles anew."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        engine.add_event_handler(Events.EPOCH_STARTED, lambda e: sampler.set_epoch(e.state.epoch))


class RankStop:
    """Stop requests of the ranks, honoured by all of them together.

    A request waits for the next tenth iteration or the epoch's end, where one all-reduce of a flag stops every rank
    if any asked: a SIGTERM reaching the ranks at different moments would otherwise stop them after different
    iterations, and a rank that went on would wait forever in its next all-reduce.
    """

    def __init__(self) -> None:
        self.requested: bool | str = False

    def attach(self, engine: Engine) -> RankStop:
        """Under torch.distributed, check the requests every 10 iterations and at each epoch's end (one all-reduce,
        not one per iteration); returns ``self``."""
        if distributed():
            for event in (Events.ITERATION_COMPLETED(every=10), Events.EPOCH_COMPLETED):
                engine.add_event_handler(event, self)
        return self

    def request(self, skip_completed: bool = False) -> None:
        """Ask to stop (``skip_completed`` as ignite's ``Engine.terminate``)."""
        self.requested = self.requested or ("skip_completed" if skip_completed else True)

    def __call__(self, engine: Engine) -> None:
        """Terminate ``engine`` (ignite's own ``terminate``) on every rank when any rank has requested it."""
        flag = torch.tensor([float(bool(self.requested))], device=idist.device())
        if idist.all_reduce(flag, op="MAX").item():
            Engine.terminate(engine, self.requested == "skip_completed")
