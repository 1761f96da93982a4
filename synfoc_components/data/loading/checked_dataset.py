"""A MONAI ``Dataset`` whose loading errors name the file at fault (one line), for training and evaluation."""

from __future__ import annotations

from typing import Any

from monai.data import Dataset

from synfoc_components.data.loading.item_errors import item_error

__all__ = ["CheckedDataset"]


class CheckedDataset(Dataset):
    """``monai.data.Dataset`` (same arguments) that raises ``DataError("<file>: <what is wrong>")`` for a bad item.

    A truncated, empty or foreign file then stops a run with a message naming it, instead of MONAI's
    ``applying transform <LoadImaged ...>``.
    """

    def _transform(self, index: int) -> Any:
        """Load and transform item ``index``.

        Raises:
            DataError: naming the item's file that cannot be loaded and why.
        """
        try:
            return super()._transform(index)
        except Exception as error:
            raise item_error(self.data[index], error) from error
