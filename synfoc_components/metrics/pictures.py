"""Report pictures: prediction overlays, learning curves and per-domain bar charts (matplotlib, no display).

Figures are built with ``matplotlib.figure.Figure`` (the Agg canvas, no pyplot state) and written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from .domain_table import AVERAGE, MEAN
from synfoc_components.io import atomic_write

__all__ = [
    "OverlaySample",
    "read_tensorboard_scalars",
    "save_curve_panels",
    "save_domain_bars",
    "save_learning_curve",
    "save_overlays",
]

_COLORS = ListedColormap(["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"])


@dataclass(frozen=True)
class OverlaySample:
    """One slice to draw.

    Args:
        image: C x H x W in [0, 1] (C = 1 or 3).
        label: true class ids H x W.
        pred: predicted class ids H x W.
        caption: e.g. ``"Domain1 / case 3 / slice 12"``.
    """

    image: torch.Tensor
    label: torch.Tensor
    pred: torch.Tensor
    caption: str = ""


def _save(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` atomically in the format of ``path``'s extension."""
    ext = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    atomic_write(path, lambda f: fig.savefig(f, format=ext, dpi=100, bbox_inches="tight"), binary=True)


def _as_image(image: torch.Tensor) -> np.ndarray:
    """H x W (gray) or H x W x 3 (RGB) float array clipped to [0, 1]."""
    array = image.detach().float().cpu().clamp(0, 1).numpy()
    return array[0] if array.shape[0] == 1 else np.moveaxis(array[:3], 0, -1)


