"""RoI pooling for DiMP's filter initializer and IoU-Net: exact PrRoIPool and our older substitute.

Both modes take boxes ``[x, y, w, h]`` in image pixels, ``(B, P, 4)`` (or ``(B, 4)``): the ``P``
boxes of batch element ``b`` pool from ``feat[b]`` (pytracking builds the same rois as
``(b, x, y, x + w, y + h)``), and return ``(B * P, C, s, s)``. Both are differentiable in the
features and in the boxes (IoU-Net's box refinement is gradient ascent on the box).

``prroi`` -- Precise RoI Pooling (Jiang et al., ECCV 2018), as pytracking's
``ltr/external/PreciseRoIPooling`` computes it: a box maps to ``[x1, x2] = [x, x + w] *
spatial_scale`` on the feature map, feature cell ``i`` sits at the integer position ``i``, the
feature between cells is their bilinear interpolant (zero beyond the map, so it ramps to zero over
the outer unit), and each of the ``s x s`` bins gets the **exact integral** of that interpolant over
the bin divided by the bin area (0 for an empty box). The interpolant is separable, a sum of
``F[i, j] k(y - i) k(x - j)`` with the hat ``k(t) = max(0, 1 - |t|)``, so the integral over a bin is
``Wy F Wx^T`` where ``W[bin, i]`` is the integral of ``k(t - i)`` over the bin's extent: two small
matrix products per box, no sampling.

``legacy`` -- what every checkpoint before the ``roi_pool`` config field was trained with: the
mean of ``sampling_ratio x sampling_ratio`` bilinear samples per bin at the positions of
:func:`torchvision.ops.roi_align` with ``aligned=True`` (computed as separable bilinear weights, which,
unlike ``roi_align``, have a gradient in the boxes; equal to the ``grid_sample`` it was trained with). ``aligned=True`` maps image pixel ``x`` to
``x * spatial_scale - 0.5``: the same box pools a region **half a feature cell** (8 px at stride 16,
4 px at stride 8) up and to the left of PrRoIPool's, i.e. ``legacy(box)`` approximates
``prroi(box - 0.5 / spatial_scale)``.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.config import ROI_POOLS


def _hat_cdf(t: torch.Tensor) -> torch.Tensor:
    """``integral_{-inf}^{t} max(0, 1 - |u|) du``: 0 below -1, 1 above 1, C1 in ``t``."""
    t = t.clamp(-1.0, 1.0)
    return torch.where(t < 0, 0.5 * (t + 1.0) ** 2, 1.0 - 0.5 * (1.0 - t) ** 2)


def _bin_weights(start: torch.Tensor, extent: torch.Tensor, bins: int, length: int) -> torch.Tensor:
    """``(..., bins, length)``: integral over each of ``bins`` equal parts of ``[start, start + extent]``
    of the hat centred on each grid point ``0 .. length - 1``."""
    steps = torch.arange(bins + 1, dtype=start.dtype, device=start.device) / bins
    edges = start[..., None] + extent[..., None] * steps  # (..., bins + 1)
    grid = torch.arange(length, dtype=start.dtype, device=start.device)
    cdf = _hat_cdf(edges[..., None] - grid)  # (..., bins + 1, length)
    return cdf[..., 1:, :] - cdf[..., :-1, :]


def prroi_pool2d(feat: torch.Tensor, boxes: torch.Tensor, output_size: int, spatial_scale: float) -> torch.Tensor:
    """Exact PrRoIPool (see the module docstring): ``feat (B, C, H, W)``, ``boxes (B, P, 4)`` ``[x, y, w, h]``
    in image pixels -> ``(B * P, C, s, s)``. The bin weights are computed in at least float32 (a half-precision
    box coordinate near 288 px is only good to about 1 px)."""
    batch, num_boxes = boxes.shape[:2]
    channels, height, width = feat.shape[1:]
    boxes = boxes.to(torch.promote_types(feat.dtype, torch.float32))
    start = boxes[..., :2] * spatial_scale
    extent = (boxes[..., 2:] * spatial_scale).clamp(min=0.0)  # PrRoIPool: max(x2 - x1, 0)
    wx = _bin_weights(start[..., 0], extent[..., 0], output_size, width).to(feat.dtype)  # (B, P, s, W)
    wy = _bin_weights(start[..., 1], extent[..., 1], output_size, height).to(feat.dtype)  # (B, P, s, H)
    integral = separable_pool(feat, wy, wx)
    area = (extent[..., 0] * extent[..., 1] / (output_size * output_size))[..., None, None, None].to(feat.dtype)
    nonempty = area > 0
    pooled = torch.where(nonempty, integral / torch.where(nonempty, area, torch.ones_like(area)),
                         torch.zeros_like(integral))
    return pooled.reshape(batch * num_boxes, channels, output_size, output_size)


def separable_pool(feat: torch.Tensor, weights_y: torch.Tensor, weights_x: torch.Tensor) -> torch.Tensor:
    """``Wy F Wx^T`` per box: ``feat (B, C, H, W)``, ``weights_y (B, P, s, H)``, ``weights_x (B, P, s, W)``
    -> ``(B, P, C, s, s)``. The x contraction runs as one matrix product per batch element over all
    boxes (``(C*H, W) @ (W, P*s)``), so the feature map is never copied per box."""
    rows = torch.einsum("bchw,bpjw->bpchj", feat, weights_x)  # integrate over x first: (B, P, C, H, s)
    return torch.einsum("bpih,bpchj->bpcij", weights_y, rows)


def _sample_weights(coords: torch.Tensor, length: int, output_size: int, sampling_ratio: int) -> torch.Tensor:
    """``(..., s, length)``: per bin, the mean over its ``sampling_ratio`` samples at ``coords (..., s * r)``
    of the bilinear weights ``max(0, 1 - |coord - i|)`` of cells ``i`` (none beyond the map)."""
    cells = torch.arange(length, dtype=coords.dtype, device=coords.device)
    weights = (1.0 - (coords.unsqueeze(-1) - cells).abs()).clamp(min=0.0)
    return weights.reshape(*coords.shape[:-1], output_size, sampling_ratio, length).mean(dim=-2)


def legacy_roi_pool2d(feat: torch.Tensor, boxes: torch.Tensor, output_size: int, spatial_scale: float,
                      sampling_ratio: int) -> torch.Tensor:
    """``roi_align(aligned=True)``-style bin means (see the module docstring); same shapes as
    :func:`prroi_pool2d`.

    Bilinear sampling is separable, so the mean of the ``r x r`` samples of a bin is ``Wy F Wx^T``
    with ``W[bin, i]`` the mean bilinear weight of cell ``i`` over the bin's ``r`` sample positions:
    two matrix products per box, equal to ``grid_sample(align_corners=True, padding_mode="zeros")``
    on maps of at least 2 x 2 cells (our formulation: it exports to ONNX / TensorRT as plain matrix
    products, where ``GridSample`` is slow, and is faster in PyTorch too; docs/results.md).
    """
    batch, num_boxes = boxes.shape[:2]
    channels, height, width = feat.shape[-3:]
    n = output_size * sampling_ratio
    # Offsets of the samples within the box, in units of the box size: (j + (k + 0.5) / r) / s.
    steps = (torch.arange(n, dtype=boxes.dtype, device=boxes.device) + 0.5) / n
    start = boxes[..., :2] * spatial_scale - 0.5  # aligned=True
    size = boxes[..., 2:] * spatial_scale
    weights_y = _sample_weights(start[..., 1:2] + steps * size[..., 1:2], height, output_size, sampling_ratio)
    weights_x = _sample_weights(start[..., 0:1] + steps * size[..., 0:1], width, output_size, sampling_ratio)
    return separable_pool(feat, weights_y, weights_x).reshape(batch * num_boxes, channels, output_size, output_size)


class PrRoIPool2D(nn.Module):
    """``feat (B, C, H, W)`` + boxes ``(B, P, 4)`` (or ``(B, 4)``) ``[x, y, w, h]`` -> ``(B*P, C, s, s)``.

    ``mode``: ``prroi`` (exact PrRoIPool, pytracking's convention) or ``legacy`` (the default: the
    pooling of every checkpoint made before the choice existed); ``sampling_ratio`` (samples per
    bin and axis, default 4) belongs to ``legacy`` only.
    """

    def __init__(self, output_size: int, spatial_scale: float, mode: str = "legacy",
                 sampling_ratio: Optional[int] = None):
        super().__init__()
        if mode not in ROI_POOLS:
            raise InputError(f"RoI pooling mode must be one of {ROI_POOLS}, got {mode!r}")
        if mode == "prroi" and sampling_ratio is not None:
            raise InputError("prroi pooling integrates exactly; sampling_ratio belongs to legacy pooling")
        self.output_size = int(output_size)
        self.spatial_scale = float(spatial_scale)
        self.mode = mode
        self.sampling_ratio = None if mode == "prroi" else int(sampling_ratio or 4)

    def forward(self, feat: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        boxes = boxes if boxes.dim() == 3 else boxes.unsqueeze(1)
        if self.mode == "prroi":
            return prroi_pool2d(feat, boxes, self.output_size, self.spatial_scale)
        return legacy_roi_pool2d(feat, boxes.to(feat.dtype), self.output_size, self.spatial_scale,
                                 self.sampling_ratio)

    def extra_repr(self) -> str:
        ratio = "" if self.sampling_ratio is None else f", sampling_ratio={self.sampling_ratio}"
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, mode={self.mode}{ratio}"
