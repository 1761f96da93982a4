"""SynFoCTrainer with tiny models on synthetic tensors: finite terms, students learn, frozen stays frozen, EMA, syncs."""

from __future__ import annotations

import copy
import sys

import pytest
import torch
from ignite.engine import Events
from torch.utils.data import DataLoader

from synfoc_components.engines.trainer import LOSS_TERMS, SynFoCTrainer
from synfoc_components.losses import CEDiceLoss
from synfoc_components.networks import SamAdapter, UNet, unwrap
from synfoc_components.transforms.box_mix import BoxMaskSampler

SIZE, NUM_CLASSES = 64, 2


def _blobs(n: int, seed: int, labeled: bool) -> list[dict]:
    """Bright squares on noise; labels mark the squares."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        top, left = torch.randint(8, 32, (2,), generator=g).tolist()
        label = torch.zeros(1, SIZE, SIZE, dtype=torch.long)
        label[:, top : top + 20, left : left + 20] = 1
        image = (0.2 * torch.rand(1, SIZE, SIZE, generator=g) + 0.6 * label).float()
        item = {"image": image, "label": label} if labeled else {"image": image, "image_strong": 0.8 * image}
        items.append(item)
    return items


def make_trainer(batch: int, iterations: int = 5, **options) -> SynFoCTrainer:
    """A trainer of tiny networks on blobs; ``options``: further SynFoCTrainer arguments."""
    torch.manual_seed(0)
    sam = SamAdapter("tiny", num_classes=NUM_CLASSES, img_size=SIZE)
    unet = UNet(1, NUM_CLASSES, base_channels=4)
    labeled = DataLoader(_blobs(2 * batch, 1, True), batch_size=batch, shuffle=True, drop_last=True)
    unlabeled = DataLoader(_blobs(3 * batch, 2, False), batch_size=batch, shuffle=True, drop_last=True)
    return SynFoCTrainer(
        device="cpu",
        max_epochs=1,
        epoch_length=iterations,
        train_data_loader=labeled,
        unlabeled_data_loader=unlabeled,
        network=sam,
        optimizer=torch.optim.AdamW(sam.trainable_parameters(), lr=1e-3, weight_decay=0.1),
        unet=unet,
        unet_optimizer=torch.optim.SGD(unet.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4),
        sam_teacher=copy.deepcopy(sam),
        unet_teacher=copy.deepcopy(unet),
        structures=[(1,)],
        num_classes=NUM_CLASSES,
        unet_size=32,
        max_iterations=iterations,
        **options,
    )


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


@pytest.mark.parametrize("batch", [2, 4])
def test_five_iterations(batch):
    trainer = make_trainer(batch)
    sam0, unet0 = _snapshot(trainer.network), _snapshot(trainer.unet)
    outputs, records = [], []

    @trainer.on(Events.ITERATION_COMPLETED)  # registered after the EMA handlers, so it sees updated teachers
    def record(engine):
        outputs.append(dict(engine.state.output))
        records.append((_snapshot(engine.network), _snapshot(engine.sam_teacher), _snapshot(engine.unet), _snapshot(engine.unet_teacher)))

    trainer.run()
    assert len(outputs) == 5
    for out in outputs:
        assert set(out) >= {"loss", *LOSS_TERMS, "confidence", "alpha", "weight"}
        assert all(isinstance(v, float) and v == v and abs(v) != float("inf") for v in out.values())

    sam1, unet1 = _snapshot(trainer.network), _snapshot(trainer.unet)
    trainable = {n for n, p in trainer.network.named_parameters() if p.requires_grad}
    assert any(not torch.equal(sam0[n], sam1[n]) for n in trainable), "SAM student did not change"
    assert any(not torch.equal(unet0[n], unet1[n]) for n in unet1), "U-Net student did not change"
    frozen = [n for n in sam0 if n not in trainable]
    assert frozen and all(torch.equal(sam0[n], sam1[n]) for n in frozen), "frozen encoder weights changed"

    # EMA rule: teacher_t = r teacher_{t-1} + (1 - r) student_t with r = min(1 - 1/(t+1), 0.99); t = 0 copies.
    for step, (sam_s, sam_t, unet_s, unet_t) in enumerate(records):
        for student, teacher, names in ((sam_s, sam_t, trainable), (unet_s, unet_t, unet_s.keys())):
            for n in names:
                if step == 0:
                    assert torch.equal(teacher[n], student[n])
                else:
                    rate = min(1 - 1 / (step + 1), 0.99)
                    previous = records[step - 1][1 if student is sam_s else 3][n]
                    torch.testing.assert_close(teacher[n], rate * previous + (1 - rate) * student[n])


def test_unequal_batches_are_refused():
    trainer = make_trainer(2, iterations=1)
    trainer.unlabeled_data_loader = DataLoader(_blobs(3, 2, False), batch_size=3)
    with pytest.raises(ValueError, match="pair up"):
        trainer.run()


def test_non_finite_loss_names_iteration_and_term():
    trainer = make_trainer(2, iterations=2)
    with torch.no_grad():
        next(trainer.unet.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"iteration 1: loss term '\w+' is nan"):
        trainer.run()


def test_iteration_moves_one_vector_to_the_host(monkeypatch):
    """Count host transfers requested by the project's own code during an iteration: exactly one ``tolist``."""
    calls = []
    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "nonzero"):
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, _name=name, **kwargs):
            if "synfoc_components" in sys._getframe(1).f_code.co_filename:
                calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    trainer = make_trainer(2, iterations=3)
    trainer.run()
    assert calls == ["tolist"] * 3


