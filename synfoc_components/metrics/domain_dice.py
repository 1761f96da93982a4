"""Mean Dice macro-averaged over domains, as an ignite metric usable as an evaluator's ``key_val_metric``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ignite.distributed as idist
import torch
from ignite.engine import Engine
from ignite.exceptions import NotComputableError
from ignite.metrics import Metric
from ignite.metrics.metric import reinit__is_reduced
from monai.handlers import from_engine

from .slice_metrics import as_batch, class_map, dice_jaccard, structure_masks

__all__ = ["DomainDice"]


class DomainDice(Metric):
    """Dice per structure, averaged over slices within each domain, then over structures, then over domains.

    This is the paper's model-selection number (docs/method.md 5): mean over domains of the mean over structures of the
    domain's mean slice Dice. Per-sample Dice stays on the prediction's device (no host synchronisation per
    iteration); with ``torch.distributed`` initialised the per-domain sums are reduced across ranks, so multi-GPU
    validation gives the single-process value (as long as the sampler does not duplicate samples).

    After ``compute``, :attr:`per_domain` maps each domain to its per-structure mean Dice, and when attached to an
    engine under ``name`` the domain means (over structures) are also put into ``engine.state.metrics`` as scalars
    ``"<name>/<domain>"`` (so stats, TensorBoard and MLflow handlers log them).

    Args:
        structures: class-id tuples, one per structure, e.g. ``[[1], [1, 2]]``.
        output_transform: maps ``engine.state.output`` to ``(pred, label, domain)``. ``pred`` is logits /
            probabilities B x K x H x W (argmax over K > 1) or class ids B x 1 x H x W, batched or a decollated list;
            it is nearest-resized to the label's size if it differs. ``label`` holds class ids; ``domain`` is a list
            of strings. The default reads the keys ``pred``, ``label`` and ``domain`` (see ``DomainEvaluator``).
        device: unused by the accumulation (it follows the predictions); kept for ignite's ``Metric`` API.
    """

    def __init__(
        self,
        structures: Sequence[Sequence[int]],
        output_transform: Callable = from_engine(["pred", "label", "domain"]),
        device: str | torch.device = "cpu",
    ) -> None:
        if not structures:
            raise ValueError("DomainDice: `structures` is empty; give one class-id list per structure, e.g. [[1]]")
        self.structures = tuple(tuple(int(c) for c in s) for s in structures)
        self.per_domain: dict[str, list[float]] = {}
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        super().__init__(output_transform=output_transform, device=device, skip_unrolling=True)

    @reinit__is_reduced
    def reset(self) -> None:
        """Forget all accumulated samples."""
        self._sums, self._counts = {}, {}

    @reinit__is_reduced
    def update(self, output: Sequence) -> None:
        """Accumulate one batch.

        Args:
            output: ``(pred, label, domain)`` as described in the class docstring.

        Raises:
            ValueError: when ``output`` does not have three items or the domains do not match the batch size.
        """
        if len(output) != 3:
            raise ValueError(f"DomainDice: output_transform must give (pred, label, domain), got {len(output)} items")
        pred, label, domains = output
        label = as_batch(label)
        domains = [domains] if isinstance(domains, str) else list(domains)
        if len(domains) != label.shape[0]:
            raise ValueError(f"DomainDice: {len(domains)} domains for a batch of {label.shape[0]} samples")
        pred_masks = structure_masks(class_map(as_batch(pred), label.shape[2:]), self.structures)
        dice, _ = dice_jaccard(pred_masks, structure_masks(label, self.structures))
        for d, row in zip(domains, dice):
            d = str(d)
            self._sums[d] = self._sums[d] + row if d in self._sums else row.clone()
            self._counts[d] = self._counts.get(d, 0) + 1

    def _reduced(self) -> tuple[list[str], torch.Tensor, torch.Tensor]:
        """Domain names and their Dice sums (D x S) and counts (D), summed over ranks when distributed."""
        world = idist.get_world_size()
        names = sorted(set().union(*idist.all_gather(sorted(self._sums)))) if world > 1 else sorted(self._sums)
        local = next(iter(self._sums.values()), None)
        device = idist.device() if world > 1 else (local.device if local is not None else torch.device("cpu"))
        sums = torch.zeros(len(names), len(self.structures), device=device)
        counts = torch.zeros(len(names), device=device)
        for i, n in enumerate(names):
            if n in self._sums:
                sums[i], counts[i] = self._sums[n].to(device), self._counts[n]
        if world > 1:
            sums, counts = idist.all_reduce(sums), idist.all_reduce(counts)
        return names, sums, counts

    def compute(self) -> float:
        """The macro mean over domains of the mean over structures.

        Raises:
            NotComputableError: when no sample was seen on any rank.
        """
        names, sums, counts = self._reduced()
        if not names:
            raise NotComputableError("DomainDice must have at least one sample before it can be computed")
        means = (sums / counts[:, None]).cpu()
        self.per_domain = {n: means[i].tolist() for i, n in enumerate(names)}
        return means.mean(dim=1).mean().item()

    def completed(self, engine: Engine, name: str) -> None:
        """Store the key value under ``name`` and each domain's mean over structures under ``"<name>/<domain>"``."""
        super().completed(engine, name)
        for domain, values in self.per_domain.items():
            engine.state.metrics[f"{name}/{domain}"] = sum(values) / len(values)
