"""Times the package's SynFoC iteration, the model passes it contains and the upstream-style reference, interleaved."""

from __future__ import annotations

import contextlib
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

    Args:
        setting: sizes.
        device: where to run.
        channels_last: U-Nets in channels-last memory format.
        compile_networks: ``torch.compile`` the four networks (``nn.Module.compile``, in place).
        pin_memory: pin the host batches (the bundle's loaders do not).
        cudnn_benchmark: let cuDNN autotune (the bundle's ``set_determinism`` turns it off).
        non_blocking: the trainer's ``non_blocking`` (a SupervisedTrainer argument the bundle leaves False).
    """

    def __init__(
        self,
        setting: Setting,
        device: torch.device,
        channels_last: bool = False,
        compile_networks: bool = False,
        pin_memory: bool = False,
        cudnn_benchmark: bool = False,
        non_blocking: bool = False,
    ) -> None:
        self.setting, self.device, self.non_blocking = setting, device, non_blocking
        self.models = build_models(setting, device, channels_last=channels_last)
        if cudnn_benchmark:  # after build_models: set_determinism turned autotuning off, as the bundle does
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
        if compile_networks:
            for net in (self.models.sam, self.models.unet, self.models.sam_teacher, self.models.unet_teacher):
                net.compile()
        self.labeled, self.unlabeled = make_batches(setting, pin=pin_memory and device.type == "cuda")

    def pass_breakdown(self, repeats: int) -> dict[str, float]:
        """Median seconds of each model pass (device synchronised around each), after one untimed call."""
        passes = ModelPasses(self.models, self.setting, self.labeled, self.unlabeled, self.device)
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
        trainer = build_trainer(self.models, self.setting, self.labeled, self.unlabeled, iterations, self.device)
        trainer.non_blocking = self.non_blocking
        return trainer

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
        passes = ModelPasses(
            self.models, setting, self.labeled, self.unlabeled, device, set_to_none=trainer.optim_set_to_none
        )
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
