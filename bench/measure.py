"""Times the package's SynFoC iteration, the model passes it contains and the upstream-style reference, interleaved."""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from ignite.engine import Events

from synfoc_components.engines.trainer import SynFoCTrainer

from .common import Samples, synchronize, timed
from .passes import ModelPasses
from .upstream_step import UpstreamIteration, UpstreamOptions
from .workload import Setting, build_models, build_trainer, make_batches

__all__ = ["ABLATIONS", "StepBench", "StepResult", "measure_step"]

#: Reference variants for ``--ablate``: the full upstream style, and each habit alone on top of the package.
ABLATIONS = {
    "host_dice_only": UpstreamOptions(True, False, False, False),
    "per_image_decode_only": UpstreamOptions(False, True, False, False),
    "student_graph_only": UpstreamOptions(False, False, True, False),
    "item_logging_only": UpstreamOptions(False, False, False, True),
}


@dataclass
class StepResult:
    """Timings of one setting (seconds; warm-up repeats dropped)."""

    setting: Setting
    iteration: Samples = field(default_factory=Samples)
    passes: Samples = field(default_factory=Samples)
    upstream: Samples = field(default_factory=Samples)
    ablations: dict[str, Samples] = field(default_factory=dict)

    @staticmethod
    def _paired(num: Samples, den: Samples) -> float:
        """Median of the per-repeat ratios: pairs timed back to back, so load drift cancels."""
        ratios = [a / b for a, b in zip(num.values, den.values) if b > 0]
        return statistics.median(ratios) if ratios else float("nan")

    @property
    def overhead_ratio(self) -> float:
        """Iteration time / time of its model passes."""
        return self._paired(self.iteration, self.passes)

    @property
    def outside_share(self) -> float:
        """Share of the iteration spent outside the networks."""
        return 1.0 - 1.0 / self.overhead_ratio

    @property
    def reference_ratio(self) -> float:
        """Upstream-style iteration time / the package's."""
        return self._paired(self.upstream, self.iteration) if self.upstream.values else float("nan")

    def to_dict(self) -> dict[str, Any]:
        out = {
            "setting": self.setting.to_dict(),
            "name": self.setting.name,
            "overhead_ratio": self.overhead_ratio,
            "outside_network_share": self.outside_share,
            "reference_ratio": self.reference_ratio,
            "iteration": self.iteration.to_dict(),
            "passes": self.passes.to_dict(),
            "upstream": self.upstream.to_dict(),
            "images_per_s": 2 * self.setting.batch / self.iteration.median,
        }
        if self.ablations:
            out["ablations"] = {
                k: {**v.to_dict(), "ratio_to_ours": self._paired(v, self.iteration)} for k, v in self.ablations.items()
            }
        return out


