"""An endless, seeded stream of sample draws that can restart at any position: the basis of bit-exact resume.

Draw ``k`` of the stream is item ``permutation_p[k mod n]`` of pass ``p = k // n`` over the ``n`` items, where every
pass's permutation comes from its own generator seeded by ``(seed, p)``. The k-th draw is therefore a pure function
of ``(seed, n, k)``: restarting the stream at ``k`` (after a crash, or when a loader iterator is created again) gives
exactly what an uninterrupted stream would have given.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["ResumableSampler", "draw_seed"]

_AUGMENTATION, _PERMUTATION = 0, 1  # keeps the two uses of a stream's seed apart


def _mix(seed: int, purpose: int, number: int) -> int:
    """A well-mixed, stable 32-bit seed from a stream seed, a purpose and a number."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, purpose, int(number)]).generate_state(1)[0])


def draw_seed(seed: int, draw: int) -> int:
    """The seed of the augmentation of draw ``draw`` of a stream seeded by ``seed``.

    Args:
        seed: the stream's seed.
        draw: the (global) draw number, >= 0.

    Returns:
        A seed in ``[0, 2**32)``.
    """
    return _mix(seed, _AUGMENTATION, draw)


class ResumableSampler(Sampler):
    """Yields ``(index, draw)`` pairs forever, starting at draw ``start``; shards draws over ``num_replicas`` ranks.

    Rank ``r`` of ``W`` takes the global draws ``r, r + W, r + 2W, ...``; ``start`` counts this rank's own draws.
    The sampler has no length: a ``DataLoader`` over it never runs out, so nothing ever re-creates its iterator in
    the middle of a run.

    Args:
        num_items: number of items in the dataset (at least one).
        seed: seed of the pass permutations.
        shuffle: permute every pass (False: passes go through the items in order).
        num_replicas: number of ranks sharing the stream.
        rank: this rank.

    Raises:
        ValueError: no items, or a rank outside ``[0, num_replicas)``.
    """

    def __init__(self, num_items: int, seed: int, shuffle: bool = True, num_replicas: int = 1, rank: int = 0) -> None:
        if num_items < 1:
            raise ValueError("ResumableSampler: the dataset is empty")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"ResumableSampler: rank {rank} is not in [0, {num_replicas})")
        self.num_items, self.seed, self.shuffle = int(num_items), int(seed), shuffle
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.start = 0

    def permutation(self, epoch: int) -> list[int]:
        """The item order of pass ``epoch`` over the data."""
        if not self.shuffle:
            return list(range(self.num_items))
        generator = torch.Generator().manual_seed(_mix(self.seed, _PERMUTATION, epoch))
        return torch.randperm(self.num_items, generator=generator).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        draw = self.start * self.num_replicas + self.rank
        epoch, order = -1, []
        while True:
            if draw // self.num_items != epoch:
                epoch = draw // self.num_items
                order = self.permutation(epoch)
            yield order[draw % self.num_items], draw
            draw += self.num_replicas
