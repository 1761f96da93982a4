"""Evaluation metrics and reports: per-slice and per-case Dice / Jaccard / HD95 / ASD, per-domain tables, files."""

from __future__ import annotations

from .domain_dice import DomainDice
from .domain_table import AVERAGE, MEAN, metric_rows, render_table, summarize
from .pictures import (
    OverlaySample,
    read_tensorboard_scalars,
    save_curve_panels,
    save_domain_bars,
    save_learning_curve,
    save_overlays,
)
from .pseudo_label_quality import PSEUDO_LABEL_QUANTITIES, domain_means, flat_metrics, pseudo_label_scores
from .slice_metrics import EMPTY_PREDICTION_PENALTY, as_batch, class_map, dice_jaccard, slice_metrics, structure_masks
from .volume_metrics import CaseSlice, case_rows
from .writers import atomic_write, merge_csv, merge_json, write_csv
