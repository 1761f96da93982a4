"""The paper's split protocol (method.md 4) plus a validation split taken from train, by case.

* labeled: the first ``lb_num`` training slices, sorted by (case, slice), of the labeled domain; their cases are
  never drawn for validation, so this is exactly the paper's labeled set.
* val: a seeded random ``val_fraction`` of every domain's training cases (at least one where a domain has two or
  more), never from test.
* unlabeled: every other training slice of every domain.  test: the source's test split, untouched.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

from synfoc_components.data.errors import DataError
from synfoc_components.data.source import SourceSlice

__all__ = ["SPLITS", "resolve_lb_num", "assign_splits"]

logger = logging.getLogger(__name__)

SPLITS = ("labeled", "unlabeled", "val", "test")


def resolve_lb_num(lb_num: int | None, lb_ratio: float | None, default: int, total_train: int) -> int:
    """The number of labeled slices: ``lb_num``, else ``int(total_train * lb_ratio)``, else ``default``.

    Raises:
        DataError: both or neither given (with no default), or a result below one.
    """
    if lb_num is not None and lb_ratio is not None:
        raise DataError("--lb_num/--lb_ratio", "give one of them, not both")
    if lb_ratio is not None:
        if not 0 < lb_ratio <= 1:
            raise DataError("--lb_ratio", f"{lb_ratio} must lie in (0, 1]")
        lb_num = int(total_train * lb_ratio)
    elif lb_num is None:
        if not default:
            raise DataError("--lb_num", "this dataset has no default; give --lb_num or --lb_ratio")
        lb_num = default
    if int(lb_num) != lb_num or lb_num < 1:
        raise DataError("--lb_num", f"{lb_num} labeled slices; at least one is needed")
    return int(lb_num)


def _check_unique(slices: Sequence[SourceSlice]) -> None:
    seen: dict[tuple[str, str, int], SourceSlice] = {}
    for item in slices:
        if item.key in seen:
            first = seen[item.key]
            raise DataError(item.origin, f"same domain/case/slice {item.key} as {first.origin}")
        seen[item.key] = item


def _val_cases(cases: list[str], reserved: set[str], fraction: float, rng: random.Random) -> list[str]:
    if fraction <= 0 or len(cases) < 2:
        return []
    candidates = [c for c in cases if c not in reserved]
    count = min(max(1, int(fraction * len(cases) + 0.5)), len(cases) - 1, len(candidates))
    return sorted(rng.sample(candidates, count))


def assign_splits(
    slices: Sequence[SourceSlice],
    domains: Sequence[str],
    labeled_domain: str,
    lb_num: int,
    val_fraction: float = 0.1,
    seed: int = 1337,
) -> dict[tuple[str, str, int], str]:
    """Assign every slice to one of ``SPLITS``.

    Args:
        slices: all source slices.
        domains: the dataset's domains.
        labeled_domain: the one domain that gives the labeled slices.
        lb_num: number of labeled slices.
        val_fraction: fraction of each domain's training cases used for validation.
        seed: seed of the validation draw.

    Returns:
        ``{slice.key: split}``.

    Raises:
        DataError: unknown labeled domain, a domain without train or test slices, ``lb_num`` too large,
            duplicate slices, a bad ``val_fraction``.
    """
    if labeled_domain not in domains:
        raise DataError("--lb_domain", f"unknown domain {labeled_domain!r}; domains: {', '.join(domains)}")
    if not 0 <= val_fraction < 1:
        raise DataError("--val_fraction", f"{val_fraction} must lie in [0, 1)")
    _check_unique(slices)
    for domain in domains:
        for split in ("train", "test"):
            if not any(s.domain == domain and s.split == split for s in slices):
                raise DataError(f"domain {domain}", f"no {split} slices (an empty domain cannot be used)")
    train = sorted((s for s in slices if s.split == "train"), key=lambda s: (s.case, s.index))
    pool = [s for s in train if s.domain == labeled_domain]
    if lb_num > len(pool):
        raise DataError("--lb_num", f"{lb_num} is larger than the {len(pool)} training slices of {labeled_domain}")
    labeled = {s.key for s in pool[:lb_num]}
    reserved = {s.case for s in pool[:lb_num]}
    val: set[tuple[str, str]] = set()
    for domain in domains:
        cases = sorted({s.case for s in train if s.domain == domain})
        rng = random.Random(f"{seed}:{domain}")
        chosen = _val_cases(cases, reserved if domain == labeled_domain else set(), val_fraction, rng)
        if not chosen and val_fraction > 0:
            logger.warning("domain %s: no validation case (%d training case(s) available)", domain, len(cases))
        val.update((domain, c) for c in chosen)
    splits = {}
    for s in slices:
        if s.split == "test":
            splits[s.key] = "test"
        elif s.key in labeled:
            splits[s.key] = "labeled"
        else:
            splits[s.key] = "val" if (s.domain, s.case) in val else "unlabeled"
    return splits