def test_supervised_only_baseline_trains_on_labeled_data_alone():
    trainer = make_trainer(2, iterations=2)
    trainer.unlabeled_data_loader = None
    unet0 = _snapshot(trainer.unet)
    trainer.run()
    assert set(trainer.state.output) == {"loss", "sup_sam", "sup_unet", "weight"}
    assert trainer.state.output["weight"] == 0.0
    assert any(not torch.equal(unet0[n], p) for n, p in trainer.unet.named_parameters())


def test_loss_function_gives_every_student_term():
    """``loss_function`` (as MONAI trainers take it) replaces the CE + Dice of the four student terms: plain for the
    supervised ones, with the confidence mask for the unsupervised ones; None keeps the CE + Dice."""
    ce_dice, masked = CEDiceLoss(NUM_CLASSES), []

    def doubled(logits, target, mask=None):
        masked.append(mask is not None)
        return 2 * ce_dice(logits, target, mask)

    default = make_trainer(2, iterations=1, box_sampler=BoxMaskSampler(seed=0))
    default.run()
    custom = make_trainer(2, iterations=1, box_sampler=BoxMaskSampler(seed=0), loss_function=doubled)
    custom.run()
    assert masked == [False, False, True, True]
    for term in ("sup_sam", "sup_unet", "unsup_sam", "unsup_unet"):
        assert custom.state.output[term] == pytest.approx(2 * default.state.output[term], rel=1e-6), term


def test_state_dict_round_trip_restores_iteration_scaler_and_boxes():
    trainer = make_trainer(2, iterations=2)
    trainer.run()
    state = trainer.state_dict()
    boxes = trainer.box_sampler.boxes(2, 32)
    other = make_trainer(2, iterations=2)
    other.load_state_dict(state)
    assert other.state.iteration == 2 and other.box_sampler.boxes(2, 32) == boxes


def _losses_and_states(iterations: int = 2, **options) -> tuple[list[dict], dict[str, dict]]:
    """Every iteration's outputs and the final plain state dicts of a seeded run with ``options``."""
    trainer = make_trainer(2, iterations=iterations, box_sampler=BoxMaskSampler(seed=7), **options)
    nets = {"sam": trainer.network, "unet": trainer.unet, "sam_teacher": trainer.sam_teacher,
            "unet_teacher": trainer.unet_teacher}  # fmt: skip
    outputs: list[dict] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: outputs.append(dict(e.state.output)))
    torch.manual_seed(1)  # the loaders' shuffling
    trainer.run()
    return outputs, {k: unwrap(v).state_dict() for k, v in nets.items()}


def _assert_same_run(got: tuple[list[dict], dict], expected: tuple[list[dict], dict], tol: float) -> None:
    (outputs, states), (expected_outputs, expected_states) = got, expected
    assert len(outputs) == len(expected_outputs)
    for out, ref in zip(outputs, expected_outputs):
        assert set(out) == set(ref)
        for name in ref:
            assert out[name] == pytest.approx(ref[name], abs=tol, rel=tol), name
    for net, state in states.items():
        assert list(state) == list(expected_states[net]), f"{net}: state dict keys changed"
        for key, value in state.items():
            torch.testing.assert_close(value, expected_states[net][key], atol=tol, rtol=tol, msg=f"{net}.{key}")


def test_channels_last_gives_the_same_losses_on_cpu():
    reference = _losses_and_states()
    trainer = make_trainer(2, iterations=1, channels_last=True)
    for net in (trainer.unet, trainer.unet_teacher):
        weights = [p for p in net.parameters() if p.dim() == 4]
        assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    channels_last = _losses_and_states(channels_last=True)
    _assert_same_run(channels_last, reference, 1e-5)  # EMA teachers included
    assert all(v.is_contiguous(memory_format=torch.channels_last) for k, v in channels_last[1]["unet_teacher"].items()
               if v.dim() == 4)  # fmt: skip


def test_compiled_networks_train_the_same_with_plain_state_dicts():
    """torch.compile of the four networks (AOTAutograd with the eager backend: no C compiler needed, the same
    graph capture and backward as inductor); the plain modules keep their keys, the teachers follow."""
    reference = _losses_and_states()
    trainer = make_trainer(2, iterations=1, compile=True, compile_kwargs={"backend": "aot_eager"})
    assert all(unwrap(net) is not net for net in (trainer.network, trainer.unet, trainer.sam_teacher,
                                                  trainer.unet_teacher))  # fmt: skip
    compiled_run = _losses_and_states(compile=True, compile_kwargs={"backend": "aot_eager"})
    _assert_same_run(compiled_run, reference, 1e-5)
    assert not any(k.startswith("_orig_mod") for state in compiled_run[1].values() for k in state)
