"""Per-slice (or per-case) metric rows, their per-domain aggregation as the paper reports it, and a text rendering.

A row is a flat dict: ``model, domain, case, slice, structure`` and the metrics of
``slice_metrics.METRIC_NAMES`` (missing or NaN values are ``None``/NaN and left out of the means). Aggregation
(docs/method.md 5): the mean over a domain's rows for each structure, the structure average ("DSC Avg" for Dice), then
the mean over domains ("Mean", macro over domains).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch

from .slice_metrics import METRIC_NAMES

__all__ = ["MEAN", "AVERAGE", "metric_rows", "summarize", "render_table"]

MEAN = "Mean"
AVERAGE = "average"


def metric_rows(
    metrics: Mapping[str, torch.Tensor],
    structure_names: Sequence[str],
    model: str,
    domains: Sequence[str],
    cases: Sequence[str],
    slices: Sequence[int | None],
) -> list[dict]:
    """Flatten metrics B x S into one row per sample and structure.

    Args:
        metrics: ``slice_metrics`` output, tensors B x S.
        structure_names: one name per structure.
        model: model name, e.g. ``"sam"`` or ``"unet"``.
        domains: per-sample domain.
        cases: per-sample case.
        slices: per-sample slice index (``None`` for per-case rows).

    Returns:
        ``B * S`` rows; metrics absent from ``metrics`` (mm without spacing) are NaN.
    """
    values = {k: metrics[k].tolist() for k in METRIC_NAMES if k in metrics}
    rows = []
    for b, (domain, case, sl) in enumerate(zip(domains, cases, slices)):
        for s, structure in enumerate(structure_names):
            row = {"model": model, "domain": str(domain), "case": str(case), "slice": sl, "structure": structure}
            row.update({k: float(values[k][b][s]) if k in values else math.nan for k in METRIC_NAMES})
            rows.append(row)
    return rows


def _mean(values: Iterable[float | None]) -> float:
    """Mean of the finite values; NaN when there are none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _structure_means(rows: Sequence[dict], structure_names: Sequence[str]) -> dict[str, dict[str, float]]:
    """{structure: {metric: mean over rows}} plus the structure average under ``AVERAGE``."""
    out = {
        s: {k: _mean(r[k] for r in rows if r["structure"] == s) for k in METRIC_NAMES} for s in structure_names
    }
    out[AVERAGE] = {k: _mean(out[s][k] for s in structure_names) for k in METRIC_NAMES}
    return out


def summarize(rows: Sequence[dict], structure_names: Sequence[str]) -> dict:
    """Aggregate rows of one model per domain and over domains.

    Args:
        rows: rows of ``metric_rows`` for one model.
        structure_names: the structures, in report order.

    Returns:
        ``{"domains": {domain: {structure | "average": {metric: value}, "count": n}}, "Mean": {...}}`` where a
        domain's value is the mean over its rows (``count`` samples) and ``"Mean"`` the mean over domains.
    """
    domains: dict[str, dict] = {}
    for domain in sorted({r["domain"] for r in rows}):
        in_domain = [r for r in rows if r["domain"] == domain]
        domains[domain] = _structure_means(in_domain, structure_names)
        domains[domain]["count"] = len({(r["case"], r["slice"]) for r in in_domain})
    mean = {
        s: {k: _mean(d[s][k] for d in domains.values()) for k in METRIC_NAMES}
        for s in (*structure_names, AVERAGE)
    }
    mean["count"] = sum(d["count"] for d in domains.values())
    return {"domains": domains, MEAN: mean}


def _fmt(value: float, scale: float = 1.0) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value * scale:.2f}"


def render_table(summary: Mapping, structure_names: Sequence[str], title: str = "") -> str:
    """A plain-text table: one line per domain and "Mean"; Dice per structure, DSC Avg, Jaccard, HD95, ASD.

    Dice and Jaccard are shown in %, distances in pixels (and mm when known), all averaged over structures except
    the per-structure Dice columns.

    Args:
        summary: output of ``summarize``.
        structure_names: the structures, in report order.
        title: an optional first line.

    Returns:
        The table as a string.
    """
    has_mm = any(math.isfinite(summary[MEAN][AVERAGE][k]) for k in ("hd95_mm", "asd_mm"))
    distance = ("hd95", "asd", "hd95_mm", "asd_mm") if has_mm else ("hd95", "asd")
    header = ["domain", "n", *structure_names, "DSC Avg", "Jaccard", "HD95", "ASD"]
    header += ["HD95 mm", "ASD mm"] if has_mm else []
    lines = []
    for name, values in (*summary["domains"].items(), (MEAN, summary[MEAN])):
        avg = values[AVERAGE]
        cells = [name, str(values["count"])]
        cells += [_fmt(values[s]["dice"], 100) for s in structure_names]
        cells += [_fmt(avg["dice"], 100), _fmt(avg["jaccard"], 100)] + [_fmt(avg[k]) for k in distance]
        lines.append(cells)
    widths = [max(len(c) for c in col) for col in zip(header, *lines)]
    text = [
        "  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]) for r in [header, *lines]
    ]
    rule = "-" * len(text[0])
    return "\n".join(([title] if title else []) + [text[0], rule, *text[1:-1], rule, text[-1]])