def _draw_labels(ax, image: np.ndarray, labels: torch.Tensor, title: str) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ids = labels.detach().cpu().numpy().astype(int)
    if ids.shape == image.shape[:2]:
        ax.imshow(np.ma.masked_equal(ids, 0), cmap=_COLORS, vmin=1, vmax=_COLORS.N, alpha=0.45, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def save_overlays(path: str | os.PathLike, samples: Sequence[OverlaySample], title: str = "") -> None:
    """One row per sample: the image, the ground truth on it, the prediction on it.

    Args:
        path: the picture file (``.png``, ``.jpg``, ``.pdf``...).
        samples: the slices to draw.
        title: figure title.

    Raises:
        ValueError: when ``samples`` is empty.
    """
    if not samples:
        raise ValueError(f"save_overlays: no samples to draw into {os.fspath(path)}")
    fig = Figure(figsize=(7.5, 2.6 * len(samples)))
    axes = fig.subplots(len(samples), 3, squeeze=False)
    for row, s in zip(axes, samples):
        image = _as_image(s.image)
        row[0].imshow(image, cmap="gray", vmin=0, vmax=1)
        row[0].set_title(s.caption, fontsize=8)
        row[0].axis("off")
        _draw_labels(row[1], image, s.label, "ground truth")
        _draw_labels(row[2], image, s.pred, "prediction")
    if title:
        fig.suptitle(title)
    _save(fig, path)


def read_tensorboard_scalars(log_dir: str | os.PathLike, tags: Sequence[str] | None = None) -> dict[str, list]:
    """Scalars from the TensorBoard event files in ``log_dir`` (recursively).

    Args:
        log_dir: the folder holding ``events.out.tfevents.*`` files.
        tags: the tags to read; ``None`` reads all scalar tags.

    Returns:
        ``{tag: [(step, value), ...]}`` sorted by step (later files win for a repeated step).

    Raises:
        FileNotFoundError: when ``log_dir`` holds no event file.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted(
        os.path.join(root, f) for root, _, names in os.walk(log_dir) for f in names if "tfevents" in f
    )
    if not files:
        raise FileNotFoundError(f"read_tensorboard_scalars: no TensorBoard event file under {os.fspath(log_dir)}")
    curves: dict[str, dict[int, float]] = {}
    for file in files:
        acc = EventAccumulator(file, size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            if tags is None or tag in tags:
                curves.setdefault(tag, {}).update({e.step: e.value for e in acc.Scalars(tag)})
    return {tag: sorted(points.items()) for tag, points in curves.items()}


def save_learning_curve(
    path: str | os.PathLike,
    curves: Mapping[str, Sequence[tuple[int, float]]] | Sequence[tuple[int, float]] | str | os.PathLike,
    tags: Sequence[str] | None = None,
    xlabel: str = "iteration",
    ylabel: str = "metric",
) -> None:
    """Plot metric against iteration.

    Args:
        path: the picture file.
        curves: ``[(iteration, value), ...]``, a mapping ``{name: points}``, or a folder of TensorBoard events
            (NaN values are skipped).
        tags: with a folder, the scalar tags to plot (all by default).
        xlabel: the x axis label.
        ylabel: the y axis label.

    Raises:
        ValueError: when there is nothing to plot.
    """
    if isinstance(curves, (str, os.PathLike)):
        curves = read_tensorboard_scalars(curves, tags)
    elif not isinstance(curves, Mapping):
        curves = {ylabel: curves}
    curves = {k: [(x, y) for x, y in v if y is not None and math.isfinite(y)] for k, v in curves.items()}
    curves = {k: v for k, v in curves.items() if v}
    if not curves:
        raise ValueError(f"save_learning_curve: nothing to plot into {os.fspath(path)}")
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name, points in curves.items():
        steps, values = zip(*points)
        ax.plot(steps, values, marker="." if len(points) < 50 else None, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def save_curve_panels(
    path: str | os.PathLike,
    panels: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
    dashed: Collection[str] = (),
    xlabel: str = "iteration",
    ylabel: str = "",
    title: str = "",
) -> None:
    """Small multiples: one plot per panel (three per row, y in [0, 1]), each curve in the same colour everywhere.

    Args:
        path: the picture file.
        panels: ``{panel title: {curve name: [(x, value), ...]}}``; NaN / None values are skipped.
        dashed: names of the curves drawn dashed (e.g. reference curves).
        xlabel: the x axis label.
        ylabel: the y axis label.
        title: figure title.

    Raises:
        ValueError: when there is nothing to plot.
    """
    names = list(dict.fromkeys(name for curves in panels.values() for name in curves))
    if not panels or not names:
        raise ValueError(f"save_curve_panels: nothing to plot into {os.fspath(path)}")
    colors = {name: f"C{i % 10}" for i, name in enumerate(names)}
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    height = 3.0 * rows + 1.2  # inches: the panels, the legend below and the title
    fig = Figure(figsize=(4.2 * columns, height))
    axes = fig.subplots(rows, columns, squeeze=False).flatten()
    for ax, (panel, curves) in zip(axes, panels.items()):
        for name, points in curves.items():
            points = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
            if points:
                xs, ys = zip(*points)
                style = "--" if name in dashed else "-"
                ax.plot(xs, ys, style, color=colors[name], marker="." if len(points) < 50 else None, label=name)
        ax.set_title(panel, fontsize=9)
        ax.set_ylim(0, 1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.axis("off")
    handles = {label: h for ax in axes for h, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(4, len(handles)), fontsize=8)
    fig.subplots_adjust(bottom=1.0 / height, top=1 - 0.7 / height, hspace=0.5, wspace=0.3)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def save_domain_bars(
    path: str | os.PathLike, summary: Mapping, structure_names: Sequence[str], metric: str = "dice", title: str = ""
) -> None:
    """Grouped bars: one group per domain (and "Mean"), one bar per structure and the structure average.

    Args:
        path: the picture file.
        summary: output of ``domain_table.summarize``.
        structure_names: the structures, in report order.
        metric: the metric to draw (a key of ``slice_metrics.METRIC_NAMES``).
        title: figure title.
    """
    groups = {**summary["domains"], MEAN: summary[MEAN]}
    bars = [*structure_names, AVERAGE] if len(structure_names) > 1 else list(structure_names)
    width = 0.8 / len(bars)
    x = np.arange(len(groups))
    fig = Figure(figsize=(max(4.0, 1.2 * len(groups) + 2), 3.5))
    ax = fig.subplots()
    for i, bar in enumerate(bars):
        values = [g[bar][metric] for g in groups.values()]
        values = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, values, width, label=bar)
    ax.set_xticks(x, list(groups), rotation=30, ha="right")
    ax.set_ylabel(metric)
    if metric in ("dice", "jaccard"):
        ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    _save(fig, path)
