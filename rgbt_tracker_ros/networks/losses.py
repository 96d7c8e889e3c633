"""DiMP training losses: the hinge-like classification loss (LBHinge) and the IoU regression loss.

After pytracking's ``ltr/models/loss/target_classification.py`` and the DiMP actor
(``objective['iou'] = MSELoss``). Loss weights of DiMP (IoU 1, test_clf 100, test_init_clf 100,
test_iter_clf 400) are applied by the training loop.
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


def iou_loss(iou_pred: torch.Tensor, iou_target: torch.Tensor) -> torch.Tensor:
    """IoU-Net loss: mean squared error between predicted and true proposal IoUs (DiMP/ATOM)."""
    return F.mse_loss(iou_pred, iou_target)
