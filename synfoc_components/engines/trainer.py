"""SynFoCTrainer: one ignite engine that co-trains the foundation model and the U-Net (docs/method.md 3.9)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Events
from monai.data import MetaTensor
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys as Keys
from torch.optim import Optimizer
from torch.utils.data import DataLoader, DistributedSampler

from synfoc_components.handlers.ema import EMATeacher
from synfoc_components.losses import (
    CEDiceLoss,
    PseudoLabels,
    TeacherPseudoLabels,
    consensus_divergence_loss,
    consistency_ramp,
    teacher_pseudo_labels,
)
from synfoc_components.networks.wrappers import compiled, unwrap
from synfoc_components.resize import resize, resize_labels
from synfoc_components.transforms.box_mix import BoxMaskSampler, box_mix

__all__ = ["SynFoCTrainer", "LOSS_TERMS"]

#: Names of the scalars each iteration returns in ``engine.state.output`` (besides ``loss``).
LOSS_TERMS = ("sup_sam", "sup_unet", "unsup_sam", "unsup_unet", "consensus", "divergence")


class SynFoCTrainer(SupervisedTrainer):
    """Trains the student SAM adapter (``network``, the deploy network) and the student U-Net together.

    Each iteration takes a labeled batch from ``train_data_loader`` and an unlabeled batch from
    ``unlabeled_data_loader`` (cycled independently of the epoch), builds ensemble pseudo-labels from both EMA teachers
    weighted per image by self-mutual confidence, mixes labeled boxes into the strongly augmented unlabeled images,
    and minimises L = L_sup + lambda(t) (L_unsup + L_consensus + L_divergence) with one backward pass and both
    optimizers. The teachers follow their students through :class:`EMATeacher` handlers attached here.

    Batches hold ``image`` (B x C x H x W in [0, 1]) and, when labeled, ``label`` (B x 1 x H x W class ids) at one base
    size; unlabeled batches also hold ``image_strong``. The trainer resizes on the device: images nearest to the SAM
    input size and to ``unet_size`` (as upstream feeds the U-Net), labels nearest to the U-Net and SAM logit sizes.
    The only host transfer per iteration is one vector of logged scalars.

    For speed on a GPU: ``channels_last`` puts both U-Nets in channels-last memory format (unless they already are,
    e.g. converted before a DistributedDataParallel wrapper was built, as the bundle does) and feeds them
    channels-last inputs; ``compile`` compiles the forward of all four networks with ``torch.compile`` (as MONAI's
    ``SupervisedTrainer`` does with its one network): ``self.network``, ``self.unet``, ``self.sam_teacher`` and
    ``self.unet_teacher`` are then compiled wrappers sharing the parameters of the modules passed in, so save and load
    those modules (or ``synfoc_components.networks.unwrap`` of the wrappers), whose state dict keys stay plain. The
    EMA teachers follow the shared parameters. Batches are copied to the device with ``non_blocking`` (a no-op on the
    CPU; with pinned loader memory the copy overlaps the host's work).

    Args:
        device: where to train.
        max_epochs: number of "epochs" of ``epoch_length`` (= ``val_interval``) iterations.
        train_data_loader: the labeled loader.
        unlabeled_data_loader: the unlabeled loader; None trains both students on the labeled data alone (the
            supervised-only baseline).
        network: the student SAM adapter (or its DDP wrapper); it must expose ``img_size`` (directly or on ``.module``).
        optimizer: the SAM student's optimizer (AdamW over its trainable parameters).
        unet: the student U-Net (or its DDP wrapper).
        unet_optimizer: the U-Net's optimizer (SGD).
        sam_teacher: EMA teacher of ``network`` (a plain module).
        unet_teacher: EMA teacher of ``unet`` (a plain module).
        structures: class-id tuples of the dataset's reported structures, e.g. ``[[1]]`` or ``[[1], [1, 2]]``.
        num_classes: output channels incl. background.
        unet_size: U-Net resolution R.
        max_iterations: the run's length T, for the consistency ramp.
        loss_function: the students' segmentation loss (``self.loss_function``, as MONAI trainers take it), called
            as ``loss_function(logits, target)`` for the supervised terms and ``loss_function(logits, target, mask)``
            (mask B x 1 x H x W of 0/1) for the confidence-masked unsupervised ones; None: the paper's CE + Dice,
            :class:`~synfoc_components.losses.CEDiceLoss` of ``num_classes``.
        threshold: pseudo-label confidence threshold tau.
        consistency: maximum weight of the unsupervised terms.
        ema_decay: teachers' EMA rate cap.
        box_sampler: the copy-paste box sampler (a default one if None).
        amp: autocast the forward passes.
        amp_dtype: autocast dtype; float16 also enables a gradient scaler.
        epoch_length: iterations per epoch (``val_interval``).
        train_handlers: handlers attached after the EMA teachers.
        compile: ``torch.compile`` the forward of both students and both teachers.
        compile_kwargs: ``torch.compile`` arguments, e.g. ``{"mode": "max-autotune"}``; ``dynamic`` defaults to False
            (every training batch has the same shape; the SAM teacher's batch and the student's double one get a
            static graph each instead of one with a dynamic batch size).
        channels_last: both U-Nets and their inputs in ``torch.channels_last`` memory format (for GPUs; the same
            numbers up to rounding).
        non_blocking: copy batches to the device asynchronously.
        kwargs: further :class:`monai.engines.SupervisedTrainer` arguments.
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: DataLoader,
        unlabeled_data_loader: DataLoader | None,
        network: torch.nn.Module,
        optimizer: Optimizer,
        unet: torch.nn.Module,
        unet_optimizer: Optimizer,
        sam_teacher: torch.nn.Module,
        unet_teacher: torch.nn.Module,
        structures: Sequence[Sequence[int]],
        num_classes: int,
        unet_size: int,
        max_iterations: int,
        loss_function: Callable | None = None,
        threshold: float = 0.95,
        consistency: float = 1.0,
        ema_decay: float = 0.99,
        box_sampler: BoxMaskSampler | None = None,
        amp: bool = False,
        amp_dtype: torch.dtype | str = torch.bfloat16,
        epoch_length: int | None = None,
        train_handlers: Sequence | None = None,
        compile: bool = False,
        compile_kwargs: dict | None = None,
        channels_last: bool = False,
        non_blocking: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            train_data_loader=train_data_loader,
            network=network,
            optimizer=optimizer,
            loss_function=CEDiceLoss(num_classes) if loss_function is None else loss_function,
            epoch_length=epoch_length,
            amp=amp,
            decollate=False,
            non_blocking=non_blocking,
            **kwargs,
        )
        self.unlabeled_data_loader, self._unlabeled_iter = unlabeled_data_loader, None
        self.unet, self.unet_optimizer = unet, unet_optimizer
        self.sam_teacher, self.unet_teacher = sam_teacher, unet_teacher
        self.structures = [tuple(int(c) for c in s) for s in structures]
        self.unet_size, self.max_iterations = int(unet_size), int(max_iterations)
        self.threshold, self.consistency = float(threshold), float(consistency)
        self.box_sampler = box_sampler or BoxMaskSampler()
        self.amp_dtype = getattr(torch, amp_dtype) if isinstance(amp_dtype, str) else amp_dtype
        self.grad_scaler = torch.amp.GradScaler(
            torch.device(device).type, enabled=amp and self.amp_dtype == torch.float16
        )
        self.sam_size = int(unwrap(network).img_size)
        EMATeacher(sam_teacher, network, ema_decay, trainable_only=True).attach(self)
        EMATeacher(unet_teacher, unet, ema_decay).attach(self)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            for net in (unet, unet_teacher):
                unwrap(net).to(memory_format=torch.channels_last)  # in place; a no-op when converted already
        self.compile = bool(compile)
        if self.compile:  # after the EMA handlers, which take the plain modules' parameters
            kw = {"dynamic": False, **(compile_kwargs or {})}  # training shapes are fixed: static graphs
            self.network, self.unet = compiled(network, **kw), compiled(unet, **kw)
            self.sam_teacher, self.unet_teacher = compiled(sam_teacher, **kw), compiled(unet_teacher, **kw)
        if train_handlers is not None:
            self._register_handlers(train_handlers)
        sampler = getattr(unlabeled_data_loader, "sampler", None)
        if isinstance(sampler, DistributedSampler):  # Workflow only does this for the labeled loader
            self.add_event_handler("epoch_started", lambda e: sampler.set_epoch(e.state.epoch))
        self._stop_requested: bool | str = False
        if idist.get_world_size() > 1:
            # every 10 iterations and at each epoch end: one extra all-reduce, not one per iteration
            for event in (Events.ITERATION_COMPLETED(every=10), Events.EPOCH_COMPLETED):
                self.add_event_handler(event, self._stop_together)

    def state_dict(self) -> dict[str, Any]:
        """Ignite's engine state (iteration, epoch) plus the gradient scaler and the box sampler's random stream."""
        state = dict(super().state_dict())
        state.update(grad_scaler=self.grad_scaler.state_dict(), box_sampler=self.box_sampler.state_dict())
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; the configured ``max_epochs`` wins over the saved one, so a
        resumed run can be extended by raising ``max_iterations``.

        Raises:
            ValueError: if the saved epoch length (``val_interval``) differs from the configured one.
        """
        state = dict(state_dict)
        if state.get("epoch_length") != self.state.epoch_length:
            raise ValueError(
                f"the saved training state has val_interval {state.get('epoch_length')}, the configuration "
                f"{self.state.epoch_length}: resume with the same val_interval"
            )
        self.grad_scaler.load_state_dict(state.pop("grad_scaler"))
        self.box_sampler.load_state_dict(state.pop("box_sampler"))
        super().load_state_dict({**state, "max_epochs": self.state.max_epochs})

    def run(self) -> None:
        """Train until ``max_epochs``; a run whose saved state is already there logs so and returns.

        Raises:
            RuntimeError: under torch.distributed, when the ranks resumed from different iterations.
        """
        if idist.get_world_size() > 1:
            iterations = idist.all_gather(torch.tensor([self.state.iteration], device=idist.device()))
            if iterations.min() != iterations.max():
                raise RuntimeError(
                    f"the ranks start from different iterations {iterations.tolist()}: every rank must read the same "
                    "models/train_state.pt (put bundle_root on storage that all nodes share)"
                )
        if self.state.epoch_length and self.state.iteration >= self.state.max_epochs * self.state.epoch_length:
            self.logger.info(
                "training already complete at iteration %d (max %d): nothing to do; raise max_iterations to go on, "
                "or delete models/train_state.pt to start afresh",
                self.state.iteration,
                self.state.max_epochs * self.state.epoch_length,
            )
            return
        self._stop_requested = False
        super().run()

    def terminate(self, skip_completed: bool = False) -> None:
        """Stop after the current iteration, on every rank together under torch.distributed.

        There the request waits for the next tenth iteration or the epoch's end, where all ranks stop if
        any asked: a SIGTERM reaching the ranks at different moments would otherwise stop them after different
        iterations, and a rank that went on would wait forever in its next all-reduce.
        """
        if idist.get_world_size() > 1:
            self._stop_requested = self._stop_requested or ("skip_completed" if skip_completed else True)
        else:
            super().terminate(skip_completed)

    def _stop_together(self, engine: SynFoCTrainer) -> None:
        """Terminate on every rank when any rank has requested it (one all-reduce of a flag)."""
        flag = torch.tensor([float(bool(self._stop_requested))], device=idist.device())
        if idist.all_reduce(flag, op="MAX").item():
            super().terminate(self._stop_requested == "skip_completed")

    def _next_unlabeled(self) -> dict:
        """Next unlabeled batch, restarting the unlabeled loader whenever it runs out."""
        if self._unlabeled_iter is None:
            self._unlabeled_iter = iter(self.unlabeled_data_loader)
        try:
            return next(self._unlabeled_iter)
        except StopIteration:
            self._unlabeled_iter = iter(self.unlabeled_data_loader)
            return next(self._unlabeled_iter)

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.as_tensor() if isinstance(x, MetaTensor) else x
        return x.to(self.state.device, non_blocking=self.non_blocking)

    def _unet_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the U-Nets' memory format."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _autocast(self) -> torch.autocast:
        return torch.autocast(torch.device(self.state.device).type, dtype=self.amp_dtype, enabled=self.amp)

    def teacher_pseudo_labels(
        self, u_weak: torch.Tensor, networks: Sequence[torch.nn.Module] | None = None
    ) -> TeacherPseudoLabels:
        """The teachers' predictions, alpha and ensemble pseudo-labels of weak unlabeled images, as training builds them
        (under the trainer's autocast, without gradient).

        Args:
            u_weak: weak views B x C x S x S on the device.
            networks: (SAM teacher, U-Net teacher, student U-Net) to use instead of the trainer's (e.g. their plain
                modules for a monitor); None uses ``sam_teacher``, ``unet_teacher`` and ``unet``.

        Returns:
            :class:`synfoc_components.losses.TeacherPseudoLabels`.
        """
        sam_teacher, unet_teacher, unet = networks or (self.sam_teacher, self.unet_teacher, self.unet)
        with self._autocast():
            return teacher_pseudo_labels(
                u_weak, sam_teacher, unet_teacher, unet, self.structures, self.sam_size, self.unet_size,
                self.threshold, self.channels_last,
            )  # fmt: skip

    def _iteration(self, engine: SynFoCTrainer, batchdata: dict[str, torch.Tensor]) -> dict[str, float]:
        """One SynFoC iteration (supervised only without an unlabeled loader); returns every term as a float."""
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        x, y = engine._to_device(batchdata[Keys.IMAGE]), engine._to_device(batchdata[Keys.LABEL]).long()
        for net in (engine.network, engine.unet, engine.sam_teacher, engine.unet_teacher):
            net.train()  # teachers too, as upstream: the U-Net teacher normalises with batch statistics
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        engine.unet_optimizer.zero_grad(set_to_none=engine.optim_set_to_none)

        if engine.unlabeled_data_loader is None:
            terms, stats, weight = engine._supervised_terms(x, y), {}, 0.0
            loss = terms["sup_sam"] + terms["sup_unet"]
        else:
            terms, stats = engine._semi_supervised_terms(x, y, engine._next_unlabeled())
            loss, weight = engine.total_loss(terms, engine.state.iteration - 1)
        engine.fire_event(IterationEvents.LOSS_COMPLETED)

        engine.grad_scaler.scale(loss).backward()
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        for optimizer in (engine.optimizer, engine.unet_optimizer):
            engine.grad_scaler.step(optimizer)
        engine.grad_scaler.update()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)

        named = {Keys.LOSS: loss, **terms, **stats}
        values = torch.stack([v.detach().float() for v in named.values()]).tolist()  # the one host transfer
        output = dict(zip(named, values), weight=weight)
        _check_finite(output, engine.state.iteration)
        engine.state.output = output
        return output

    def _supervised_terms(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """CE + Dice of both students on the labeled batch (SAM at its logit size, U-Net at R)."""
        with self._autocast():
            sam_x = self.network(resize(x, self.sam_size))
            unet_x = self.unet(self._unet_input(resize(x, self.unet_size)))
        self.fire_event(IterationEvents.FORWARD_COMPLETED)
        return {
            "sup_sam": self.loss_function(sam_x, resize_labels(y, sam_x.shape[-2:])),
            "sup_unet": self.loss_function(unet_x, resize_labels(y, self.unet_size)),
        }

    def _semi_supervised_terms(
        self, x: torch.Tensor, y: torch.Tensor, unlabeled: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Every SynFoC loss term, and the confident-pixel ratio and mean alpha of the unlabeled batch."""
        u_weak, u_strong = self._to_device(unlabeled[Keys.IMAGE]), self._to_device(unlabeled["image_strong"])
        if x.shape[0] != u_weak.shape[0]:
            raise ValueError(
                f"labeled and unlabeled batches must pair up for copy-paste: got {x.shape[0]} and {u_weak.shape[0]} "
                "images (use equal batch sizes and drop_last=True)"
            )
        teachers = self.teacher_pseudo_labels(u_weak)
        pseudo, alpha = teachers.pseudo, teachers.alpha

        # labeled boxes pasted into the strong views; inside a box the target is the label and fully trusted
        logit_size = pseudo.labels_sam.shape[-2:]
        box = self.box_sampler(x.shape[0], self.unet_size, x.device)
        box_small, box_sam = resize(box, logit_size), resize(box, self.sam_size)
        y_unet, y_small = resize_labels(y, self.unet_size)[:, 0], resize_labels(y, logit_size)[:, 0]
        mixed_sam = box_mix(resize(u_strong, self.sam_size), resize(x, self.sam_size), box_sam)
        mixed_unet = self._unet_input(box_mix(resize(u_strong, self.unet_size), resize(x, self.unet_size), box))

        with self._autocast():
            sam_logits = self.network(torch.cat([resize(x, self.sam_size), mixed_sam]))
            unet_x, unet_mix = self.unet(self._unet_input(resize(x, self.unet_size))), self.unet(mixed_unet)
        sam_x, sam_mix = sam_logits.split(x.shape[0])
        self.fire_event(IterationEvents.FORWARD_COMPLETED)

        terms = self.student_losses(sam_x, sam_mix, unet_x, unet_mix, y_small, y_unet, pseudo, box, box_small)
        return terms, {"confidence": pseudo.masks_unet.mean(), "alpha": alpha.mean()}

    def total_loss(self, terms: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, float]:
        """L = L_sup + lambda(step) (L_unsup + L_consensus + L_divergence); returns (L, lambda(step))."""
        weight = self.consistency * consistency_ramp(step, self.max_iterations)
        unsupervised = terms["unsup_sam"] + terms["unsup_unet"] + terms["consensus"] + terms["divergence"]
        return terms["sup_sam"] + terms["sup_unet"] + weight * unsupervised, weight

    def student_losses(
        self,
        sam_x: torch.Tensor,
        sam_mix: torch.Tensor,
        unet_x: torch.Tensor,
        unet_mix: torch.Tensor,
        y_small: torch.Tensor,
        y_unet: torch.Tensor,
        pseudo: PseudoLabels,
        box: torch.Tensor,
        box_small: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Every loss term of the students' logits on the labeled (``*_x``) and mixed (``*_mix``) batches.

        Inside the pasted box (``box`` at the U-Net size, ``box_small`` at the SAM logit size) the target is the label
        and fully trusted; elsewhere it is the ensemble pseudo-label under its confidence mask.
        """
        target_sam, mask_sam = box_mix(pseudo.labels_sam, y_small, box_small), pseudo.masks_sam.maximum(box_small)
        target_unet, mask_unet = box_mix(pseudo.labels_unet, y_unet, box), pseudo.masks_unet.maximum(box)
        loss_fn = self.loss_function
        terms = {
            "sup_sam": loss_fn(sam_x, y_small),
            "sup_unet": loss_fn(unet_x, y_unet),
            "unsup_sam": loss_fn(sam_mix, target_sam, mask_sam),
            "unsup_unet": loss_fn(unet_mix, target_unet, mask_unet),
        }
        terms["consensus"], terms["divergence"] = consensus_divergence_loss(sam_mix, unet_mix)
        return terms


def _check_finite(output: dict[str, float], iteration: int) -> None:
    """Raise FloatingPointError naming the iteration and the first non-finite loss term (the total comes last)."""
    for name, value in sorted(output.items(), key=lambda item: item[0] == Keys.LOSS):
        if not math.isfinite(value):
            raise FloatingPointError(
                f"iteration {iteration}: loss term {name!r} is {value}; training stopped, the last saved state is kept"
            )
