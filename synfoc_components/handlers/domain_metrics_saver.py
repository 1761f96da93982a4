"""Per-domain evaluation report of one model: metric files, text table and overlay pictures after every epoch."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from monai.data import decollate_batch
from monai.utils import convert_to_tensor

from synfoc_components.metrics import (
    MEAN,
    CaseSlice,
    OverlaySample,
    as_batch,
    case_rows,
    class_map,
    merge_csv,
    merge_json,
    metric_rows,
    render_table,
    save_domain_bars,
    save_learning_curve,
    save_overlays,
    slice_metrics,
    summarize,
)

__all__ = ["DomainMetricsSaver"]

logger = logging.getLogger(__name__)


def _spacing(value: Any) -> tuple[float, ...] | None:
    """A per-sample spacing (tensor, array, or list of numbers / 0-d tensors) as a tuple of floats, or ``None``."""
    if value is None:
        return None
    return tuple(float(v) for v in (value.flatten() if hasattr(value, "flatten") else value))


class DomainMetricsSaver:
    """Evaluate one model per slice and per domain and write the report, on rank 0, after every epoch.

    On ``ITERATION_COMPLETED`` it reads the evaluator's (decollated) output: ``pred`` (logits K x H x W or class ids
    1 x H x W, nearest-resized to the label's size if needed), ``label``, ``image``, ``domain``, ``case``, ``slice``
    and optionally ``spacing`` (``DomainEvaluator`` puts them there), and computes Dice, Jaccard, HD95 and ASD per
    slice and structure (``slice_metrics``). On ``EPOCH_COMPLETED`` rows from every rank are gathered and rank 0
    writes into ``output_dir``, under the key / ``model`` column ``model_name``:

    - ``metrics.json``: ``{model_name: {"structures", "slices": summary, "cases": summary (volumetric)}}``,
    - ``metrics.csv``: one row per slice and structure, ``metrics_cases.csv``: one per case (volumetric),
    - ``<model_name>_overlays.png`` (a few slices per domain), ``<model_name>_domains.png`` (per-domain Dice) and
      ``<model_name>_curve.png`` (mean Dice per domain and over domains at every epoch so far, always written),

    and logs the per-domain table. Dice and Jaccard are fractions in the files and % in the table.

    Args:
        output_dir: the report folder (created if missing).
        model_name: the model's key in the reports, e.g. ``"sam"`` or ``"unet"``.
        structures: class-id tuples, one per structure.
        structure_names: one name per structure.
        volumetric: also compute 3D metrics per case (slices stacked in slice order); keeps every class map in memory.
        num_overlays_per_domain: slices per domain drawn in the overlay picture (0: no picture).
        only_on_best: with a key metric on the engine, write only when it has just improved (so that, during
            training, the report describes the saved best model); every epoch otherwise.
    """

    def __init__(
        self,
        output_dir: str,
        model_name: str,
        structures: Sequence[Sequence[int]],
        structure_names: Sequence[str],
        volumetric: bool = False,
        num_overlays_per_domain: int = 3,
        only_on_best: bool = False,
    ) -> None:
        if len(structures) != len(structure_names):
            raise ValueError(
                f"DomainMetricsSaver: {len(structures)} structures but {len(structure_names)} structure_names"
            )
        self.output_dir = output_dir
        self.model_name = model_name
        self.structures = tuple(tuple(int(c) for c in s) for s in structures)
        self.structure_names = tuple(structure_names)
        self.volumetric = volumetric
        self.num_overlays_per_domain = num_overlays_per_domain
        self.only_on_best = only_on_best
        self.summary: dict = {}
        self._history: dict[str, list[tuple[int, float]]] = {}
        self._reset()

    def _reset(self, engine: Engine | None = None) -> None:
        self._rows: list[dict] = []
        self._overlays: dict[str, list[tuple[tuple, OverlaySample]]] = {}
        self._slices: list[CaseSlice] = []

    def attach(self, engine: Engine) -> None:
        """Register the collection (``ITERATION_COMPLETED``) and the report (``EPOCH_COMPLETED``) on ``engine``."""
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def collect(self, engine: Engine) -> None:
        """Compute the metrics of the iteration's samples and keep what the report needs.

        Raises:
            KeyError: naming the missing key when the output lacks ``pred``, ``label`` or the metadata.
        """
        outputs = engine.state.output
        outputs = decollate_batch(outputs, detach=True) if isinstance(outputs, dict) else outputs
        if not outputs:
            return
        missing = [k for k in ("pred", "label", "domain", "case", "slice") if k not in outputs[0]]
        if missing:
            raise KeyError(f"DomainMetricsSaver: the evaluator's output lacks {missing}; use DomainEvaluator")
        label = as_batch([o["label"] for o in outputs])
        pred = class_map(as_batch([o["pred"] for o in outputs]), label.shape[2:])
        spacing = [_spacing(o.get("spacing")) for o in outputs]
        in_plane = None if None in spacing else [sp[:2] for sp in spacing]  # a 3rd value is the slice thickness
        metrics = slice_metrics(pred, label, self.structures, in_plane)
        domains, cases = [str(o["domain"]) for o in outputs], [str(o["case"]) for o in outputs]
        slices = [int(o["slice"]) for o in outputs]
        self._rows += metric_rows(metrics, self.structure_names, self.model_name, domains, cases, slices)
        pred, label = pred[:, 0].to("cpu", torch.uint8), label[:, 0].to("cpu", torch.uint8)
        for i, o in enumerate(outputs):
            if self.volumetric:
                self._slices.append(CaseSlice(domains[i], cases[i], slices[i], pred[i], label[i], spacing[i]))
            kept = self._overlays.setdefault(domains[i], [])
            if len(kept) < self.num_overlays_per_domain and "image" in o:
                caption = f"{domains[i]} / {cases[i]} / slice {slices[i]}"
                image = convert_to_tensor(o["image"], track_meta=False).detach().cpu()
                kept.append(((cases[i], slices[i]), OverlaySample(image, label[i], pred[i], caption)))

    def state_dict(self) -> dict[str, Any]:
        """The learning-curve history (mean Dice per domain and epoch), so that a resumed run continues the curve."""
        return {"history": {name: list(points) for name, points in self._history.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self._history = {name: [tuple(p) for p in points] for name, points in state["history"].items()}

    def _gathered(self) -> tuple[list[dict], list[CaseSlice], dict[str, list[OverlaySample]]]:
        """Rows, case slices and overlays of all ranks (overlays: the first slices per domain by case and slice)."""
        rows, slices, overlays = self._rows, self._slices, self._overlays
        if idist.get_world_size() > 1:
            rows = [r for part in idist.all_gather(rows) for r in part]
            slices = [s for part in idist.all_gather(slices) for s in part] if self.volumetric else []
            merged: dict[str, list] = {}
            for part in idist.all_gather(overlays):
                for domain, items in part.items():
                    merged.setdefault(domain, []).extend(items)
            overlays = merged
        picked = {
            d: [s for _, s in sorted(items, key=lambda t: t[0])[: self.num_overlays_per_domain]]
            for d, items in sorted(overlays.items())
        }
        return rows, slices, picked

    def __call__(self, engine: Engine) -> None:
        """Gather the epoch's results and, on rank 0, write the report files and log the table."""
        rows, slices, overlays = self._gathered()
        if idist.get_rank() != 0 or not rows:
            return
        epoch = engine.state.epoch
        report = {"epoch": epoch, "structures": list(self.structure_names)}
        report["slices"] = summarize(rows, self.structure_names)
        title = f"{self.model_name}: per-domain metrics"
        logger.info(f"{title} (epoch {epoch})\n{render_table(report['slices'], self.structure_names)}")
        for name, values in (*report["slices"]["domains"].items(), (MEAN, report["slices"][MEAN])):
            self._history.setdefault(name, []).append((epoch, values["average"]["dice"]))
        curve = os.path.join(self.output_dir, f"{self.model_name}_curve.png")
        save_learning_curve(curve, self._history, xlabel="epoch", ylabel="mean Dice")
        improved = getattr(engine.state, "best_metric_epoch", epoch) == epoch
        if self.only_on_best and getattr(engine.state, "key_metric_name", None) and not improved:
            return
        merge_csv(os.path.join(self.output_dir, "metrics.csv"), rows, self.model_name)
        if self.volumetric and slices:
            volume_rows = case_rows(slices, self.structures, self.structure_names, self.model_name)
            report["cases"] = summarize(volume_rows, self.structure_names)
            merge_csv(os.path.join(self.output_dir, "metrics_cases.csv"), volume_rows, self.model_name)
            table = render_table(report["cases"], self.structure_names)
            logger.info(f"{self.model_name}: per-domain 3D metrics per case\n{table}")
        merge_json(os.path.join(self.output_dir, "metrics.json"), self.model_name, report)
        save_domain_bars(
            os.path.join(self.output_dir, f"{self.model_name}_domains.png"), report["slices"], self.structure_names,
            title=title,
        )
        samples = [s for items in overlays.values() for s in items]
        if samples:
            save_overlays(os.path.join(self.output_dir, f"{self.model_name}_overlays.png"), samples, self.model_name)
        self.summary = report
