"""Applying a DiMP target filter to features and its transpose (the filter gradient).

Shapes follow pytracking's ``ltr/models/layers/filter.py``: features ``(I, S, C, H, W)`` (images x
sequences), filters ``(S, C, k, k)`` (one per sequence), scores ``(I, S, H', W')`` with
``H' = H + 2 * (k // 2) - k + 1`` (18x18 features, 4x4 filter -> 19x19 scores).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def as_5d(feat: torch.Tensor) -> torch.Tensor:
    """``(I, C, H, W)`` (a single sequence) or ``(I, S, C, H, W)`` -> ``(I, S, C, H, W)``."""
    return feat.unsqueeze(1) if feat.dim() == 4 else feat


def apply_filter(feat: torch.Tensor, filter: torch.Tensor) -> torch.Tensor:
    """Correlate each sequence's features with its filter: ``(I, S, C, H, W) x (S, C, k, k) -> (I, S, H', W')``.

    ``feat`` may also be ``(I, C, H, W)`` for a single sequence.
    """
    feat = as_5d(feat)
    num_images, num_seq, channels, height, width = feat.shape
    padding = (filter.shape[-2] // 2, filter.shape[-1] // 2)
    scores = F.conv2d(feat.reshape(num_images, num_seq * channels, height, width),
                      filter.reshape(num_seq, channels, *filter.shape[-2:]), padding=padding, groups=num_seq)
    return scores.reshape(num_images, num_seq, *scores.shape[-2:])


def apply_feat_transpose(feat: torch.Tensor, residuals: torch.Tensor, filter_size: tuple[int, int]) -> torch.Tensor:
    """Transpose of :func:`apply_filter` w.r.t. the filter: ``d/df sum(residuals * apply_filter(feat, f))``.

    ``feat (I, S, C, H, W)``, ``residuals (I, S, H', W')`` -> ``(S, C, k, k)``: each filter tap is
    the correlation of the zero-padded features with the residual map, summed over images.
    """
    feat = as_5d(feat)
    num_images, num_seq, channels, height, width = feat.shape
    padding = (filter_size[0] // 2, filter_size[1] // 2)
    # Batch = channels, groups = images x sequences: one residual map correlates one feature map.
    grad = F.conv2d(feat.permute(2, 0, 1, 3, 4).reshape(channels, num_images * num_seq, height, width),
                    residuals.reshape(num_images * num_seq, 1, *residuals.shape[-2:]),
                    padding=padding, groups=num_images * num_seq)
    grad = grad.reshape(channels, num_images, num_seq, *grad.shape[-2:]).sum(dim=1)
    return grad.permute(1, 0, 2, 3)
