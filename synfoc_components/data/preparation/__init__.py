"""Preparation, offline and without torch: a public release (or a user's folder) in, a canonical dataset out.

``readers/`` read each release's layout into a ``SourceDataset`` (``source``), with the file formats in ``formats/``
and label encodings in ``labels``; ``splits`` assigns labeled / unlabeled / val / test; ``writer`` writes
``images/``, ``labels/`` and ``datalist.json``; ``prepare`` runs the three steps (``python -m synfoc_components.data
prepare``).
"""

from __future__ import annotations

from synfoc_components.data.preparation.prepare import prepare
from synfoc_components.data.preparation.readers import READERS, get_reader, register_reader
from synfoc_components.data.preparation.splits import SPLITS
from synfoc_components.data.preparation.writer import DATALIST

__all__ = ["DATALIST", "READERS", "SPLITS", "get_reader", "prepare", "register_reader"]
