"""Inference input that keeps going past a bad image: it is reported and skipped, the good ones are still segmented."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from monai.transforms import apply_transform
from torch.utils.data import IterableDataset, get_worker_info

from synfoc_components.data.errors import DataError
from synfoc_components.data.loading.item_errors import item_error

__all__ = ["SkippingDataset"]

logger = logging.getLogger(__name__)

_LISTED = 3


class SkippingDataset(IterableDataset):
    """Yields ``transform(item)`` for every item that loads; an item that fails is logged (one error line naming the
    file and what is wrong), remembered and skipped.

    It has no length, so MONAI's evaluator runs until the items run out. Call :meth:`raise_for_failures` after the
    run (``inference.json`` does so in ``finalize``) to end with a summary and a non-zero exit status when any image
    was skipped. With loader workers, each worker takes every ``num_workers``-th item and the failures are logged by
    the workers but only those of the main process reach :meth:`raise_for_failures`: load in the main process
    (``num_workers`` 0, as ``inference.json`` does) for the summary.

    Args:
        data: the items, e.g. ``[{"image": path}, ...]`` from ``synfoc_components.data.image_list``.
        transform: the loading and preprocessing transform.
    """

    def __init__(self, data: Sequence[dict], transform: Callable) -> None:
        self.data, self.transform = list(data), transform
        self.failures: list[DataError] = []

    def __iter__(self) -> Iterator[Any]:
        worker = get_worker_info()
        indices = range(len(self.data)) if worker is None else range(worker.id, len(self.data), worker.num_workers)
        for index in indices:
            try:
                yield apply_transform(self.transform, self.data[index])
            except Exception as error:
                failure = item_error(self.data[index], error)
                logger.error("%s; skipped", failure)
                self.failures.append(failure)

    def raise_for_failures(self) -> None:
        """Raise one ``DataError`` listing the skipped images, if any.

        Raises:
            DataError: ``"<k> of <n> input images: skipped, ..."`` with the first few files and their problems.
        """
        if not self.failures:
            return
        listed = "; ".join(str(f) for f in self.failures[:_LISTED])
        more = f"; and {len(self.failures) - _LISTED} more" if len(self.failures) > _LISTED else ""
        raise DataError(
            f"{len(self.failures)} of {len(self.data)} input images",
            f"skipped, the other masks were written: {listed}{more}",
        )
