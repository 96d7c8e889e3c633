"""DiMP's learned steepest-descent filter optimizer (the model predictor's optimisation module).

Follows pytracking's ``DiMPSteepestDescentGN`` (Bhat et al., ICCV 2019, Sec. 3.1-3.2). The
discriminative loss over training samples ``j`` is

    L(f) = 1/2 sum_j || v_j * (r(s_j, m_j) - y_j) ||^2 + lambda/2 ||f||^2,    s_j = x_j * f

with ``r(s, m) = m s + (1 - m) max(0, s)`` (the "relu" score activation with target mask ``m``),
and the label ``y``, target mask ``m`` and spatial weight ``v`` predicted from the distance to the
target centre by 1x1 convs over a binned distance map (``num_dist_bins`` bins of
``bin_displacement`` cells). Each step is a steepest-descent step with the Gauss-Newton optimal
length ``alpha = ||g||^2 / (||J g||^2 + lambda ||g||^2)``, scaled by a learned factor.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_tracker_ros.networks.filter_ops import apply_feat_transpose, apply_filter, as_5d


class DistanceMap(nn.Module):
    """Triangular binning of the distance to a centre: ``center (B, 2) (row, col)`` -> ``(B, bins, H, W)``.

    Bin ``k`` has weight ``max(0, 1 - |d / disp - k|)``; the last bin also takes every larger
    distance.
    """

    def __init__(self, num_bins: int, bin_displacement: float = 1.0):
        super().__init__()
        self.num_bins = num_bins
        self.bin_displacement = bin_displacement

    def forward(self, center: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        center = center.reshape(-1, 2)
        bins = torch.arange(self.num_bins, dtype=center.dtype, device=center.device).reshape(1, -1, 1, 1)
        rows = torch.arange(output_size[0], dtype=center.dtype, device=center.device).reshape(1, 1, -1, 1)
        cols = torch.arange(output_size[1], dtype=center.dtype, device=center.device).reshape(1, 1, 1, -1)
        dist = torch.sqrt((rows - center[:, 0].reshape(-1, 1, 1, 1)) ** 2
                          + (cols - center[:, 1].reshape(-1, 1, 1, 1)) ** 2)
        bin_diff = dist / self.bin_displacement - bins
        return torch.cat((F.relu(1.0 - bin_diff[:, :-1].abs()), (1.0 + bin_diff[:, -1:]).clamp(0, 1)), dim=1)


def masked_leaky_relu(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``r(s, m) = (1 - m)/2 |s| + (1 + m)/2 s``: linear inside the target (m = 1), relu outside (m = 0)."""
    return (1.0 - mask) / 2.0 * scores.abs() + (1.0 + mask) / 2.0 * scores


