"""Training losses: DiMP's hinge-like classification loss (LBHinge) and IoU regression loss; OSTrack's
generalised IoU loss and CenterNet focal loss (AINet).

DiMP: after pytracking's ``ltr/models/loss/target_classification.py`` and the DiMP actor
(``objective['iou'] = MSELoss``). OSTrack (``lib/train/actors/ostrack.py``): GIoU (Rezatofighi et al., CVPR
2019) and L1 on the peak box, and CenterNet's focal loss (Zhou et al. 2019, after CornerNet) on the score map.
Loss weights (DiMP: IoU 1, test_clf 100, test_init_clf 100, test_iter_clf 400; OSTrack: GIoU 2, L1 5, focal
1) are applied by the training objectives (``training/losses.py``).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class LBHinge(nn.Module):
    """Hinge-like MSE: where ``label < threshold`` (background) only positive predictions are
    penalised (``relu(pred)``); elsewhere the prediction regresses the label.

    ``loss = MSE(neg * relu(pred) + pos * pred, pos * label)``; DiMP uses ``threshold = 0.05``.
    ``clip`` optionally caps the loss.
    """

    def __init__(self, threshold: float = 0.05, clip: Optional[float] = None):
        super().__init__()
        self.threshold = threshold
        self.clip = clip

    def forward(self, prediction: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        negative = (label < self.threshold).to(prediction.dtype)
        positive = 1.0 - negative
        loss = F.mse_loss(negative * F.relu(prediction) + positive * prediction, positive * label)
        return loss.clamp(max=self.clip) if self.clip is not None else loss


def iou_loss(iou_pred: torch.Tensor, iou_target: torch.Tensor,
             sample_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
    """IoU-Net loss: mean squared error between predicted and true proposal IoUs ``(frames, B, P)`` (DiMP/ATOM).

    ``sample_weight`` ``(1, B)`` (ours) scales each sample's squared errors; the mean stays over all of them, so
    weight 1 everywhere is DiMP's loss and weight 0 drops a sample's proposals from it."""
    if sample_weight is None:
        return F.mse_loss(iou_pred, iou_target)
    return (sample_weight[..., None] * (iou_pred - iou_target) ** 2).mean()


def giou_loss(predicted: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1 - GIoU, IoU)`` per box of ``[x1, y1, x2, y2]`` boxes ``(N, 4)`` (GIoU: IoU minus the fraction of the
    smallest enclosing box that the union leaves empty). Degenerate predicted boxes (x2 < x1) count as empty."""
    area_p = (predicted[:, 2] - predicted[:, 0]).clamp(min=0) * (predicted[:, 3] - predicted[:, 1]).clamp(min=0)
    area_t = (target[:, 2] - target[:, 0]).clamp(min=0) * (target[:, 3] - target[:, 1]).clamp(min=0)
    inner = (torch.minimum(predicted[:, 2:], target[:, 2:]) - torch.maximum(predicted[:, :2], target[:, :2])).clamp(min=0)
    intersection = inner[:, 0] * inner[:, 1]
    union = area_p + area_t - intersection
    iou = intersection / union.clamp(min=1e-7)
    outer = (torch.maximum(predicted[:, 2:], target[:, 2:]) - torch.minimum(predicted[:, :2], target[:, :2])).clamp(min=0)
    enclosing = (outer[:, 0] * outer[:, 1]).clamp(min=1e-7)
    return 1.0 - (iou - (enclosing - union) / enclosing), iou


def center_focal_loss(prediction: torch.Tensor, label: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's focal loss of score maps ``prediction`` in (0, 1) against Gaussian ``label`` maps (peaks 1):
    ``-(sum_pos (1-p)^a log p + sum_neg (1-y)^b p^a log(1-p)) / #pos`` (the negative sum alone without peaks)."""
    positive = label.eq(1).to(prediction.dtype)
    negative = 1.0 - positive
    positive_loss = (torch.log(prediction) * (1 - prediction) ** alpha * positive).sum()
    negative_loss = (torch.log(1 - prediction) * prediction ** alpha * (1 - label) ** beta * negative).sum()
    count = positive.sum()
    return -(positive_loss + negative_loss) / count.clamp(min=1.0)
