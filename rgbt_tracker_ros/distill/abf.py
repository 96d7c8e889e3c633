"""Attention-based fusion (ABF) modules of ReviewKD (Chen et al., CVPR 2021; dvlab-research/ReviewKD),
which CMD's SCFD (Sec. 3.3) puts between the student's unimodal features and the teacher's targets.

One :class:`ABF` per level: ``conv1`` (1x1, student channels -> ``mid``, no bias) + BN; on every level
but the deepest, the residual ``y`` handed down from the next deeper level is resized (nearest) to
this level's size and fused with attention ``z = sigmoid(att_conv(cat[x, y]))`` (1x1 conv
``2 mid -> 2``): ``x = x z_0 + y z_1``; ``x`` is resized to the teacher level's size if it
differs (:func:`resize_map`), and ``conv2`` (3x3, ``mid`` -> teacher channels, no bias) + BN maps it to the teacher's
channels. The output goes to the loss, ``x`` is the residual for the next shallower level.
:class:`ABFChain` runs the levels deepest first, as ReviewKD; ``mid = min(512, deepest student
channels)`` and the Kaiming-uniform (``a=1``) initialisation of ``conv1``/``conv2`` are ReviewKD's. A narrower
``mid`` can be set (``distill.abf_channels``, ours): on a CPU the shallowest level dominates a distillation step
(``mid`` channels at a quarter of the crop size, e.g. 256 x 80 x 80 per frame for student-tiny).

Resizing (:func:`resize_map`): nearest when a map grows, as ReviewKD; the mean over the covered cells (``area``)
when it shrinks (ours): a CMD teacher's maps have the student's sizes, but an AINet teacher's token grid is
coarser than the student's shallow levels (e.g. a 144x144 stem against 16x16 tokens), where nearest would keep
one cell in 81 and send the loss's gradient to it alone. Both are linear, so MPSD's width adapter stays affine
(:mod:`.mpsd`). Student and teacher maps always cover the same image region (the teacher sees the student's
search region), so resizing aligns them.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def resize_map(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``(N, C, h, w)`` -> ``(N, C, *size)`` over the same extent: nearest where it grows, the mean of the covered
    cells (``area``) where it shrinks, unchanged at equal sizes."""
    size = tuple(int(v) for v in size)
    if tuple(x.shape[-2:]) == size:
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="area" if shrink else "nearest")


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
            residual = resize_map(residual, x.shape[-2:])
            z = self.att_conv(torch.cat((x, residual), dim=1))
            x = x * z[:, 0:1] + residual * z[:, 1:2]
        x = resize_map(x, out_size)
        return self.conv2(x), x


class ABFChain(nn.Module):
    """ABF stages for levels ordered shallow -> deep, run deepest first (ReviewKD).

    Args:
        in_channels: student channels per level (shallow first).
        out_channels: teacher channels per level (shallow first).
        mid_channels: the stages' inner width; ``None``: ReviewKD's ``min(512, in_channels[-1])``.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int], mid_channels: Optional[int] = None):
        super().__init__()
        if len(in_channels) != len(out_channels) or not in_channels:
            raise ValueError(f"ABFChain needs one teacher width per student level, got {list(in_channels)} "
                             f"and {list(out_channels)}")
        mid = mid_channels or min(512, in_channels[-1])
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
