"""Synthetic demo data: one phantom per dataset, written in the release's layout, then prepared like real data.

Each dataset's module registers its writer (``registry``); the drawing helpers the phantoms share are in
``drawing/``; ``dataset_folder.ensure_demo_dataset`` is what a bundle calls with its ``dataset_dir``.
"""

from __future__ import annotations

from synfoc_components.data.demo import acdc, busi, fundus, mnms, mscmrseg, prostate  # noqa: F401
from synfoc_components.data.demo.dataset_folder import ensure_demo_dataset
from synfoc_components.data.demo.registry import DEMOS, register_demo, write_demo

__all__ = ["DEMOS", "ensure_demo_dataset", "register_demo", "write_demo"]
