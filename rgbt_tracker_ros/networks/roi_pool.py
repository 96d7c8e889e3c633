"""Portable substitute for PrRoIPool2D (precise RoI pooling), used by DiMP's filter initializer
and IoU-Net.

pytracking ships PrRoIPool as a CUDA/C++ extension that integrates the bilinearly interpolated
feature exactly over each bin and is differentiable w.r.t. the box coordinates (IoU-Net's box
refinement is gradient ascent on the box). The usual portable substitute,
:func:`torchvision.ops.roi_align` (``aligned=True``), approximates the integral by the mean of
``sampling_ratio x sampling_ratio`` bilinear samples per bin but has **no gradient w.r.t. the
boxes**. We therefore compute the same samples as ``roi_align(aligned=True)`` with
:func:`torch.nn.functional.grid_sample`, which is differentiable in the sample positions and hence
in the boxes (the unit tests check it against ``roi_align``, a brute-force integral and finite
differences).

Conventions: boxes ``[x, y, w, h]`` in image pixels; ``aligned=True`` puts feature cell ``i`` at
continuous position ``i + 0.5`` in ``box * spatial_scale`` coordinates (pixel-centre convention),
half a cell from PrRoIPool's ``i`` (the heads are trained here, so training and tracking agree).
Outside the map the feature is taken as zero, as in PrRoIPool.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PrRoIPool2D(nn.Module):
    """``feat (B, C, H, W)`` + boxes ``(B, P, 4)`` (or ``(B, 4)``) ``[x, y, w, h]`` -> ``(B*P, C, s, s)``.

    Rois are grouped per image: all ``P`` boxes of batch element ``b`` pool from ``feat[b]``.
    """

    def __init__(self, output_size: int, spatial_scale: float, sampling_ratio: int = 4):
        super().__init__()
        self.output_size = int(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)

    def sample_positions(self, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Feature-cell coordinates ``(B, P, s * r)`` of the sample rows (y) and columns (x)."""
        s, r = self.output_size, self.sampling_ratio
        # Offsets of the samples within the box, in units of the box size: (j + (k + 0.5) / r) / s.
        steps = (torch.arange(s * r, dtype=boxes.dtype, device=boxes.device) + 0.5) / (s * r)
        start = boxes[..., :2] * self.spatial_scale - 0.5  # aligned=True
        size = boxes[..., 2:] * self.spatial_scale
        ys = start[..., 1:2] + steps * size[..., 1:2]
        xs = start[..., 0:1] + steps * size[..., 0:1]
        return ys, xs

    def forward(self, feat: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        boxes = (boxes if boxes.dim() == 3 else boxes.unsqueeze(1)).to(feat.dtype)
        batch, num_boxes = boxes.shape[:2]
        height, width = feat.shape[-2:]
        n = self.output_size * self.sampling_ratio
        ys, xs = self.sample_positions(boxes)
        # grid_sample with align_corners=True maps -1 / +1 to the centres of the first / last cell.
        gy = (2.0 * ys / max(height - 1, 1) - 1.0).reshape(batch, num_boxes, n, 1).expand(-1, -1, -1, n)
        gx = (2.0 * xs / max(width - 1, 1) - 1.0).reshape(batch, num_boxes, 1, n).expand(-1, -1, n, -1)
        grid = torch.stack((gx, gy), dim=-1).reshape(batch, num_boxes * n, n, 2)
        samples = F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        samples = samples.reshape(batch, feat.shape[1], num_boxes, n, n).transpose(1, 2)
        pooled = F.avg_pool2d(samples.reshape(batch * num_boxes, feat.shape[1], n, n), self.sampling_ratio)
        return pooled

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}")
