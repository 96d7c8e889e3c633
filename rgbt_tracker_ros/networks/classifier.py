"""DiMP target classification branch: feature block, filter initializer and ``LinearFilter``.

After pytracking's ``ltr/models/target_classifier/{features,initializer,linear_filter}.py``.
The branch maps fused ``layer3`` features to classification features, predicts a target filter
from training frames (initializer + :class:`~.optimizer.DiMPSteepestDescentGN`) and correlates it
with test features to give target score maps.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from rgbt_tracker_ros.networks.filter_ops import apply_filter, as_5d
from rgbt_tracker_ros.networks.optimizer import DiMPSteepestDescentGN
from rgbt_tracker_ros.networks.roi_pool import PrRoIPool2D


class InstanceL2Norm(nn.Module):
    """Scale each sample to ``||x||^2 = scale^2 * C*H*W`` (DiMP's instance L2 normalisation)."""

    def __init__(self, scale: float = 1.0, eps: float = 1e-5):
        super().__init__()
        self.scale = scale
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        numel = x.shape[1] * x.shape[2] * x.shape[3]
        sq_sum = (x * x).reshape(x.shape[0], 1, 1, -1).sum(dim=3, keepdim=True)
        return x * (self.scale * (numel / (sq_sum + self.eps)).sqrt())

    def extra_repr(self) -> str:
        return f"scale={self.scale:.4g}"


def classification_feature_block(in_channels: int, out_channels: int, num_blocks: int, bottleneck: bool,
                                 norm_scale: float) -> nn.Sequential:
    """DiMP's classification feature extractor.

    DiMP18 (``residual_basic_block``): ``num_blocks`` BasicBlocks on the 256-ch ``layer3``, then a
    3x3 conv to ``out_channels`` and instance L2 norm. DiMP50 (``residual_bottleneck`` with 0
    blocks): 3x3 conv 1024 -> 512 and instance L2 norm.
    """
    layers: list[nn.Module] = []
    for _ in range(num_blocks):
        if bottleneck:
            layers.append(Bottleneck(in_channels, in_channels // 4))
        else:
            layers.append(BasicBlock(in_channels, in_channels))
    layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False))
    layers.append(InstanceL2Norm(scale=norm_scale))
    block = nn.Sequential(*layers)
    for m in block.modules():  # pytracking's LinearFilter initialisation
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0, math.sqrt(2.0 / n))
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(1.0)
            m.bias.data.zero_()
    return block


class FilterInitializerLinear(nn.Module):
    """Initial filter: 3x3 conv on the features, PrRoI-pool the target box to ``k x k``, average
    over training images (``FilterInitializerLinear`` without filter norm, as in DiMP18/50).
    ``roi_pool``: ``prroi`` or ``legacy`` (:class:`~.roi_pool.PrRoIPool2D`)."""

    def __init__(self, filter_size: int, feature_dim: int, feature_stride: int = 16, roi_pool: str = "legacy"):
        super().__init__()
        self.filter_conv = nn.Conv2d(feature_dim, feature_dim, kernel_size=3, padding=1)
        self.filter_pool = PrRoIPool2D(filter_size, 1.0 / feature_stride, mode=roi_pool)
        n = 3 * 3 * feature_dim
        self.filter_conv.weight.data.normal_(0, math.sqrt(2.0 / n))
        self.filter_conv.bias.data.zero_()

    def forward(self, feat: torch.Tensor, bb: torch.Tensor) -> torch.Tensor:
        """``feat (I, S, C, H, W)``, ``bb (I, S, 4)`` -> filter ``(S, C, k, k)``."""
        feat = as_5d(feat)
        num_images, num_seq = feat.shape[:2]
        conv = self.filter_conv(feat.reshape(-1, *feat.shape[-3:]))
        pooled = self.filter_pool(conv, bb.reshape(-1, 4))
        return pooled.reshape(num_images, num_seq, *pooled.shape[-3:]).mean(dim=0)


class LinearFilter(nn.Module):
    """DiMP target classifier: ``extract_classification_feat``, ``get_filter``, ``classify``.

    ``filter_optimizer`` is exposed so that the online tracker can run its own iterations
    (``filter_optimizer(filter, feat=..., bb=..., sample_weight=..., num_iter=...)``).
    """

    def __init__(self, filter_size: int, feature_extractor: nn.Module, filter_initializer: FilterInitializerLinear,
                 filter_optimizer: DiMPSteepestDescentGN):
        super().__init__()
        self.filter_size = filter_size
        self.feature_extractor = feature_extractor
        self.filter_initializer = filter_initializer
        self.filter_optimizer = filter_optimizer

    def extract_classification_feat(self, feat: torch.Tensor, num_sequences: Optional[int] = None) -> torch.Tensor:
        """Fused ``layer3`` ``(N, C, H, W)`` -> classification features ``(N, D, H, W)``, or
        ``(N / S, S, D, H, W)`` when ``num_sequences`` is given."""
        out = self.feature_extractor(feat.reshape(-1, *feat.shape[-3:]))
        return out if num_sequences is None else out.reshape(-1, num_sequences, *out.shape[-3:])

    def get_filter(self, feat: torch.Tensor, bb: torch.Tensor, num_iter: Optional[int] = None,
                   sample_weight: Optional[torch.Tensor] = None, compute_losses: bool = True
                   ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Initialise and optimise the filter: ``feat (I, S, D, H, W)`` or ``(I, D, H, W)``, ``bb
        (I, S, 4)`` or ``(I, 4)`` -> ``(filter (S, D, k, k), filter_iterates, losses)``."""
        filter = self.filter_initializer(feat, bb)
        return self.filter_optimizer(filter, feat=feat, bb=bb, sample_weight=sample_weight, num_iter=num_iter,
                                     compute_losses=compute_losses)

    def classify(self, filter: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        """Scores ``(I, S, H', W')`` of features ``(I, S, D, H, W)`` (or ``(I, D, H, W)``)."""
        return apply_filter(feat, filter)
