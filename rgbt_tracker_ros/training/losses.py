"""The weighted training losses of the objectives: L_original, DiMP's loss (Bhat et al., ICCV 2019; pytracking
``actors.DiMPActor``), the last term of CMD's total loss (Eq. 14); and OSTrack's loss for AINet
(:class:`OSTrackLoss`).

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

from rgbt_tracker_ros.networks.ainet import AINetOutput
from rgbt_tracker_ros.networks.losses import LBHinge, center_focal_loss, giou_loss, iou_loss
from rgbt_tracker_ros.networks.models import ModelOutput
from rgbt_tracker_ros.training.settings import DIMP_LOSS_WEIGHTS, OSTRACK_LOSS_WEIGHTS


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
        """``batch`` needs ``test_label (num_test, B, h, w)`` and ``proposal_iou (num_test, B, P)``; an optional
        ``box_weight (1, B)`` scales each sample's IoU-Net term
        (:class:`~rgbt_tracker_ros.data.mixture.SourceMixture`)."""
        label = batch["test_label"]
        clf_losses = [self.hinge(scores.float(), label) for scores in output.target_scores]
        box_weight = batch.get("box_weight")
        weighted = {
            "iou": self.weights.get("iou", 0.0) * iou_loss(output.iou_pred.float(), 2.0 * batch["proposal_iou"] - 1.0,
                                                          None if box_weight is None else box_weight.float()),
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


class OSTrackLoss:
    """OSTrack's loss (``lib/train/actors/ostrack.py``), AINet's objective:
    ``w_giou (1 - GIoU) + w_l1 |b - b*|_1 + w_focal focal(score, Gaussian)`` (OSTrack: 2, 5, 1).

    The box ``b`` is the one read at the predicted score map's peak (OSTrack trains size and offset there), as
    ``[x1, y1, x2, y2]`` fractions of the search crop against the target ``b*`` clamped to the crop; the L1 term
    is the mean over the four coordinates. Box terms average over the visible targets only (ours: OSTrack has
    no hidden targets; a hidden target's label is all zero, so the focal term teaches "nowhere" there); an optional
    ``box_weight (1, B)`` (:class:`~rgbt_tracker_ros.data.mixture.SourceMixture`) scales each sample's. Terms in
    ``LossTerms.terms``: the weighted ``giou``, ``l1``, ``focal``, the mean ``iou`` of the boxes and ``loss``.
    """

    def __init__(self, weights: Mapping[str, float] = OSTRACK_LOSS_WEIGHTS):
        self.weights = dict(weights)

    def __call__(self, output: AINetOutput, batch: Mapping[str, torch.Tensor]) -> LossTerms:
        """``batch`` needs ``search_box (1, B, 4)`` ``[x, y, w, h]`` fractions, ``search_label (1, B, G, G)`` and
        ``search_visible (1, B)``."""
        target = batch["search_box"][0].float()
        visible = batch["search_visible"][0].float()
        predicted = output.boxes.float()
        predicted_xyxy = torch.cat((predicted[:, :2] - predicted[:, 2:] / 2, predicted[:, :2] + predicted[:, 2:] / 2), 1)
        target_xyxy = torch.cat((target[:, :2], target[:, :2] + target[:, 2:]), dim=1).clamp(0.0, 1.0)
        giou, iou = giou_loss(predicted_xyxy, target_xyxy)
        l1 = (predicted_xyxy - target_xyxy).abs().mean(dim=1)
        count = visible.sum().clamp(min=1.0)
        box_weight = visible if "box_weight" not in batch else visible * batch["box_weight"][0].float()
        weighted = {
            "giou": self.weights.get("giou", 0.0) * (giou * box_weight).sum() / count,
            "l1": self.weights.get("l1", 0.0) * (l1 * box_weight).sum() / count,
            "focal": self.weights.get("focal", 0.0) * center_focal_loss(output.head.score[:, 0].float(),
                                                                        batch["search_label"][0].float()),
        }
        total = sum(weighted.values())
        terms = {name: float(value.detach()) for name, value in weighted.items()}
        terms["iou"] = float(((iou * visible).sum() / count).detach())
        terms["loss"] = float(total.detach())
        return LossTerms(total=total, terms=terms)
