"""Pseudo-label quality during training: the teachers' pseudo-labels on unlabeled images whose labels are known."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events

from synfoc_components.data.loading.checked_dataset import CheckedDataset
from synfoc_components.engines.evaluator import UNSPECIFIED_DOMAIN
from synfoc_components.io import atomic_write
from synfoc_components.metrics import (
    MEAN,
    PSEUDO_LABEL_QUANTITIES,
    domain_means,
    flat_metrics,
    pseudo_label_scores,
    save_curve_panels,
    write_csv,
)
from synfoc_components.networks.wrappers import unwrap
from synfoc_components.transforms import labeled_transforms

__all__ = ["PseudoLabelMonitor"]

logger = logging.getLogger(__name__)

CURVE_NAMES = dict(
    zip(PSEUDO_LABEL_QUANTITIES, ("Dice SAM teacher", "Dice U-Net teacher", "Dice ensemble", "confident share", "alpha"))
)
"""How the picture names each quantity."""


class PseudoLabelMonitor:
    """At each validation, the Dice of the teachers' pseudo-labels against the labels of some unlabeled images.

    Benchmark releases and demos keep the labels of their unlabeled training images (the datalist's ``unlabeled``
    items carry ``label``); the method never reads them. This handler does, for monitoring only: after the validators
    (register it after the ``ValidationHandler`` entries, at the same epoch interval), on rank 0, it runs the SAM
    teacher, the U-Net teacher and the student U-Net on a fixed subset of those images and builds the pseudo-labels
    with the trainer's own ``teacher_pseudo_labels`` (same resizing, autocast, alpha, threshold, and the networks in
    train mode, as in training: the U-Net teacher normalises with the batch's statistics). It records per domain and
    over domains (the mean of the domain means, like the validation Dice) the Dice of the SAM teacher's, the U-Net
    teacher's and the ensemble's pseudo-labels, the confident-pixel share and the mean alpha
    (``metrics.pseudo_label_quality``).

    The subset is the first ``items_per_domain`` items with a label of each domain, in datalist order; items without
    a label are skipped. They are loaded once, **without augmentation** (the labeled loading at ``image_size``): so
    the curves move only because the teachers change, not with the augmentation drawn, and the un-augmented view is
    one the teachers meet in training (each weak step has probability 0.5). Batches of ``batch_size`` take the domains
    in turn, so each batch mixes domains as shuffled training batches do.

    Nothing flows back into training: the networks' modes and buffers (BatchNorm statistics) and the random states
    are restored afterwards, and the results go only to the reports. They go into the trainer's
    ``state.metrics`` as ``pseudo_<quantity>`` and ``pseudo_<quantity>/<domain>``, so the trainer's ``StatsHandler``
    logs them (one line), its ``TensorBoardStatsHandler`` and MLflow handler record them, registered after this one.
    Every validation rewrites ``<output_dir>/pseudo_labels.json`` and ``.csv`` (the curve over validations, with the
    validators' key metric, overall and per domain) and ``pseudo_labels.png`` (these curves against the students'
    validation Dice). With no unlabeled loader on the trainer (the supervised-only baseline) it does nothing.

    Args:
        data: the datalist's ``unlabeled`` items (absolute paths).
        image_size: the base training size S (``image_size`` of the bundle).
        output_dir: the report folder.
        items_per_domain: images per domain in the subset.
        batch_size: images per network call.
        validators: evaluators whose key metric is drawn next to the curves (the students' validation Dice).
        interval: run every ``interval`` epochs (the validation interval).
    """

    def __init__(
        self,
        data: Sequence[dict],
        image_size: int,
        output_dir: str | os.PathLike,
        items_per_domain: int = 8,
        batch_size: int = 4,
        validators: Sequence[Engine] = (),
        interval: int = 1,
    ) -> None:
        if items_per_domain < 1 or batch_size < 1 or interval < 1:
            raise ValueError(
                f"PseudoLabelMonitor: items_per_domain ({items_per_domain}), batch_size ({batch_size}) and interval "
                f"({interval}) must be >= 1"
            )
        self.data, self.image_size, self.output_dir = list(data), int(image_size), os.fspath(output_dir)
        self.items_per_domain, self.batch_size, self.interval = int(items_per_domain), int(batch_size), int(interval)
        self.validators = list(validators)
        self.history: list[dict[str, Any]] = []
        self._batches: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._domains: list[str] = []

    def attach(self, engine: Engine) -> None:
        """Run after every ``interval``-th epoch of ``engine`` (a ``SynFoCTrainer``) if it trains on unlabeled data."""
        if getattr(engine, "unlabeled_data_loader", None) is None:
            logger.info("pseudo-label monitor: off, the trainer has no unlabeled data (supervised only)")
            return
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.interval), self)

    def state_dict(self) -> dict[str, Any]:
        """The curve so far, so that a resumed run continues it."""
        return {"history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.history = list(state["history"])

    def subset(self) -> list[dict]:
        """The monitored items: the first ``items_per_domain`` with a label per domain, the domains taken in turn."""
        by_domain: dict[str, list[dict]] = {}
        for item in self.data:
            if item.get("label"):
                kept = by_domain.setdefault(str(item.get("domain", UNSPECIFIED_DOMAIN)), [])
                if len(kept) < self.items_per_domain:
                    kept.append(item)
        columns = [by_domain[d] for d in sorted(by_domain)]
        return [c[i] for i in range(self.items_per_domain) for c in columns if i < len(c)]

    def _load(self) -> None:
        """Load the subset once: images and labels at ``image_size``, in batches (kept on the host)."""
        items = self.subset()
        self._domains = [str(item.get("domain", UNSPECIFIED_DOMAIN)) for item in items]
        dataset = CheckedDataset(items, labeled_transforms(self.image_size, augment=False))
        samples = [dataset[i] for i in range(len(dataset))]
        self._batches = [
            (torch.stack([s["image"] for s in chunk]), torch.stack([s["label"] for s in chunk]))
            for chunk in (samples[i : i + self.batch_size] for i in range(0, len(samples), self.batch_size))
        ]
        counts = {d: self._domains.count(d) for d in sorted(set(self._domains))}
        skipped = sum(1 for item in self.data if not item.get("label"))
        logger.info(
            "pseudo-label monitor: %d unlabeled images with labels %s; %d without a label skipped",
            len(items), counts, skipped,
        )  # fmt: skip

    def __call__(self, engine: Engine) -> None:
        """Score the teachers' pseudo-labels on the subset, put the results into ``engine.state.metrics``, write."""
        if idist.get_rank() != 0:
            return
        if self._batches is None:
            self._load()
        if not self._batches:
            return
        device = torch.device(engine.state.device)
        networks = tuple(unwrap(n) for n in (engine.sam_teacher, engine.unet_teacher, engine.unet))
        scores = []
        with _left_as_found(networks, device):
            for images, labels in self._batches:
                images, labels = images.to(device), labels.to(device)
                teachers = engine.teacher_pseudo_labels(images, networks)
                scores.append(pseudo_label_scores(teachers, labels, engine.structures))
        summary = domain_means(torch.cat(scores), self._domains)
        engine.state.metrics.update(flat_metrics(summary))
        record = {"epoch": engine.state.epoch, "iteration": engine.state.iteration, "pseudo_labels": summary}
        record["students"] = self._student_dice(list(summary))
        self.history.append(record)
        self.write()

    def _student_dice(self, domains: list[str]) -> dict[str, dict[str, float]]:
        """Each validator's key metric: ``{name: {domain: value, "Mean": value}}`` where it has them."""
        students = {}
        for validator in self.validators:
            name, metrics = getattr(validator.state, "key_metric_name", None), validator.state.metrics
            if name in metrics:
                per_domain = {d: metrics[f"{name}/{d}"] for d in domains if f"{name}/{d}" in metrics}
                students[name] = {**per_domain, MEAN: metrics[name]}
        return students

    def write(self) -> None:
        """Write ``pseudo_labels.json``, ``.csv`` and ``.png`` into ``output_dir`` from the history."""
        if not self.history:
            return
        os.makedirs(self.output_dir, exist_ok=True)
        base = os.path.join(self.output_dir, "pseudo_labels")
        document = {"quantities": list(PSEUDO_LABEL_QUANTITIES), "validations": self.history}
        atomic_write(base + ".json", lambda f: f.write(json.dumps(document, indent=2) + "\n"))
        rows = [
            {"epoch": r["epoch"], "iteration": r["iteration"], "domain": domain, **values,
             **{name: dice.get(domain, "") for name, dice in r["students"].items()}}
            for r in self.history for domain, values in r["pseudo_labels"].items()
        ]  # fmt: skip
        write_csv(base + ".csv", rows)
        save_curve_panels(base + ".png", self._panels(), dashed=self._student_names(), ylabel="Dice / share",
                          title="pseudo-labels of the teachers vs the students' validation Dice")  # fmt: skip

    def _student_names(self) -> set[str]:
        return {name for r in self.history for name in r["students"]}

    def _panels(self) -> dict[str, dict[str, list[tuple[int, float]]]]:
        """One panel per domain (the mean over domains first): the quantities and the students' Dice by iteration."""
        domains = list(dict.fromkeys(d for r in self.history for d in r["pseudo_labels"]))
        domains = [MEAN] + [d for d in domains if d != MEAN]
        panels: dict[str, dict[str, list[tuple[int, float]]]] = {}
        for domain in domains:
            curves = panels.setdefault("mean over domains" if domain == MEAN else domain, {})
            for r in self.history:
                for quantity, value in r["pseudo_labels"].get(domain, {}).items():
                    curves.setdefault(CURVE_NAMES[quantity], []).append((r["iteration"], value))
                for name, dice in r["students"].items():
                    if domain in dice:
                        curves.setdefault(name, []).append((r["iteration"], dice[domain]))
        return panels


@contextlib.contextmanager
def _left_as_found(networks: Sequence[torch.nn.Module], device: torch.device) -> Iterator[None]:
    """Put ``networks`` in train mode; afterwards restore every submodule's mode, every buffer (BatchNorm running
    statistics) and the random states (CPU and ``device``), so monitoring changes nothing in training."""
    modes = [(m, m.training) for net in networks for m in net.modules()]
    buffers = [(b, b.detach().clone()) for net in networks for b in net.buffers()]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            for net in networks:
                net.train()
            yield
        finally:
            with torch.no_grad():
                for buffer, saved in buffers:
                    buffer.copy_(saved)
            for module, training in modes:
                module.training = training
