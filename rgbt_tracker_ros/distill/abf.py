"""Attention-based fusion (ABF) modules of ReviewKD (Chen et al., CVPR 2021; dvlab-research/ReviewKD),
which CMD's SCFD (Sec. 3.3) puts between the student's unimodal features and the teacher's targets.

One :class:`ABF` per level: ``conv1`` (1x1, student channels -> ``mid``, no bias) + BN; on every level
but the deepest, the residual ``y`` handed down from the next deeper level is resized (nearest) to
this level's size and fused with attention ``z = sigmoid(att_conv(cat[x, y]))`` (1x1 conv
``2 mid -> 2``): ``x = x z_0 + y z_1``; ``x`` is resized (nearest) to the teacher level's size if it
differs, and ``conv2`` (3x3, ``mid`` -> teacher channels, no bias) + BN maps it to the teacher's
channels. The output goes to the loss, ``x`` is the residual for the next shallower level.
:class:`ABFChain` runs the levels deepest first, as ReviewKD; ``mid = min(512, deepest student
channels)`` and the Kaiming-uniform (``a=1``) initialisation of ``conv1``/``conv2`` are ReviewKD's.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ABF(nn.Module):
    """One ReviewKD attention-based fusion stage (see the module docstring)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, fuse: bool):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.BatchNorm2d(mid_channels))
        self.conv2 = nn.Sequential(nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(out_channels))
        self.att_conv = nn.Sequential(nn.Conv2d(2 * mid_channels, 2, 1), nn.Sigmoid()) if fuse else None
        nn.init.kaiming_uniform_(self.conv1[0].weight, a=1)
        nn.init.kaiming_uniform_(self.conv2[0].weight, a=1)

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor],
                out_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (N, C_s, h, w)``, the deeper level's ``residual`` (``None`` on the deepest level) ->
        ``(output (N, C_t, *out_size), residual for the next shallower level)``."""
        x = self.conv1(x)
        if self.att_conv is not None:
            if residual is None:
                raise ValueError("a fusing ABF stage needs the residual of the deeper stage")
            residual = F.interpolate(residual, size=x.shape[-2:], mode="nearest")
            z = self.att_conv(torch.cat((x, residual), dim=1))
            x = x * z[:, 0:1] + residual * z[:, 1:2]
        if tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode="nearest")
        return self.conv2(x), x


class ABFChain(nn.Module):
    """ABF stages for levels ordered shallow -> deep, run deepest first (ReviewKD).

    Args:
        in_channels: student channels per level (shallow first).
        out_channels: teacher channels per level (shallow first).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int]):
        super().__init__()
        if len(in_channels) != len(out_channels) or not in_channels:
            raise ValueError(f"ABFChain needs one teacher width per student level, got {list(in_channels)} "
                             f"and {list(out_channels)}")
        mid = min(512, in_channels[-1])
        last = len(in_channels) - 1
        self.stages = nn.ModuleList(ABF(c_in, mid, c_out, fuse=i < last)
                                    for i, (c_in, c_out) in enumerate(zip(in_channels, out_channels)))

    def forward(self, features: Sequence[torch.Tensor], out_sizes: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
        """Student features (shallow first) -> outputs at the teacher's channels and ``out_sizes`` (shallow first)."""
        if len(features) != len(self.stages) or len(out_sizes) != len(self.stages):
            raise ValueError(f"ABFChain has {len(self.stages)} stages, got {len(features)} features "
                             f"and {len(out_sizes)} sizes")
        outputs: list[torch.Tensor] = [torch.empty(0)] * len(self.stages)
        residual: Optional[torch.Tensor] = None
        for level in reversed(range(len(self.stages))):
            outputs[level], residual = self.stages[level](features[level], residual, out_sizes[level])
        return outputs
