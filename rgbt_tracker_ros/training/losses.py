"""L_original: DiMP's training loss (Bhat et al., ICCV 2019; pytracking ``actors.DiMPActor``), the last
term of CMD's total loss (Eq. 14).

``L = w_iou * MSE(iou_pred, 2 * IoU - 1)
    + w_test_clf * hinge(s_last) + w_test_init_clf * hinge(s_0)
    + w_test_iter_clf / (K - 1) * sum_{k=1..K-1} hinge(s_k)``

over the score maps ``s_0 .. s_K`` of the initial filter and the K steepest-descent iterates on
the test frames (``hinge`` = :class:`~rgbt_tracker_ros.networks.losses.LBHinge` against the
Gaussian labels) and the IoU-Net predictions of the test proposals, whose targets are the
proposals' IoU mapped to ``[-1, 1]`` as DiMP does. The losses themselves live in
``networks/losses.py``; this module only weights and sums them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from rgbt_tracker_ros.networks.losses import LBHinge, iou_loss
from rgbt_tracker_ros.networks.models import ModelOutput
from rgbt_tracker_ros.training.settings import DIMP_LOSS_WEIGHTS


@dataclass
class LossTerms:
    """The total loss (for ``backward``) and every term as a float, for logs.

    ``terms`` holds the weighted terms (``iou``, ``test_clf``, ``test_init_clf``,
    ``test_iter_clf``) and the unweighted classification losses ``clf_init`` (initial filter)
    and ``clf_final`` (last iterate), the numbers to compare between runs.
    """

    total: torch.Tensor
    terms: dict[str, float]


class DiMPLoss:
    """L_original with DiMP's weights (``weights`` may leave terms out; missing terms are 0)."""

    def __init__(self, weights: Mapping[str, float] = DIMP_LOSS_WEIGHTS, hinge_threshold: float = 0.05):
        self.weights = dict(weights)
        self.hinge = LBHinge(threshold=hinge_threshold)

    def __call__(self, output: ModelOutput, batch: Mapping[str, torch.Tensor]) -> LossTerms:
        """``batch`` needs ``test_label (num_test, B, h, w)`` and ``proposal_iou (num_test, B, P)``."""
        label = batch["test_label"]
        clf_losses = [self.hinge(scores.float(), label) for scores in output.target_scores]
        weighted = {
            "iou": self.weights.get("iou", 0.0) * iou_loss(output.iou_pred.float(), 2.0 * batch["proposal_iou"] - 1.0),
            "test_clf": self.weights.get("test_clf", 0.0) * clf_losses[-1],
            "test_init_clf": self.weights.get("test_init_clf", 0.0) * clf_losses[0],
        }
        if len(clf_losses) > 2:
            middle = clf_losses[1:-1]
            weighted["test_iter_clf"] = self.weights.get("test_iter_clf", 0.0) / len(middle) * sum(middle)
        total = sum(weighted.values())
        terms = {name: float(value.detach()) for name, value in weighted.items()}
        terms["clf_init"] = float(clf_losses[0].detach())
        terms["clf_final"] = float(clf_losses[-1].detach())
        terms["loss"] = float(total.detach())
        return LossTerms(total=total, terms=terms)
