"""Command line: ``python -m synfoc_components.data {prepare,demo} <dataset> ...`` (a ``fire`` CLI).

Examples::

    python -m synfoc_components.data prepare prostate --source ~/Downloads/ProstateSlice --out data/prostate
    python -m synfoc_components.data prepare prostate --source S --out D --lb_domain RUNMC --lb_num 20
    python -m synfoc_components.data prepare folder --source my_data --out D --label_map "{0:0,255:1}" --channels 3
    python -m synfoc_components.data demo prostate --out demo_source
"""

from __future__ import annotations

import logging
import sys

import fire

from synfoc_components.data.demo import write_demo
from synfoc_components.data.preparation import prepare

logger = logging.getLogger("synfoc_components.data")


def demo(dataset: str, out: str, seed: int = 0) -> str:
    """Write the synthetic demo source of ``dataset`` (in its public layout) into ``out``.

    Args:
        dataset: dataset name, e.g. ``prostate``.
        out: output folder.
        seed: generator seed.

    Returns:
        The written source folder (pass it to ``prepare --source``).
    """
    return write_demo(dataset, out, seed=seed)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a ``ValueError`` (incl. ``DataError``) or an ``OSError`` (an unwritable or full output folder) is
    reported as one error line (the last line of output, naming the file or option) and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        fire.Fire({"prepare": prepare, "demo": demo}, command=argv, name="python -m synfoc_components.data")
    except (ValueError, OSError) as err:
        logger.error("%s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
