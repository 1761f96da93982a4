"""Reading one split of a prepared ``datalist.json``, checked: the split has items and every listed file exists."""

from __future__ import annotations

import json
import os

from monai.data import load_decathlon_datalist

from synfoc_components.data.errors import DataError
from synfoc_components.data.loading.item_errors import FILE_KEYS

__all__ = ["load_datalist"]


def load_datalist(datalist: str | os.PathLike, split: str) -> list[dict]:
    """The items of ``split`` with absolute paths, as ``monai.data.load_decathlon_datalist`` returns them.

    Args:
        datalist: the ``datalist.json`` written by ``python -m synfoc_components.data prepare``.
        split: ``labeled``, ``unlabeled``, ``val`` or ``test``.

    Returns:
        The items.

    Raises:
        DataError: the datalist is unreadable, lacks the split or the split is empty (naming the datalist), or a
            listed file is missing (naming the file).
    """
    path = os.fspath(datalist)
    try:
        with open(path, encoding="utf-8") as stream:
            document = json.load(stream)
    except (OSError, ValueError) as error:
        raise DataError(path, f"unreadable datalist ({error})") from None
    if not isinstance(document, dict) or not document.get(split):
        raise DataError(
            path,
            f"the {split!r} split is empty or missing; prepare the dataset again (python -m synfoc_components.data "
            "prepare ...) with at least one image in every split",
        )
    items = load_decathlon_datalist(path, True, split)
    for item in items:
        for key in FILE_KEYS:
            if key in item and not os.path.isfile(item[key]):
                raise DataError(item[key], f"missing, but listed in {path} ({split!r} {key}); prepare the data again")
    return items
