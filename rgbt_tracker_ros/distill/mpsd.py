"""MPSD distillation: the student's multi-path fusion learns from the teacher's fusion (CMD Sec. 3.4, Eq. 7-11).

On both fusion levels ``i`` (the paper's 3 and 4 = ``layer2``, ``layer3``):

* Eq. 7: ``L_fus = sum_i l(ft_fus^i, fs_fus^i)``, teacher against student fused features;
* Eq. 8: ``L_fus,n^i = l(ft_fus^i, fs_fus,n^i)`` for the student's three initial fusions
  ``[sa, mul, diff]`` (Eq. 4); ``lambda^i = argmin_n L_fus,n^i`` is the path closest to the teacher;
* Eq. 9: ``nu^i = argmax_n w_n^i``, the path the student's own weights (Eq. 6) favour;
* Eq. 10: ``L_p = sum_i max(|L_fus,lambda^i w_nu^i - L_fus,lambda^i w_lambda^i|, 0)``, written as in
  the paper (the ``max(., 0)`` of an absolute value changes nothing; gradients flow into both the
  weights and ``L_fus,lambda``, nothing is detached);
* Eq. 11: ``L_MPSD = L_fus + L_p``.

``l`` is the MSE (mean over elements). The path weights are per sample (one triple per frame), so
``lambda``, ``nu`` and the penalty are per frame, and ``L_p`` is the frames' mean.

Decisions where the paper is silent (also in docs/training.md):

* **The teacher's fused feature** ``ft_fus`` is the output of its FRS (the re-selection over
  ``{rgb, tir, mdc}``), not the MDC feature: it is the feature the teacher's heads read, as
  ``fs_fus`` is the student's.
* **Channels**: where the student's fused width differs from the teacher's (student-r18 128/256
  against teacher-r50 512/1024, or AINet's token width), :class:`FusionAdapter` maps the student side
  with one learnt 1x1 convolution per level, the same for the fused feature and the three initial
  fusions. Being affine and the weights summing to 1, ``adapt(sum_n w_n f_n) = sum_n w_n adapt(f_n)``,
  so the paths stay comparable to the fused feature. Equal widths (the tiny configs) need no adapter.
* **Sizes**: a CMD teacher's fused maps have the student's sizes; an AINet teacher's token grid does
  not, and the adapter then resizes the student side to it (:func:`~.abf.resize_map`, linear, so the
  identity above still holds). Which teacher features are ``ft_fus``: :mod:`.teachers`.
* Frames: the train and the test frames of a sample together, as SCFD.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from rgbt_tracker_ros.distill.abf import resize_map
from rgbt_tracker_ros.networks.models import FUSED_LEVELS


@dataclass
class MPSDLoss:
    """Eq. 7-11. ``selected`` / ``predicted``: per level the frames' ``lambda`` / ``nu`` (0-based path indices)."""

    fus: torch.Tensor
    penalty: torch.Tensor
    selected: dict[str, torch.Tensor]
    predicted: dict[str, torch.Tensor]

    @property
    def total(self) -> torch.Tensor:
        """Eq. 11: ``L_MPSD = L_fus + L_p``."""
        return self.fus + self.penalty


def _frame_mse(target: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """``(N,)`` MSE of each frame (mean over C, H, W)."""
    return (prediction.float() - target.float()).pow(2).flatten(1).mean(dim=1)


def mpsd_loss(teacher_fused: Mapping[str, torch.Tensor], student_fused: Mapping[str, torch.Tensor],
              student_initial: Mapping[str, torch.Tensor], path_weights: Mapping[str, torch.Tensor]) -> MPSDLoss:
    """Eq. 7-11 over :data:`FUSED_LEVELS`.

    Args:
        teacher_fused: ``{level: (N, C, H, W)}`` the teacher's fused features.
        student_fused: ``{level: (N, C, H, W)}`` the student's fused features (already at the teacher's width).
        student_initial: ``{level: (N, 3, C, H, W)}`` its initial fusions ``[sa, mul, diff]`` (same width).
        path_weights: ``{level: (N, 3)}`` the student's path weights (Eq. 6).
    """
    fus, penalty = [], []
    selected, predicted = {}, {}
    for level in FUSED_LEVELS:
        target = teacher_fused[level]
        fus.append(_frame_mse(target, student_fused[level]).mean())  # Eq. 7 (equal-size frames)
        initial = student_initial[level]
        path_losses = torch.stack([_frame_mse(target, initial[:, n]) for n in range(initial.shape[1])], dim=1)
        weights = path_weights[level].float()
        lam = path_losses.argmin(dim=1)  # Eq. 8
        nu = weights.argmax(dim=1)  # Eq. 9
        loss_lam = path_losses.gather(1, lam[:, None])[:, 0]
        w_nu = weights.gather(1, nu[:, None])[:, 0]
        w_lam = weights.gather(1, lam[:, None])[:, 0]
        penalty.append(torch.clamp(torch.abs(loss_lam * w_nu - loss_lam * w_lam), min=0).mean())  # Eq. 10
        selected[level], predicted[level] = lam, nu
    return MPSDLoss(fus=torch.stack(fus).sum(), penalty=torch.stack(penalty).sum(), selected=selected,
                    predicted=predicted)


class FusionAdapter(nn.Module):
    """Student fused width -> teacher fused width per level: a 1x1 conv where they differ, else the identity;
    then the teacher's map size (:func:`~.abf.resize_map`)."""

    def __init__(self, student_channels: Mapping[str, int], teacher_channels: Mapping[str, int]):
        super().__init__()
        self.convs = nn.ModuleDict({level: nn.Conv2d(student_channels[level], teacher_channels[level], 1)
                                    for level in FUSED_LEVELS if student_channels[level] != teacher_channels[level]})

    def forward(self, level: str, features: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """``(N, C_s, H, W)`` or ``(N, P, C_s, H, W)`` -> the same at the teacher's width and map ``size``."""
        if features.dim() == 5:
            n, p = features.shape[:2]
            out = self.forward(level, features.flatten(0, 1), size)
            return out.reshape(n, p, *out.shape[1:])
        features = resize_map(features, size)  # first: cheaper, and a 1x1 conv commutes with both resizings
        return self.convs[level](features) if level in self.convs else features
