"""Model Zoo format: offline metadata schema, Zoo rules, ``large_files.yml``, network I/O checks and packaging.

``python -m synfoc_components.zoo check <bundle>`` runs the checks; ``python -m synfoc_components.zoo describe
<bundle>`` writes the trained model's shapes into the metadata; ``python -m synfoc_components.zoo package <bundle>
--out <dir>`` runs the checks and writes ``<bundle>_v<version>.zip``; ``python -m synfoc_components.zoo sync`` writes
every bundle's shared configs from ``template/configs/`` (``--check True`` only lists the stale ones).
"""

from __future__ import annotations

from .large_files import LARGE_FILES, file_hash, read_large_files
from .layout import SIZE_LIMIT, bundle_files
from .network import network_io_problems
from .package import package_bundle
from .problems import Problem, ZooCheckError
from .rules import bundle_problems
from .schema import SCHEMA_PATH, schema_problems
from .sync import StaleConfigsError, stale_configs, sync_bundles
from .trained import describe_trained, trained_model_problems

__all__ = [
    "LARGE_FILES",
    "SCHEMA_PATH",
    "SIZE_LIMIT",
    "Problem",
    "StaleConfigsError",
    "ZooCheckError",
    "bundle_files",
    "bundle_problems",
    "describe_trained",
    "file_hash",
    "network_io_problems",
    "package_bundle",
    "read_large_files",
    "schema_problems",
    "stale_configs",
    "sync_bundles",
    "trained_model_problems",
]
