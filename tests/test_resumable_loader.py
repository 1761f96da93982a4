"""The resumable sampler and loader: the data stream is a function of the draw number, whatever restarts it."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from bundle_runs import tiny_dataset
from monai.data import Dataset
from monai.transforms import Compose, RandomizableTransform

from synfoc_components.data import CheckedDataset, ResumableDataLoader, ResumableSampler, load_datalist
from synfoc_components.transforms import unlabeled_transforms


class _Noise(RandomizableTransform):
    """Adds one random number to ``x`` (a stand-in for an augmentation)."""

    def __call__(self, item: dict) -> dict:
        return {"x": item["x"] + float(self.R.uniform())}


def _loader(workers: int) -> ResumableDataLoader:
    data = Dataset([{"x": torch.tensor(float(i))} for i in range(5)], Compose([_Noise(prob=1.0)]))
    return ResumableDataLoader(data, batch_size=2, seed=7, num_workers=workers)


def _values(loader: ResumableDataLoader, batches: int) -> list[float]:
    return [v for batch in itertools.islice(loader, batches) for v in batch["x"].tolist()]


def test_sampler_passes_are_permutations_and_restart_anywhere():
    sampler = ResumableSampler(5, seed=3)
    stream = list(itertools.islice(sampler, 23))
    assert [draw for _, draw in stream] == list(range(23))
    for start in range(0, 20, 5):
        assert sorted(index for index, _ in stream[start : start + 5]) == list(range(5))
    assert len({tuple(index for index, _ in stream[s : s + 5]) for s in range(0, 20, 5)}) > 1  # reshuffled
    sampler.start = 11
    assert list(itertools.islice(sampler, 12)) == stream[11:]


def test_sampler_shards_the_global_stream_over_ranks():
    stream = list(itertools.islice(ResumableSampler(5, seed=3), 12))
    ranks = [list(itertools.islice(ResumableSampler(5, seed=3, num_replicas=2, rank=r), 6)) for r in (0, 1)]
    assert [x for pair in zip(*ranks) for x in pair] == stream


def test_loader_resumes_where_the_consumer_stopped_not_where_workers_prefetched():
    expected = _values(_loader(0), 7)
    first = _loader(2)
    head = _values(first, 3)  # the workers have prefetched further
    state = first.state_dict()
    assert state["consumed"] == 6
    second = _loader(0)
    second.load_state_dict(state)
    assert np.array_equal(head + _values(second, 4), expected)  # same samples, same augmentation, any worker count


def test_num_workers_does_not_change_the_augmentation_even_with_a_multithreaded_main_process(tmp_path):
    """At 256 px the strong augmentation rounds differently on 1 and 2 torch threads; workers use 1, and so must the
    main process when it loads (``num_workers`` 0)."""
    items = load_datalist(str(tiny_dataset(tmp_path) / "datalist.json"), "unlabeled")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batches = {}
        for workers in (0, 2):
            data = CheckedDataset(items, unlabeled_transforms(256))
            loader = ResumableDataLoader(data, batch_size=2, seed=5, num_workers=workers)
            batches[workers] = list(itertools.islice(loader, 2))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(batches[0], batches[2]):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["image_strong"], b["image_strong"])
