"""The paper's split protocol (docs/method.md 4) plus a validation split taken from train, by case.

* labeled: the first ``lb_num`` training slices, sorted by (case, slice), of the labeled domain; or, with
  ``lb_cases``, every training slice of the first ``lb_cases`` patients (sorted) of the labeled domain (ACDC's
  protocol labels whole patients). Their patients are never drawn for validation, so this is exactly the paper's
  labeled set.
* val: the source's own validation slices where it has them (ACDC's ``val.list``); else a seeded random
  ``val_fraction`` of every domain's training patients (at least one where a domain has two or more), never from test;
  a domain with one training case (one volume) gives the last ``val_fraction`` of that case's unlabeled slices
  (at least one), with a warning that neighbouring slices are correlated.
* unlabeled: every other training slice of every domain.  test: the source's test split, untouched.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

from synfoc_components.data.errors import DataError
from synfoc_components.data.preparation.source import SourceSlice

__all__ = ["SPLITS", "ALL_CASES", "split_cases", "resolve_lb_num", "resolve_lb_cases", "assign_splits"]

logger = logging.getLogger(__name__)

SPLITS = ("labeled", "unlabeled", "val", "test")
ALL_CASES = "all"
"""``lb_cases`` value that labels every training patient of the labeled domain (domain adaptation)."""


def split_cases(cases: list[str], test_fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """Split sorted case names into train (first) and test (last ``test_fraction``, at least one), for a release
    that has no test split of its own (prostate's NIfTI cases, ACDC's h5 patients).

    Raises:
        ValueError: for fewer than two cases.
    """
    cases = sorted(cases)
    if len(cases) < 2:
        raise ValueError(f"{len(cases)} case(s); at least 2 are needed for a train/test split")
    n_test = max(1, int(len(cases) * test_fraction + 0.5))
    return cases[:-n_test], cases[-n_test:]


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


def resolve_lb_cases(
    lb_cases: int | str | None, lb_num: int | None, lb_ratio: float | None, default: int | str
) -> int | str | None:
    """The number of labeled patients (or ``"all"``), or None where slices are counted (``resolve_lb_num``).

    A given ``lb_cases`` is used; a given ``lb_num`` or ``lb_ratio`` counts slices; else the dataset's default
    (0: slices).

    Raises:
        DataError: ``lb_cases`` together with ``lb_num`` or ``lb_ratio``, or not a positive whole number or "all".
    """
    if lb_cases is None:
        if lb_num is not None or lb_ratio is not None or not default:
            return None
        lb_cases = default
    elif lb_num is not None or lb_ratio is not None:
        raise DataError("--lb_cases", "give one of --lb_cases, --lb_num and --lb_ratio, not several")
    if lb_cases == ALL_CASES:
        return ALL_CASES
    if isinstance(lb_cases, bool) or not isinstance(lb_cases, (int, float)) or int(lb_cases) != lb_cases:
        raise DataError("--lb_cases", f"{lb_cases!r} must be a whole number of patients or {ALL_CASES!r}")
    if lb_cases < 1:
        raise DataError("--lb_cases", f"{lb_cases} labeled cases; at least one is needed")
    return int(lb_cases)


def _labeled_slices(
    pool: list[SourceSlice], labeled_domain: str, lb_num: int, lb_cases: int | str | None
) -> list[SourceSlice]:
    """The labeled slices of the labeled domain's sorted training slices ``pool``."""
    if lb_cases is None:
        if lb_num > len(pool):
            raise DataError("--lb_num", f"{lb_num} is larger than the {len(pool)} training slices of {labeled_domain}")
        return pool[:lb_num]
    patients = sorted({s.patient for s in pool})
    count = len(patients) if lb_cases == ALL_CASES else int(lb_cases)
    if count > len(patients):
        raise DataError("--lb_cases", f"{count} is larger than the {len(patients)} training cases of {labeled_domain}")
    chosen = set(patients[:count])
    return [s for s in pool if s.patient in chosen]