class StepBench:
    """Networks and batches of one setting, built once; :meth:`trainer` and :meth:`measure` use them.

    The trainer options are the bundle's keys of the same names (``train.json``), applied by the trainer itself; the
    model passes (the overhead ratio's denominator) and the upstream-style reference run through the trainer's
    networks, so they are compiled and fed channels-last inputs alike.

    Args:
        setting: sizes.
        device: where to run.
        channels_last: the trainer's ``channels_last`` (U-Nets and their inputs channels-last; the bundle's default
            on CUDA).
        compile: the trainer's ``compile`` (``torch.compile`` of the four networks' forward; the bundle's default is
            False). Dynamo's caches are reset first, so the first iterations include this setting's compilation.
        compile_kwargs: the trainer's ``compile_kwargs``.
        pin_memory: pin the host batches (the bundle's loaders do, with ``pin_memory``, on CUDA).
        cudnn_benchmark: let cuDNN autotune (the bundle's ``set_determinism`` turns it off).
        non_blocking: the trainer's ``non_blocking`` (its default True).
    """

    def __init__(
        self,
        setting: Setting,
        device: torch.device,
        channels_last: bool = False,
        compile: bool = False,
        compile_kwargs: dict | None = None,
        pin_memory: bool = False,
        cudnn_benchmark: bool = False,
        non_blocking: bool = True,
    ) -> None:
        self.setting, self.device = setting, device
        self.options = {"channels_last": channels_last, "compile": compile, "compile_kwargs": compile_kwargs,
                        "non_blocking": non_blocking}  # fmt: skip
        self.models = build_models(setting, device)
        if cudnn_benchmark:  # after build_models: set_determinism turned autotuning off, as the bundle does
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
        if compile:
            torch.compiler.reset()  # no graphs (nor automatic dynamic shapes) carried over from another setting
        self.labeled, self.unlabeled = make_batches(setting, pin=pin_memory and device.type == "cuda")

    def passes(self, trainer: SynFoCTrainer) -> ModelPasses:
        """The model passes of ``trainer``'s iteration, through its (possibly compiled) networks."""
        models = dataclasses.replace(
            self.models, sam=trainer.network, unet=trainer.unet, sam_teacher=trainer.sam_teacher,
            unet_teacher=trainer.unet_teacher,
        )  # fmt: skip
        return ModelPasses(
            models, self.setting, self.labeled, self.unlabeled, self.device, set_to_none=trainer.optim_set_to_none,
            channels_last=trainer.channels_last,
        )  # fmt: skip

    def pass_breakdown(self, repeats: int) -> dict[str, float]:
        """Median seconds of each model pass (device synchronised around each), after one untimed call."""
        passes = self.passes(self.trainer(1))
        passes()
        times: dict[str, list[float]] = {}

        @contextlib.contextmanager
        def section(name: str) -> Iterator[None]:
            synchronize(self.device)
            start = time.perf_counter()
            yield
            synchronize(self.device)
            times.setdefault(name, []).append(time.perf_counter() - start)

        passes.section = section
        for _ in range(repeats):
            passes()
        return {k: statistics.median(v) for k, v in times.items()}

    def trainer(self, iterations: int) -> SynFoCTrainer:
        """A fresh package trainer on these networks for ``iterations`` iterations."""
        return build_trainer(
            self.models, self.setting, self.labeled, self.unlabeled, iterations, self.device, **self.options
        )

    def measure(
        self,
        repeats: int,
        warmup: int,
        upstream: bool = True,
        ablate: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> StepResult:
        """Run the package trainer for ``warmup + repeats`` iterations; after each, time the passes and references.

        The trainer runs through ignite as in training (events, EMA handlers); an iteration is timed from
        ``ITERATION_STARTED`` to the end of ``ITERATION_COMPLETED`` (after the EMA updates), the device synchronised at
        both ends. Batches are fixed host tensors, so no data loading is included (bench/data.py measures that).

        Args:
            repeats: timed repeats.
            warmup: untimed repeats first.
            upstream: also time the upstream-style iteration.
            ablate: also time each upstream habit alone.
            progress: called with a short line after every repeat.
        """
        setting, device, total = self.setting, self.device, warmup + repeats
        trainer = self.trainer(total)
        passes = self.passes(trainer)
        references = {}
        if upstream:
            references["upstream"] = UpstreamIteration(trainer, self.labeled, self.unlabeled)
        if ablate:
            for name, options in ABLATIONS.items():
                references[name] = UpstreamIteration(trainer, self.labeled, self.unlabeled, options)
        result = StepResult(setting)
        result.ablations = {k: Samples() for k in references if k != "upstream"}
        clock: dict[str, float] = {}

        def started(engine: SynFoCTrainer) -> None:
            synchronize(device)
            clock["start"] = time.perf_counter()

        def completed(engine: SynFoCTrainer) -> None:  # registered after the EMA handlers: the iteration is done
            synchronize(device)
            elapsed = time.perf_counter() - clock["start"]
            timed_repeat = engine.state.iteration > warmup
            extra = {"passes": timed(passes, device)}
            for name, reference in references.items():
                extra[name] = timed(reference, device)
            if timed_repeat:
                result.iteration.values.append(elapsed)
                result.passes.values.append(extra["passes"])
                if "upstream" in extra:
                    result.upstream.values.append(extra["upstream"])
                for name in result.ablations:
                    result.ablations[name].values.append(extra[name])
            if progress:
                tag = "timed" if timed_repeat else "warm-up"
                line = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in [("iteration", elapsed), *extra.items()])
                progress(f"  {setting.backbone} {tag} {engine.state.iteration}/{total}: {line}")

        trainer.add_event_handler(Events.ITERATION_STARTED, started)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, completed)
        trainer.run()
        return result


def measure_step(
    setting: Setting,
    device: torch.device,
    repeats: int,
    warmup: int,
    upstream: bool = True,
    ablate: bool = False,
    progress: Callable[[str], None] | None = None,
) -> StepResult:
    """Build a :class:`StepBench` for ``setting`` and :meth:`StepBench.measure` it."""
    return StepBench(setting, device).measure(repeats, warmup, upstream, ablate, progress)