def masked_leaky_relu_deriv(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``dr/ds`` of :func:`masked_leaky_relu` (the sign is not differentiated)."""
    return (1.0 - mask) / 2.0 * torch.sign(scores.detach()) + (1.0 + mask) / 2.0


class DiMPSteepestDescentGN(nn.Module):
    """Learned steepest-descent optimiser of the DiMP target filter.

    Call as ``optimizer(filter, feat=feat, bb=bb, sample_weight=None, num_iter=None)`` with
    ``filter (S, C, k, k)``, ``feat (I, S, C, H, W)``, ``bb (I, S, 4)`` ``[x, y, w, h]`` in image
    pixels of the crop, ``sample_weight`` ``(I, S)`` / ``(I,)`` per-sample weights (default
    ``1/I`` each; the tracker passes its memory weights). Returns ``(filter, filter_iterates,
    losses)`` where ``filter_iterates`` has ``num_iter + 1`` entries (initial included) and
    ``losses`` the objective before each step and after the last one.
    """

    def __init__(self, num_iter: int = 5, feat_stride: int = 16, init_step_length: float = 1.0,
                 init_filter_reg: float = 1e-2, init_gauss_sigma: float = 1.0, num_dist_bins: int = 5,
                 bin_displacement: float = 1.0, mask_init_factor: float = 4.0, min_filter_reg: float = 1e-3):
        super().__init__()
        self.num_iter = num_iter
        self.feat_stride = feat_stride
        self.min_filter_reg = min_filter_reg
        self.log_step_length = nn.Parameter(math.log(init_step_length) * torch.ones(1))
        self.filter_reg = nn.Parameter(init_filter_reg * torch.ones(1))
        self.distance_map = DistanceMap(num_dist_bins, bin_displacement)

        d = torch.arange(num_dist_bins, dtype=torch.float32).reshape(1, -1, 1, 1) * bin_displacement
        init_gauss = torch.exp(-0.5 * (d / init_gauss_sigma) ** 2)
        # y: label as a function of distance, initialised to a Gaussian (shifted to end at 0).
        self.label_map_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        self.label_map_predictor.weight.data = init_gauss - init_gauss.min()
        # m: target mask, ~1 within 2 cells of the centre, ~0 outside.
        self.target_mask_predictor = nn.Sequential(nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False), nn.Sigmoid())
        self.target_mask_predictor[0].weight.data = mask_init_factor * torch.tanh(2.0 - d)
        # v: spatial weight of the residuals, initialised to 1.
        self.spatial_weight_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        self.spatial_weight_predictor.weight.data.fill_(1.0)

    def target_maps(self, bb: torch.Tensor, filter_size: tuple[int, int], output_size: tuple[int, int]
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Label ``y``, target mask ``m`` and spatial weight ``v`` maps ``(I, S, H', W')`` for ``bb (I, S, 4)``."""
        num_images, num_seq = bb.shape[0], bb.shape[1]
        offset = (torch.tensor(filter_size, dtype=bb.dtype, device=bb.device) % 2) / 2.0
        center = ((bb[..., :2] + bb[..., 2:] / 2) / self.feat_stride).reshape(-1, 2).flip((1,)) - offset
        dist_map = self.distance_map(center, output_size)
        shape = (num_images, num_seq, *output_size)
        return (self.label_map_predictor(dist_map).reshape(shape),
                self.target_mask_predictor(dist_map).reshape(shape),
                self.spatial_weight_predictor(dist_map).reshape(shape))

    def forward(self, filter: torch.Tensor, feat: torch.Tensor, bb: torch.Tensor,
                sample_weight: Optional[torch.Tensor] = None, num_iter: Optional[int] = None,
                compute_losses: bool = True) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        num_iter = self.num_iter if num_iter is None else int(num_iter)
        feat = as_5d(feat)
        bb = bb.reshape(feat.shape[0], feat.shape[1], 4)
        num_images, num_seq = feat.shape[:2]
        filter_size = (filter.shape[-2], filter.shape[-1])
        output_size = (feat.shape[-2] + (filter_size[0] + 1) % 2, feat.shape[-1] + (filter_size[1] + 1) % 2)

        step_length = torch.exp(self.log_step_length)
        reg_weight = (self.filter_reg * self.filter_reg).clamp(min=self.min_filter_reg ** 2)
        label, target_mask, spatial_weight = self.target_maps(bb, filter_size, output_size)
        if sample_weight is None:
            sample_weight = math.sqrt(1.0 / num_images) * spatial_weight
        else:
            per_sample = sample_weight.reshape(num_images, -1).sqrt().expand(num_images, num_seq)
            sample_weight = per_sample[..., None, None] * spatial_weight

        def objective(f: torch.Tensor) -> torch.Tensor:
            scores = masked_leaky_relu(apply_filter(feat, f), target_mask)
            return (((sample_weight * (scores - label)) ** 2).sum() + reg_weight * (f ** 2).sum()) / num_seq

        iterates, losses = [filter], []
        for _ in range(num_iter):
            scores = apply_filter(feat, filter)
            score_mask = masked_leaky_relu_deriv(scores, target_mask)
            residuals = sample_weight * (masked_leaky_relu(scores, target_mask) - label)
            if compute_losses:
                losses.append(((residuals ** 2).sum() + reg_weight * (filter ** 2).sum()) / num_seq)
            # Gradient of the loss and its image under the Jacobian (Gauss-Newton step length).
            grad = (apply_feat_transpose(feat, score_mask * (sample_weight * residuals), filter_size)
                    + reg_weight * filter)
            grad_scores = sample_weight * (score_mask * apply_filter(feat, grad))
            alpha_num = (grad * grad).sum(dim=(1, 2, 3))
            alpha_den = ((grad_scores * grad_scores).reshape(num_images, num_seq, -1).sum(dim=(0, 2))
                         + reg_weight * alpha_num).clamp(min=1e-8)
            alpha = alpha_num / alpha_den
            filter = filter - (step_length * alpha.reshape(-1, 1, 1, 1)) * grad
            iterates.append(filter)
        if compute_losses:
            losses.append(objective(filter))
        return filter, iterates, losses
