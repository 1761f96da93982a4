"""The prepare step: read a public (or user) source, validate it, write the canonical dataset and its datalist."""

from __future__ import annotations

import logging
from typing import Any

from synfoc_components.data.preparation.readers import read_source
from synfoc_components.data.preparation.splits import assign_splits, resolve_lb_cases, resolve_lb_num
from synfoc_components.data.preparation.writer import write_dataset

__all__ = ["prepare"]

logger = logging.getLogger(__name__)


def prepare(
    dataset: str,
    source: str,
    out: str,
    lb_domain: str | None = None,
    lb_num: int | None = None,
    lb_ratio: float | None = None,
    val_fraction: float = 0.1,
    seed: int = 1337,
    lb_cases: int | str | None = None,
    **options: Any,
) -> str:
    """Prepare ``dataset`` from ``source`` into ``out``.

    Args:
        dataset: registered dataset name (``prostate``, ``folder``, ...).
        source: the downloaded data, in the layout of its public release.
        out: the dataset folder to write (``images/``, ``labels/``, ``datalist.json``).
        lb_domain: labeled domain by folder name (default: the dataset's first domain).
        lb_num: number of labeled slices (default: the dataset's, e.g. 20 for prostate).
        lb_ratio: instead of ``lb_num``: that fraction of all domains' training slices.
        val_fraction: fraction of every domain's training cases kept for validation.
        seed: seed of the validation draw.
        lb_cases: instead of ``lb_num``: label every slice of the first ``lb_cases`` training patients (sorted) of
            the labeled domain, or of all of them with ``"all"`` (default: the dataset's, e.g. 3 for ACDC).
        options: the reader's own options (e.g. ``label_map``, ``channels``, ``axis`` for ``folder``).

    Returns:
        The path of the written ``datalist.json``.

    Raises:
        ValueError: unknown dataset.
        DataError: an unusable file or option; the message names it and what is wrong.
    """
    found = read_source(dataset, str(source), **options)
    labeled_domain = lb_domain if lb_domain is not None else found.domains[0]
    total_train = sum(s.split == "train" for s in found.slices)
    cases = resolve_lb_cases(lb_cases, lb_num, lb_ratio, found.lb_cases)
    count = 0 if cases is not None else resolve_lb_num(lb_num, lb_ratio, found.lb_num, total_train)
    splits = assign_splits(found.slices, found.domains, str(labeled_domain), count, val_fraction, seed, cases)
    by_cases = {}
    if cases is not None:
        labeled = {key for key, split in splits.items() if split == "labeled"}
        count = len(labeled)
        by_cases = {"lb_cases": len({s.patient for s in found.slices if s.key in labeled})}
    header = {
        "dataset": found.name,
        "domains": list(found.domains),
        "labeled_domain": labeled_domain,
        "synthetic": found.synthetic,
        "channels": found.channels,
        "lb_num": count,
        **by_cases,
        "val_fraction": val_fraction,
        "seed": seed,
    }
    return str(write_dataset(out, found, splits, header))
