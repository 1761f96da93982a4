"""An endless training loader whose position is part of the training state, for bit-exact resume."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from monai.data import DataLoader
from torch.utils.data import Dataset

from synfoc_components.data.loading.resumable_sampler import ResumableSampler
from synfoc_components.data.loading.seeded_dataset import SeededDataset

__all__ = ["ResumableDataLoader"]

logger = logging.getLogger(__name__)


class ResumableDataLoader(DataLoader):
    """A MONAI ``DataLoader`` over an endless :class:`ResumableSampler` stream with per-draw augmentation seeds.

    Batches never run out (every batch is full), so neither ignite nor the trainer re-creates the iterator in the
    middle of a run; the loader counts the samples it has handed out, and ``state_dict`` / ``load_state_dict`` carry
    that count, so a new iterator after a resume starts exactly where the consumer stopped (not where the workers'
    prefetching stopped). Augmentation is seeded per draw (:class:`SeededDataset`) and worker seeds come from the
    loader's own generator: the batches depend on ``seed`` and the data only, not on ``num_workers``, on iterator
    re-creation or on the global random state.

    Args:
        dataset: a map-style dataset with a MONAI ``transform`` (e.g. ``CheckedDataset``).
        batch_size: samples per batch.
        seed: seed of the data order and the augmentation.
        shuffle: a new permutation for every pass over the data.
        num_workers: loader worker processes.
        num_replicas: ranks sharing the stream; None: the torch.distributed world size (1 when not initialised).
        rank: this rank; None: the torch.distributed rank (0 when not initialised).
        kwargs: further ``DataLoader`` arguments (not ``sampler``, ``shuffle``, ``drop_last``, ``generator``).

    Raises:
        ValueError: an empty dataset.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        num_workers: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        **kwargs: Any,
    ) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        num_replicas = num_replicas if num_replicas is not None else dist.get_world_size() if distributed else 1
        rank = rank if rank is not None else dist.get_rank() if distributed else 0
        sampler = ResumableSampler(len(dataset), seed, shuffle, num_replicas, rank)  # type: ignore[arg-type]
        generator = torch.Generator().manual_seed(int(seed))  # worker base seeds, not drawn from the global RNG
        super().__init__(
            SeededDataset(dataset, seed),
            num_workers=num_workers,
            batch_size=batch_size,
            sampler=sampler,
            generator=generator,
            **kwargs,
        )
        self.seed, self.num_items, self.consumed = int(seed), len(dataset), 0  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        """Batches from the position of the last batch handed out (or the restored one) onwards, forever."""
        self.sampler.start = self.consumed
        return self._counted(super().__iter__())

    def _counted(self, batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            self.consumed += self.batch_size  # type: ignore[operator]
            yield batch

    def state_dict(self) -> dict[str, int]:
        """The number of samples handed out, with the seed and dataset size it refers to."""
        return {"consumed": self.consumed, "seed": self.seed, "num_items": self.num_items}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue the stream after ``state["consumed"]`` samples; warns when the seed or the dataset changed."""
        if (state.get("seed"), state.get("num_items")) != (self.seed, self.num_items):
            logger.warning(
                "the training state's loader had seed %s and %s items, this one has seed %d and %d items: the data "
                "order after resuming differs from an uninterrupted run",
                state.get("seed"), state.get("num_items"), self.seed, self.num_items,
            )  # fmt: skip
        self.consumed = int(state["consumed"])