def _check_unique(slices: Sequence[SourceSlice]) -> None:
    seen: dict[tuple[str, str, str, int], SourceSlice] = {}
    for item in slices:
        if item.key in seen:
            first = seen[item.key]
            raise DataError(item.origin, f"same domain/split/case/slice {item.key} as {first.origin}")
        seen[item.key] = item


def _val_cases(cases: list[str], reserved: set[str], fraction: float, rng: random.Random) -> list[str]:
    if fraction <= 0 or len(cases) < 2:
        return []
    candidates = [c for c in cases if c not in reserved]
    count = min(max(1, int(fraction * len(cases) + 0.5)), len(cases) - 1, len(candidates))
    return sorted(rng.sample(candidates, count))


def _val_block(case: list[SourceSlice], labeled: set, fraction: float) -> list[SourceSlice]:
    """Validation slices of a domain's only training case: its last ``fraction`` of slices (at least one) that are
    not labeled, leaving that case at least one training slice."""
    free = [s for s in sorted(case, key=lambda s: s.index) if s.key not in labeled]
    count = min(max(1, int(fraction * len(case) + 0.5)), len(free) - (len(free) == len(case)))
    return free[len(free) - count :] if fraction > 0 and count > 0 else []


def assign_splits(
    slices: Sequence[SourceSlice],
    domains: Sequence[str],
    labeled_domain: str,
    lb_num: int,
    val_fraction: float = 0.1,
    seed: int = 1337,
    lb_cases: int | str | None = None,
) -> dict[tuple[str, str, str, int], str]:
    """Assign every slice to one of ``SPLITS``.

    Args:
        slices: all source slices.
        domains: the dataset's domains.
        labeled_domain: the one domain that gives the labeled slices.
        lb_num: number of labeled slices (ignored with ``lb_cases``).
        val_fraction: fraction of each domain's training patients used for validation (domains whose source has
            ``"val"`` slices use those instead).
        seed: seed of the validation draw.
        lb_cases: label every slice of this many patients (or ``"all"``) instead of ``lb_num`` slices.

    Returns:
        ``{slice.key: split}``.

    Raises:
        DataError: unknown labeled domain, a domain without train or test slices, ``lb_num`` or ``lb_cases`` too
            large, duplicate slices, a bad ``val_fraction``.
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
    picked = _labeled_slices([s for s in train if s.domain == labeled_domain], labeled_domain, lb_num, lb_cases)
    labeled = {s.key for s in picked}
    reserved = {s.patient for s in picked}
    given_val = {s.domain for s in slices if s.split == "val"}
    val: set[tuple[str, str, str, int]] = set()
    blocks = []
    for domain in domains:
        if domain in given_val:
            continue
        in_domain = [s for s in train if s.domain == domain]
        cases = sorted({s.patient for s in in_domain})
        rng = random.Random(f"{seed}:{domain}")
        chosen = set(_val_cases(cases, reserved if domain == labeled_domain else set(), val_fraction, rng))
        picked_val = [s for s in in_domain if s.patient in chosen]
        if len(cases) == 1:
            picked_val = _val_block(in_domain, labeled, val_fraction)
            blocks += [f"{domain} ({len(picked_val)} of {len(in_domain)} slices)"] if picked_val else []
        if not picked_val and val_fraction > 0:
            logger.warning("domain %s: no validation slice (%d training slice(s) available)", domain, len(in_domain))
        val.update(s.key for s in picked_val)
    if blocks:
        logger.warning(
            "one training case in domain %s: validation takes a block of its last slices, which are correlated with "
            "its neighbouring training slices (validation Dice reads optimistic); add cases to validate on unseen "
            "patients",
            ", ".join(blocks),
        )
    splits = {}
    for s in slices:
        if s.split in ("test", "val"):
            splits[s.key] = s.split
        elif s.key in labeled:
            splits[s.key] = "labeled"
        else:
            splits[s.key] = "val" if s.key in val else "unlabeled"
    return splits
