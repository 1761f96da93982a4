"""Reading arrays from HDF5 files (the SSL4MIS-style ACDC release), with errors that name the file.

``h5py`` is imported on first use, so that everything else on the data side works without it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from synfoc_components.data.errors import DataError

__all__ = ["read_h5"]


def read_h5(path: str | os.PathLike, keys: Sequence[str] = ("image", "label")) -> dict[str, np.ndarray]:
    """Read the datasets ``keys`` of an HDF5 file into memory.

    Args:
        path: the ``.h5`` file.
        keys: dataset names to read.

    Returns:
        ``{key: array}``.

    Raises:
        DataError: h5py missing, a missing, truncated or non-HDF5 file, or a missing key.
    """
    try:
        import h5py
    except ImportError:
        raise DataError(path, "reading .h5 files needs the h5py package (pip install h5py)") from None
    try:
        with h5py.File(path, "r") as stream:
            missing = [key for key in keys if key not in stream]
            if missing:
                found = ", ".join(sorted(stream.keys())) or "none"
                raise DataError(path, f"no dataset {', '.join(missing)} in this HDF5 file (its keys: {found})")
            return {key: np.asarray(stream[key][()]) for key in keys}
    except DataError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(path, f"unreadable HDF5 file ({err})") from None
