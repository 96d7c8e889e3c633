"""Multi-modal fusion modules: the student's MPSD (CMD Eq. 4-6) and the teacher's MDC + FRS.

Every fusion module maps ``(f_rgb, f_tir)`` of shape ``(N, C, H, W)`` to a :class:`FusionResult`
with the fused feature (same shape), the per-sample path weights ``(N, 3)`` (which fusion path is
active; reported by the tracker and the ROS node) and, for MPSD, the three initial fusions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class FusionResult:
    """Output of a fusion module at one level.

    Attributes:
        fused: ``(N, C, H, W)`` fused feature.
        path_weights: ``(N, 3)`` weights of the fusion paths, summing to 1 per sample.
        initial_fusions: ``(N, 3, C, H, W)`` the MPSD initial fusions ``[sa, mul, diff]``
            (``None`` for the teacher).
    """

    fused: torch.Tensor
    path_weights: torch.Tensor
    initial_fusions: Optional[torch.Tensor] = None


class MPSD(nn.Module):
    """Multi-path selection fusion of the CMD student (seed 000, Sec. 3.4, Fig. 6, Eq. 4-6).

    Three initial fusions (Eq. 4): ``sa(f_rgb, f_tir)`` (complementary), ``f_rgb * f_tir``
    (common), ``f_rgb - f_tir`` (difference). ``sa`` (Eq. 5) is a 1x1 conv on ``cat(f_rgb, f_tir)``
    to a 2-channel map split into RGB/TIR reliability maps. The paper's text says *softmax*, its
    Eq. 5 writes sigma (sigmoid). We use **softmax** by default (``sa_activation``): the text
    describes the layer explicitly, the two maps then *select* between the modalities per pixel
    (w_rgb + w_tir = 1), and the result stays on the scale of the inputs, which keeps
    ``L_fus,n`` (Eq. 8) comparable across the three paths. ``sigmoid`` is available for ablation.

    Path weights (Eq. 6): ``softmax(fc(gmp(cat(f1, f2, f3))))``; the paper says "fully connected
    layers" without widths, we use ``fc(3C -> hidden) -> ReLU -> fc(hidden -> 3)`` with
    ``hidden = round(hidden_ratio * C)`` (our choice). The weights are per sample (one scalar per
    path, broadcast over C, H, W: "feature-wise weights").

    ``descriptor``: ``raw`` (Eq. 6 as written, the default) or ``layernorm``: the pooled descriptor standardised
    per sample (LayerNorm without parameters) before the fully connected layers. Ours, for ablation: with
    ``raw`` the selection collapses to one path per level as the descriptor's scale grows in training
    (docs/results.md, the synthetic ablation); ``layernorm`` takes that scale out of the logits. In full CMD it
    kept the selection alive and let L_p act, but those students tracked worse: ``raw`` stays the default.
    """

    path_names = ("sa", "mul", "diff")

    def __init__(self, channels: int, sa_activation: str = "softmax", hidden_ratio: float = 1.0,
                 descriptor: str = "raw"):
        super().__init__()
        self.sa_activation = sa_activation
        self.sa_conv = nn.Conv2d(2 * channels, 2, kernel_size=1)
        hidden = max(8, round(hidden_ratio * channels))
        self.descriptor_norm = (nn.LayerNorm(3 * channels, elementwise_affine=False) if descriptor == "layernorm"
                                else nn.Identity())
        self.path_fc = nn.Sequential(nn.Linear(3 * channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 3))

    def spatial_attention(self, f_rgb: torch.Tensor, f_tir: torch.Tensor) -> torch.Tensor:
        """Eq. 5: reliability-weighted sum of the two modalities."""
        logits = self.sa_conv(torch.cat((f_rgb, f_tir), dim=1))
        maps = torch.softmax(logits, dim=1) if self.sa_activation == "softmax" else torch.sigmoid(logits)
        return f_rgb * maps[:, 0:1] + f_tir * maps[:, 1:2]

    def forward(self, f_rgb: torch.Tensor, f_tir: torch.Tensor) -> FusionResult:
        initial = torch.stack((self.spatial_attention(f_rgb, f_tir), f_rgb * f_tir, f_rgb - f_tir), dim=1)
        pooled = torch.amax(initial, dim=(-2, -1)).flatten(1)  # gmp(cat(f1, f2, f3)): (N, 3C)
        weights = torch.softmax(self.path_fc(self.descriptor_norm(pooled)), dim=1)  # Eq. 6
        fused = (initial * weights[:, :, None, None, None]).sum(dim=1)
        return FusionResult(fused=fused, path_weights=weights, initial_fusions=initial)


class MDC(nn.Module):
    """Modality difference compensation (teacher; after MFNet, whose layers are unpublished).

    Our design from MFNet's description ("reduces RGB/TIR feature differences and produces fused
    features"): the difference ``d = f_rgb - f_tir`` drives a CBAM-style attention
    ``A = channel_att(d) * spatial_att(d)`` (channel: shared MLP on global avg- and max-pooled
    ``d``, reduction ``r``; spatial: 7x7 conv on the channel mean and max of ``|d|``) that is high
    where the modalities disagree. Each modality is compensated there with the other one
    (``f_rgb' = f_rgb + A * f_tir``, ``f_tir' = f_tir + A * f_rgb``), and the compensated pair is
    fused by ``1x1 conv (2C -> C) + BN + ReLU`` followed by ``3x3 conv (C -> C) + BN + ReLU``.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(8, channels // reduction)
        self.channel_mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                         nn.Conv2d(hidden, channels, 1))
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size=7, padding=3)
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
        )

    def difference_attention(self, f_rgb: torch.Tensor, f_tir: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` attention in [0, 1], high where the modalities differ."""
        d = f_rgb - f_tir
        channel = torch.sigmoid(self.channel_mlp(F.adaptive_avg_pool2d(d, 1))
                                + self.channel_mlp(F.adaptive_max_pool2d(d, 1)))
        ad = d.abs()
        spatial = torch.sigmoid(self.spatial_conv(torch.cat((ad.mean(1, keepdim=True), ad.amax(1, keepdim=True)), 1)))
        return channel * spatial

    def forward(self, f_rgb: torch.Tensor, f_tir: torch.Tensor) -> torch.Tensor:
        att = self.difference_attention(f_rgb, f_tir)
        return self.fuse(torch.cat((f_rgb + att * f_tir, f_tir + att * f_rgb), dim=1))


class FRS(nn.Module):
    """Feature re-selection (teacher; after MFNet, whose layers are unpublished).

    Our design: a selective-kernel style gate (SKNet) that chooses, per sample and channel, among
    the candidates ``{f_rgb, f_tir, f_mdc}``: ``z = ReLU(fc(gap(f_rgb + f_tir + f_mdc)))``
    (``C -> C/r``; no BatchNorm, unlike SKNet, so batches of one train too), one
    ``fc(C/r -> C)`` per candidate, softmax over the three candidates, and
    ``fused = sum_k w_k * f_k``. The reported path weights are the channel means of ``w_k``.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(32, channels // reduction)
        self.squeeze = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True))
        self.select = nn.Linear(hidden, 3 * channels)

    def forward(self, candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``candidates (N, 3, C, H, W)`` -> ``(fused (N, C, H, W), weights (N, 3, C))``."""
        n, k, c = candidates.shape[:3]
        z = self.squeeze(candidates.sum(dim=1).mean(dim=(-2, -1)))
        weights = torch.softmax(self.select(z).reshape(n, k, c), dim=1)
        return (candidates * weights[..., None, None]).sum(dim=1), weights


class MDCFRSFusion(nn.Module):
    """Teacher fusion at one level: MDC produces ``f_mdc``, FRS re-selects among ``{rgb, tir, mdc}``."""

    path_names = ("rgb", "tir", "mdc")

    def __init__(self, channels: int, mdc_reduction: int = 16, frs_reduction: int = 16):
        super().__init__()
        self.mdc = MDC(channels, mdc_reduction)
        self.frs = FRS(channels, frs_reduction)

    def forward(self, f_rgb: torch.Tensor, f_tir: torch.Tensor) -> FusionResult:
        candidates = torch.stack((f_rgb, f_tir, self.mdc(f_rgb, f_tir)), dim=1)
        fused, weights = self.frs(candidates)
        return FusionResult(fused=fused, path_weights=weights.mean(dim=2))
