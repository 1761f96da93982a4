"""SynFoC's losses: supervised / confidence-masked CE and Dice, self-mutual confidence, pseudo-labels, CDCR."""

from __future__ import annotations

from .confidence import self_mutual_confidence, smoothed_dice, structure_dice
from .consistency import consensus_divergence_loss
from .pseudo_label import PseudoLabels, TeacherPseudoLabels, ensemble_pseudo_labels, teacher_pseudo_labels
from .ramp import consistency_ramp
from .segmentation import CEDiceLoss, masked_ce_loss, masked_dice_loss
