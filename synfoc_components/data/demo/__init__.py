"""Synthetic demo data: one phantom per dataset, written in the release's layout, then prepared like real data.

``dataset_folder.ensure_demo_dataset`` is what a bundle calls with its ``dataset_dir``; the drawing helpers the
phantoms share are in ``drawing/``.
"""

from __future__ import annotations

from synfoc_components.data.demo.dataset_folder import DEMOS, ensure_demo_dataset, write_demo

__all__ = ["DEMOS", "ensure_demo_dataset", "write_demo"]
