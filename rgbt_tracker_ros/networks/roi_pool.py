"""Portable substitute for PrRoIPool2D (precise RoI pooling), used by DiMP's filter initializer
and IoU-Net.

pytracking ships PrRoIPool as a CUDA/C++ extension that integrates the bilinearly interpolated
feature exactly over each bin. We use :func:`torchvision.ops.roi_align` with ``aligned=True``
(the usual portable substitute): each bin is the mean of ``sampling_ratio x sampling_ratio``
bilinear samples, which approximates the same integral (exact for features that are linear within
the bin). Coordinates: ``aligned=True`` puts feature cell ``i`` at continuous position ``i + 0.5``
in ``box * spatial_scale`` coordinates (pixel-centre convention), half a cell from PrRoIPool's
``i``; since the heads are trained here, training and tracking use the same convention.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import roi_align


def boxes_to_rois(boxes_xywh: torch.Tensor) -> torch.Tensor:
    """``(B, P, 4)`` or ``(B, 4)`` ``[x, y, w, h]`` boxes -> ``(B*P, 5)`` rois ``[batch, x0, y0, x1, y1]``."""
    boxes = boxes_xywh if boxes_xywh.dim() == 3 else boxes_xywh.unsqueeze(1)
    b, p = boxes.shape[:2]
    index = torch.arange(b, dtype=boxes.dtype, device=boxes.device).reshape(b, 1, 1).expand(b, p, 1)
    xyxy = torch.cat((boxes[..., :2], boxes[..., :2] + boxes[..., 2:]), dim=2)
    return torch.cat((index, xyxy), dim=2).reshape(-1, 5)


class PrRoIPool2D(nn.Module):
    """``(N, C, H, W)`` features + rois ``(K, 5)`` in image pixels -> ``(K, C, size, size)``."""

    def __init__(self, output_size: int, spatial_scale: float, sampling_ratio: int = 4):
        super().__init__()
        self.output_size = int(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_align(features, rois.to(features.dtype), output_size=self.output_size,
                         spatial_scale=self.spatial_scale, sampling_ratio=self.sampling_ratio, aligned=True)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, sampling_ratio={self.sampling_ratio}"
