"""Command line: ``python -m synfoc_components.zoo {check,describe,package,sync} ...`` (a ``fire`` CLI).

Examples::

    python -m synfoc_components.zoo check bundles/prostate
    python -m synfoc_components.zoo describe bundles/prostate
    python -m synfoc_components.zoo check bundles/prostate --network True
    python -m synfoc_components.zoo package bundles/prostate --out dist
    python -m synfoc_components.zoo package bundles/prostate --out dist --weights_url https://example.org/prostate/0.3.0
    python -m synfoc_components.zoo sync
    python -m synfoc_components.zoo sync --check True
    python -m synfoc_components.zoo sync --bundles bundles/prostate,bundles/fundus
"""

from __future__ import annotations

import logging
import sys

import fire

from synfoc_components.zoo.layout import SIZE_LIMIT
from synfoc_components.zoo.network import network_io_problems
from synfoc_components.zoo.package import package_bundle
from synfoc_components.zoo.problems import ZooCheckError
from synfoc_components.zoo.rules import bundle_problems
from synfoc_components.zoo.sync import StaleConfigsError, bundle_folders, stale_configs, sync_bundles
from synfoc_components.zoo.trained import describe_trained

logger = logging.getLogger("synfoc_components.zoo")


def check(bundle: str, network: bool = False, limit_mb: float = SIZE_LIMIT / 1e6) -> str:
    """Check ``bundle`` against the Model Zoo rules and the offline metadata schema.

    Args:
        bundle: the bundle folder, e.g. ``bundles/prostate``.
        network: also build each described network and compare its output with the metadata (seconds to a minute).
        limit_mb: the size limit of one shared file, in MB.

    Returns:
        A one-line summary.

    Raises:
        ZooCheckError: listing every broken rule with its file.
    """
    problems = bundle_problems(bundle, limit=int(limit_mb * 1e6))
    if network and not problems:
        problems = network_io_problems(bundle)
    if problems:
        raise ZooCheckError(bundle, problems)
    return f"{bundle}: follows the Model Zoo rules"


def describe(bundle: str) -> str:
    """Write into ``configs/metadata.json`` the shapes, channels and classes of the model trained in ``models/``
    (from its settings files), before exporting or sharing a model trained with other settings than ``train.json``'s.

    Args:
        bundle: the bundle folder.

    Returns:
        A one-line summary (each changed field is logged).
    """
    changes = describe_trained(bundle)
    what = f"{len(changes)} field(s) changed" if changes else "already described the trained model"
    return f"{bundle}/configs/metadata.json: {what}"


def package(bundle: str, out: str, weights_url: str | None = None, limit_mb: float = SIZE_LIMIT / 1e6) -> str:
    """Check ``bundle``, then write ``<out>/<bundle>_v<version>.zip`` (see :func:`package_bundle`).

    Args:
        bundle: the bundle folder.
        out: the output folder.
        weights_url: where weights over the limit will be published (listed in the archive's large_files.yml).
        limit_mb: the size limit of one shared file, in MB.

    Returns:
        The written archive's path.
    """
    return str(package_bundle(bundle, out, weights_url=weights_url, limit=int(limit_mb * 1e6)))


def sync(bundles: str | list[str] | tuple[str, ...] | None = None, check: bool = False) -> str:
    """Write each bundle's shared config files from ``synfoc_components/zoo/template/configs`` (the bundle's folder
    name as ``dataset_name``) and the shared sections of its ``docs/README.md`` from ``template/docs`` (facts from
    its metadata); a bundle's own files (``metadata.json``, ``demo.json``, extra overrides) stay as they are.

    Args:
        bundles: bundle folders, a list or comma-separated; by default every folder of ``bundles/`` (in the current
            directory) with a ``configs/metadata.json``.
        check: write nothing; fail (exit status 2) listing each missing or stale file, like ``black --check``.

    Returns:
        A one-line summary.

    Raises:
        StaleConfigsError: with ``check``, when some file is missing or stale.
    """
    if bundles is None:
        folders = bundle_folders()
    else:
        folders = bundles.split(",") if isinstance(bundles, str) else list(bundles)
    if check:
        stale = stale_configs(folders)
        if stale:
            raise StaleConfigsError(stale)
        return f"{len(folders)} bundle(s): shared configs and README sections as the template writes them"
    written = sync_bundles(folders)
    return f"{len(folders)} bundle(s): {len(written)} shared file(s) written"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; broken rules (``ZooCheckError``, one line per problem naming the file and the rule), other
    ``ValueError`` s and ``OSError`` s are reported as an error and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        commands = {"check": check, "describe": describe, "package": package, "sync": sync}
        fire.Fire(commands, command=argv, name="python -m synfoc_components.zoo")
    except (ValueError, OSError) as err:  # ZooCheckError and StaleConfigsError are ValueErrors
        logger.error("%s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
