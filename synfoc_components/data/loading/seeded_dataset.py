"""Per-draw augmentation seeds: a sample's random augmentation depends only on the stream's seed and its draw number."""

from __future__ import annotations

from typing import Any

import torch
from monai.transforms import Randomizable
from torch.utils.data import Dataset, get_worker_info

from synfoc_components.data.loading.resumable_sampler import draw_seed

__all__ = ["SeededDataset"]


class SeededDataset(Dataset):
    """Wraps a dataset with a MONAI ``transform``; item ``(index, draw)`` is ``dataset[index]`` with the transform's
    random state first set from ``(seed, draw)``.

    The augmentation of every draw is then the same whichever process (main or worker) computes it and whenever the
    loader's iterator was created, which a worker-seeded or globally seeded transform cannot promise. The transform
    must be ``Randomizable`` (a ``Compose`` seeds its random steps from the given seed); otherwise it is applied
    unseeded. In the main process (``num_workers`` 0) the item is computed on one torch thread, as loader workers
    compute it: multi-threaded reductions round differently, so this keeps the result bit for bit independent of
    ``num_workers``.

    Args:
        dataset: a map-style dataset with a ``transform`` attribute (``monai.data.Dataset`` and its subclasses).
        seed: the stream's seed.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, draw = key
        transform = getattr(self.dataset, "transform", None)
        if isinstance(transform, Randomizable):
            transform.set_random_state(seed=draw_seed(self.seed, draw))
        if get_worker_info() is not None or torch.get_num_threads() == 1:
            return self.dataset[index]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.dataset[index]
        finally:
            torch.set_num_threads(threads)
