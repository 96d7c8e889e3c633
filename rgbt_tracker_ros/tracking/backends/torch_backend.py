"""The PyTorch backend: the network module itself, with optional autocast (fp16 / bf16)."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Sequence

import torch

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.tracking.backends.base import InferenceBackend

#: Fused level the classifier reads.
CLASSIFICATION_LEVEL = "layer3"
#: Autocast dtypes by precision name; ``fp32`` runs without autocast.
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
PRECISIONS = ("fp32",) + tuple(AUTOCAST_DTYPES)


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` if the device runs it (fp16 only on CUDA), else :class:`InputError`."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda":
        raise InputError("fp16 autocast needs CUDA; on the CPU use fp32 or bf16")
    return precision


class TorchBackend(InferenceBackend):
    """Runs ``model`` (an ``RGBTDiMPNet`` in eval mode on ``device``) directly.

    ``precision``: ``fp32``, ``fp16`` (CUDA) or ``bf16``: autocast of feature extraction, fusion and
    classification features; IoU-Net and everything online stay float32 (as pytracking does).
    Returns the full ``FusionFeatures`` (unimodal levels too: the teacher's labelling reads them).
    """

    name = "torch"

    def __init__(self, model: torch.nn.Module, device: torch.device, precision: str = "fp32") -> None:
        self.model = model
        self.device = device
        self.precision = check_precision(precision, device)

    def _autocast(self):
        dtype = AUTOCAST_DTYPES.get(self.precision)
        return torch.autocast(device_type=self.device.type, dtype=dtype) if dtype else nullcontext()

    def features(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[Any, torch.Tensor]:
        with self._autocast():
            features = self.model.extract_features(rgb, thermal)
            clf_feat = self.model.classifier.extract_classification_feat(features.fused[CLASSIFICATION_LEVEL])
        return features, clf_feat.float()

    def iou_features(self, fused: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self.model.bb_regressor.get_iou_feat([f.float() for f in fused])

    def predict_iou(self, modulation: Sequence[torch.Tensor], iou_feat: Sequence[torch.Tensor],
                    boxes: torch.Tensor) -> torch.Tensor:
        return self.model.bb_regressor.predict_iou(modulation, iou_feat, boxes)

    def iou_gradient(self, modulation: Sequence[torch.Tensor], iou_feat: Sequence[torch.Tensor],
                     boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact gradient by autograd, with respect to the boxes only."""
        with torch.enable_grad():
            proposals = boxes.detach().requires_grad_(True)
            ious = self.model.bb_regressor.predict_iou(modulation, iou_feat, proposals)
            (gradient,) = torch.autograd.grad(ious, proposals, grad_outputs=torch.ones_like(ious))
        return ious.detach(), gradient
