"""Source readers, one file per public dataset layout, registered by dataset name (see ``registry``)."""

from __future__ import annotations

from synfoc_components.data.readers import acdc, busi, folder, fundus, mnms, mscmrseg, prostate  # noqa: F401
from synfoc_components.data.readers.registry import READERS, Reader, get_reader, read_source, register_reader

__all__ = ["READERS", "Reader", "get_reader", "read_source", "register_reader"]
