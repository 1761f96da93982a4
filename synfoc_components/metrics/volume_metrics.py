"""3D per-case metrics for volumetric datasets: a case's evaluated slices stacked in slice order into a volume.

Only the slices that were evaluated are stacked (gaps are not filled). Distances are in voxels (slice step 1) and,
when every slice of the case carries a 3-value spacing ``(row, column, slice thickness)`` in mm, also in mm; a
2-value in-plane spacing does not say how far apart the slices are, so 3D mm values are then NaN.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .domain_table import metric_rows
from .slice_metrics import slice_metrics

__all__ = ["CaseSlice", "case_rows"]


@dataclass(frozen=True)
class CaseSlice:
    """One evaluated slice of a case, kept for 3D metrics.

    Args:
        domain: the case's domain.
        case: case identifier.
        slice: slice index within the case (sort key).
        pred: predicted class ids H x W (uint8, CPU).
        label: true class ids H x W (uint8, CPU).
        spacing: mm per pixel ``(row, column)`` or ``(row, column, slice thickness)``, or ``None``.
    """

    domain: str
    case: str
    slice: int
    pred: torch.Tensor
    label: torch.Tensor
    spacing: tuple[float, ...] | None = None


def case_rows(
    slices: Sequence[CaseSlice],
    structures: Sequence[Sequence[int]],
    structure_names: Sequence[str],
    model: str,
) -> list[dict]:
    """Per-case, per-structure 3D metric rows (``slice`` is ``None``), in the format of ``metric_rows``.

    A case is identified by ``(domain, case)``, so sites may reuse case names.

    Args:
        slices: evaluated slices of any number of cases, in any order.
        structures: class-id tuples, one per structure.
        structure_names: one name per structure.
        model: model name for the rows.

    Returns:
        Rows sorted by domain and case.

    Raises:
        ValueError: when a case's slices have different sizes.
    """
    by_case: dict[tuple[str, str], list[CaseSlice]] = defaultdict(list)
    for s in slices:
        by_case[(s.domain, s.case)].append(s)
    rows: list[dict] = []
    for (domain, case), items in sorted(by_case.items()):
        items = sorted(items, key=lambda s: s.slice)
        if len({tuple(s.label.shape) for s in items} | {tuple(s.pred.shape) for s in items}) != 1:
            raise ValueError(f"case_rows: slices of case {case!r} ({domain}) have different sizes")
        pred = torch.stack([s.pred for s in items])[None, None].long()
        label = torch.stack([s.label for s in items])[None, None].long()
        spacings = {s.spacing for s in items}
        sp = spacings.pop() if len(spacings) == 1 else None
        spacing = [(sp[2], sp[0], sp[1])] if sp is not None and len(sp) == 3 else None
        metrics = slice_metrics(pred, label, structures, spacing)
        rows += metric_rows(metrics, structure_names, model, [domain], [case], [None])
    return rows
