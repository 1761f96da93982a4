"""Engines and inferers of the SynFoC bundles."""

from __future__ import annotations

from .evaluator import DomainEvaluator
from .inferer import ResizeInferer
from .trainer import LOSS_TERMS, SynFoCTrainer
