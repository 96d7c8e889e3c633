"""SCFD: specific-common feature distillation (CMD, seed 000, Sec. 3.3, Fig. 5, Eq. 1-3).

Teacher targets from its two unimodal streams (our level mapping, see below):

* SEM on levels 1-3 (Eq. 1): ``fe_rgb = f_rgb * f_tir + (f_rgb - f_tir)``,
  ``fe_tir = f_rgb * f_tir + (f_tir - f_rgb)`` (modality-specific information);
* CEM on level 4 (Eq. 2): ``fc = f_rgb * f_tir + (f_rgb + f_tir)`` (modality-common information).

The student's unimodal features of each modality pass through a chain of ABF modules
(:mod:`.abf`, ReviewKD) to the teacher's channels and sizes, giving ``fu^1..fu^4``, and
``L_SCFD = L_spe + L_com`` (Eq. 3) with ``L_spe = sum_{i=1..3} l(fe_rgb^i, fu_rgb^i) + l(fe_tir^i, fu_tir^i)``,
``L_com = l(fc^4, fu_rgb^4) + l(fc^4, fu_tir^4)``, ``l`` = MSE.

Decisions where the paper is silent (also in docs/training.md):

* **Levels**: the paper counts ResNet blocks from 1 with conv1 as block 1 (its "block3/block4" are
  the levels DiMP fuses), so levels 1-4 are :data:`~rgbt_tracker_ros.networks.backbones.LEVELS`
  ``stem`` (conv1 + BN + ReLU, stride 2), ``layer1`` (4), ``layer2`` (8), ``layer3`` (16).
* **No normalisation before the MSE**: ``l`` is "the standard MSE loss used in FitNets", on the raw
  features, mean over all elements; the ABF's last BatchNorm gives the student side a learnt
  scale and shift, so it can meet the targets' scale, and alpha (Eq. 14) weighs the result.
* **Two ABF chains**, one per modality: Fig. 5 shows the RGB branch and says the TIR branch
  "employs the same architecture", i.e. a second instance; each maps the shared student
  backbone's features of its modality to that modality's target.
* Frames: the train and the test frames of a sample together (every frame the student's
  backbone sees).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_tracker_ros.distill.abf import ABFChain
from rgbt_tracker_ros.networks.backbones import LEVELS

#: The paper's levels 1-3 (SEM targets) and level 4 (CEM target).
SEM_LEVELS = LEVELS[:3]
CEM_LEVEL = LEVELS[3]
MODALITIES = ("rgb", "tir")


def sem(f_rgb: torch.Tensor, f_tir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1, specific enhanced module: ``(fe_rgb, fe_tir)``."""
    common = f_rgb * f_tir
    return common + (f_rgb - f_tir), common + (f_tir - f_rgb)


def cem(f_rgb: torch.Tensor, f_tir: torch.Tensor) -> torch.Tensor:
    """Eq. 2, consistence enhanced module: ``fc = f_rgb * f_tir + (f_rgb + f_tir)``."""
    return f_rgb * f_tir + (f_rgb + f_tir)


def scfd_targets(teacher_rgb: Mapping[str, torch.Tensor],
                 teacher_tir: Mapping[str, torch.Tensor]) -> dict[str, list[torch.Tensor]]:
    """Teacher targets per modality for levels 1-4: ``{"rgb": [fe1, fe2, fe3, fc4], "tir": [...]}``.

    Computed in float32 whatever the autocast dtype: the products square the feature magnitudes,
    which can overflow float16.
    """
    targets: dict[str, list[torch.Tensor]] = {"rgb": [], "tir": []}
    for level in SEM_LEVELS:
        fe_rgb, fe_tir = sem(teacher_rgb[level].float(), teacher_tir[level].float())
        targets["rgb"].append(fe_rgb)
        targets["tir"].append(fe_tir)
    fc = cem(teacher_rgb[CEM_LEVEL].float(), teacher_tir[CEM_LEVEL].float())
    targets["rgb"].append(fc)
    targets["tir"].append(fc)
    return targets


def scfd_loss(student: Mapping[str, Sequence[torch.Tensor]],
              targets: Mapping[str, Sequence[torch.Tensor]]) -> torch.Tensor:
    """Eq. 3: ``L_SCFD = L_spe + L_com``, the sum over both modalities and levels 1-4 of
    ``MSE(target, fu)`` (``student``: the ABF outputs, same layout as :func:`scfd_targets`)."""
    terms = [F.mse_loss(fu.float(), target.float())
             for modality in MODALITIES
             for fu, target in zip(student[modality], targets[modality], strict=True)]
    return torch.stack(terms).sum()


def explained(mse: float, variance: float) -> float | None:
    """1 - mse / variance: the share of a target's variance a prediction accounts for (``None`` if constant)."""
    return 1.0 - mse / variance if variance > 0 else None


def scfd_fit(student: Mapping[str, Sequence[torch.Tensor]],
             targets: Mapping[str, Sequence[torch.Tensor]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """How well the ABF outputs meet SCFD's targets (a diagnostic, ours), per modality and level of
    :data:`LEVELS`: ``mse`` (Eq. 3's l), ``variance`` (the target's mean squared deviation from its per-channel
    mean over the batch: the MSE of the best constant per channel) and ``explained`` = 1 - mse / variance
    (1: exact, 0: no better than that constant, below 0: worse; ``None`` for a constant target)."""
    fit: dict[str, dict[str, dict[str, float | None]]] = {}
    for modality in MODALITIES:
        for level, fu, target in zip(LEVELS, student[modality], targets[modality], strict=True):
            target = target.float()
            mse = float(F.mse_loss(fu.float(), target))
            variance = float(target.var(dim=(0, 2, 3), unbiased=False).mean())
            fit.setdefault(modality, {})[level] = {"mse": mse, "variance": variance,
                                                   "explained": explained(mse, variance)}
    return fit


class SCFDHead(nn.Module):
    """The student side of SCFD: one :class:`~.abf.ABFChain` per modality (student -> teacher channels).

    Args:
        student_channels / teacher_channels: channels per level of :data:`LEVELS`.
        mid_channels: the ABF stages' inner width (``None``: ReviewKD's, :class:`~.abf.ABFChain`).
    """

    def __init__(self, student_channels: Mapping[str, int], teacher_channels: Mapping[str, int],
                 mid_channels: Optional[int] = None):
        super().__init__()
        c_in = [student_channels[level] for level in LEVELS]
        c_out = [teacher_channels[level] for level in LEVELS]
        self.chains = nn.ModuleDict({modality: ABFChain(c_in, c_out, mid_channels) for modality in MODALITIES})

    def forward(self, student: Mapping[str, Mapping[str, torch.Tensor]],
                out_sizes: Sequence[tuple[int, int]]) -> dict[str, list[torch.Tensor]]:
        """``student = {"rgb": {level: (N, C, h, w)}, "tir": {...}}`` -> ``{"rgb": [fu1..fu4], "tir": [...]}``
        at the teacher's channels and ``out_sizes`` (per level of :data:`LEVELS`)."""
        return {modality: self.chains[modality]([student[modality][level] for level in LEVELS], out_sizes)
                for modality in MODALITIES}
