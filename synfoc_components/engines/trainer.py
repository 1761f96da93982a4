"""SynFoCTrainer: one ignite engine that co-trains the foundation model and the U-Net (docs/method.md 3.9)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys as Keys
from torch.optim import Optimizer
from torch.utils.data import DataLoader

import synfoc_components.losses.synfoc_terms as synfoc_terms
from synfoc_components.engines.rank_sync import RankStop, check_same_start, distributed, follow_epochs
from synfoc_components.engines.training_inputs import next_batch, student_inputs, supervised_inputs, targets, to_device
from synfoc_components.handlers.ema import EMATeacher
from synfoc_components.losses import CEDiceLoss, TeacherPseudoLabels, consistency_ramp, teacher_pseudo_labels
from synfoc_components.losses.synfoc_terms import LOSS_TERMS
from synfoc_components.networks.wrappers import compiled, unwrap
from synfoc_components.transforms.box_mix import BoxMaskSampler

__all__ = ["SynFoCTrainer", "LOSS_TERMS"]


class SynFoCTrainer(SupervisedTrainer):
    """Trains the student SAM adapter (``network``, the deploy network) and the student U-Net together.

    Each iteration takes a labeled batch from ``train_data_loader`` and an unlabeled batch from
    ``unlabeled_data_loader`` (cycled independently of the epoch), builds ensemble pseudo-labels from both EMA teachers
    weighted per image by self-mutual confidence, mixes labeled boxes into the strongly augmented unlabeled images,
    and minimises L = L_sup + lambda(t) (L_unsup + L_consensus + L_divergence) with one backward pass and both
    optimizers. The teachers follow their students through :class:`EMATeacher` handlers attached here.

    Batches hold ``image`` (B x C x H x W in [0, 1]) and, when labeled, ``label`` (B x 1 x H x W class ids) at one base
    size; unlabeled batches also hold ``image_strong``. On the device (:mod:`.training_inputs`) images are resized to
    the SAM input size and to ``unet_size`` by ``network_input`` (antialiased bilinear, as at evaluation and
    inference), labels and boxes nearest-exact to the U-Net and SAM logit sizes.
    The only host transfer per iteration is one vector of logged scalars.

    With ``compile`` (as MONAI's ``SupervisedTrainer`` does with its one network), ``self.network``, ``self.unet``,
    ``self.sam_teacher`` and ``self.unet_teacher`` are compiled wrappers sharing the parameters of the modules passed
    in (which the EMA teachers follow): save and load those modules (or ``synfoc_components.networks.unwrap`` of the
    wrappers), whose state dict keys stay plain.

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
            (training shapes are fixed: one static graph per batch shape, not one with a dynamic batch size).
        channels_last: both U-Nets (unless already converted, as the bundle does before a DDP wrapper is built) and
            their inputs in ``torch.channels_last`` memory format (for GPUs; the same numbers up to rounding).
        non_blocking: copy batches to the device asynchronously (with pinned memory the copy overlaps host work).
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
        scaled = amp and self.amp_dtype == torch.float16
        self.grad_scaler = torch.amp.GradScaler(torch.device(device).type, enabled=scaled)
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
        follow_epochs(self, unlabeled_data_loader)  # Workflow does this for the labeled loader only
        self._rank_stop = RankStop().attach(self)

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
        check_same_start(self.state.iteration)
        if self.state.epoch_length and self.state.iteration >= self.state.max_epochs * self.state.epoch_length:
            self.logger.info(
                "training already complete at iteration %d (max %d): nothing to do; raise max_iterations to go on, "
                "or delete models/train_state.pt to start afresh",
                self.state.iteration,
                self.state.max_epochs * self.state.epoch_length,
            )
            return
        self._rank_stop.requested = False
        super().run()

    def terminate(self, skip_completed: bool = False) -> None:
        """Stop after the current iteration; under torch.distributed on every rank together (:class:`RankStop`)."""
        if distributed():
            self._rank_stop.request(skip_completed)
        else:
            super().terminate(skip_completed)

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
            return teacher_pseudo_labels(u_weak, sam_teacher, unet_teacher, unet, self.structures, self.sam_size,
                                         self.unet_size, self.threshold, self.channels_last)  # fmt: skip

    def _iteration(self, engine: SynFoCTrainer, batchdata: dict[str, torch.Tensor]) -> dict[str, float]:
        """One SynFoC iteration (supervised only without an unlabeled loader); returns every term as a float."""
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        x, y = to_device(batchdata, (Keys.IMAGE, Keys.LABEL), engine.state.device, engine.non_blocking)
        y = y.long()
        for net in (engine.network, engine.unet, engine.sam_teacher, engine.unet_teacher):
            net.train()  # teachers too, as upstream: the U-Net teacher normalises with batch statistics
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        engine.unet_optimizer.zero_grad(set_to_none=engine.optim_set_to_none)

        if engine.unlabeled_data_loader is None:
            terms, stats, weight = engine._supervised_terms(x, y), {}, 0.0
            loss = synfoc_terms.supervised_loss(terms)
        else:  # the unlabeled loader cycles independently of the labeled epochs
            unlabeled, engine._unlabeled_iter = next_batch(engine.unlabeled_data_loader, engine._unlabeled_iter)
            terms, stats = engine._semi_supervised_terms(x, y, unlabeled)
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
        synfoc_terms.check_finite(output, engine.state.iteration)
        engine.state.output = output
        return output

    def _supervised_terms(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """CE + Dice of both students on the labeled batch (SAM at its logit size, U-Net at R)."""
        x_sam, x_unet = supervised_inputs(x, self.sam_size, self.unet_size, self.channels_last)
        with self._autocast():
            sam_x, unet_x = self.network(x_sam), self.unet(x_unet)
        self.fire_event(IterationEvents.FORWARD_COMPLETED)
        return {
            "sup_sam": self.loss_function(sam_x, targets(y, sam_x.shape[-2:])),
            "sup_unet": self.loss_function(unet_x, targets(y, self.unet_size)),
        }

    def _semi_supervised_terms(
        self, x: torch.Tensor, y: torch.Tensor, unlabeled: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Every SynFoC loss term, and the confident-pixel ratio and mean alpha of the unlabeled batch."""
        u_weak, u_strong = to_device(unlabeled, (Keys.IMAGE, "image_strong"), self.state.device, self.non_blocking)
        teachers = self.teacher_pseudo_labels(u_weak)
        pseudo, alpha = teachers.pseudo, teachers.alpha

        # labeled boxes pasted into the strong views; inside a box the target is the label and fully trusted
        inputs = student_inputs(x, y, u_strong, self.box_sampler, self.sam_size, self.unet_size,
                                pseudo.labels_sam.shape[-2:], self.channels_last)  # fmt: skip
        with self._autocast():
            sam_x, sam_mix = self.network(inputs.sam).split(x.shape[0])
            unet_x, unet_mix = self.unet(inputs.unet_x), self.unet(inputs.unet_mix)
        self.fire_event(IterationEvents.FORWARD_COMPLETED)

        terms = self.student_losses(
            sam_x, sam_mix, unet_x, unet_mix, inputs.y_small, inputs.y_unet, pseudo, inputs.box, inputs.box_small
        )
        return terms, {"confidence": pseudo.masks_unet.mean(), "alpha": alpha.mean()}

    def total_loss(self, terms: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, float]:
        """L = L_sup + lambda(step) (L_unsup + L_consensus + L_divergence); returns (L, lambda(step))."""
        weight = self.consistency * consistency_ramp(step, self.max_iterations)
        return synfoc_terms.combined_loss(terms, weight), weight

    def student_losses(self, *args: Any) -> dict[str, torch.Tensor]:
        """:func:`synfoc_components.losses.synfoc_terms.student_losses` with the trainer's ``loss_function``."""
        return synfoc_terms.student_losses(self.loss_function, *args)
