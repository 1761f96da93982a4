"""Source readers, one file per public dataset layout, registered by dataset name (see ``registry``)."""

from __future__ import annotations

from synfoc_components.data.preparation.readers import (  # noqa: F401
    acdc,
    busi,
    folder,
    fundus,
    mnms,
    mscmrseg,
    prostate,
)
from synfoc_components.data.preparation.readers.registry import (
    READERS,
    Reader,
    get_reader,
    read_source,
    register_reader,
)

__all__ = ["READERS", "Reader", "get_reader", "read_source", "register_reader"]
