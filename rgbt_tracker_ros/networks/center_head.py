"""OSTrack's center head (Ye et al., ECCV 2022; ``lib/models/layers/head.py`` ``CenterPredictor``), written anew.

Three branches of four ``3x3 conv + BatchNorm + ReLU`` blocks (``C -> c -> c/2 -> c/4 -> c/8``, ``c`` =
``head_channels``, 256 for ViT-B) and a ``1x1`` conv read the search-region feature map ``(N, C, H, W)``:

* ``ctr``: the target-centre score map, sigmoid, clamped to ``[1e-4, 1 - 1e-4]`` (as OSTrack, so the focal
  loss's logarithms stay finite);
* ``size``: the box width and height as fractions of the search crop, sigmoid (clamped likewise);
* ``offset``: the sub-cell offset of the centre (unbounded), in cells.

The box of a score map (:func:`boxes_at`) is read at a cell: centre ``((col + dx) / W, (row + dy) / H)``,
size ``(w, h)`` from the size map, all as fractions of the crop. OSTrack reads it at the peak of the score
map, training included. Parameter names are OSTrack's (``conv1_ctr.0.weight`` ...), so its heads load by name.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

#: Score and size maps are clamped to [SIGMOID_CLAMP, 1 - SIGMOID_CLAMP] (OSTrack's ``_sigmoid``).
SIGMOID_CLAMP = 1e-4


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


@dataclass
class HeadOutput:
    """Maps of the center head, all ``(N, ., H, W)``: ``score`` (1 channel), ``size`` (w, h), ``offset`` (dx, dy)."""

    score: torch.Tensor
    size: torch.Tensor
    offset: torch.Tensor


class CenterHead(nn.Module):
    """OSTrack's ``CenterPredictor`` (see the module docstring); Xavier-uniform initialisation as OSTrack."""

    def __init__(self, in_channels: int, channels: int = 256):
        super().__init__()
        widths = (in_channels, channels, channels // 2, channels // 4, channels // 8)
        for branch, outputs in (("ctr", 1), ("offset", 2), ("size", 2)):
            for index in range(4):
                self.add_module(f"conv{index + 1}_{branch}", _conv_block(widths[index], widths[index + 1]))
            self.add_module(f"conv5_{branch}", nn.Conv2d(widths[4], outputs, 1))
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def _branch(self, name: str, x: torch.Tensor) -> torch.Tensor:
        for index in range(1, 6):
            x = getattr(self, f"conv{index}_{name}")(x)
        return x

    def forward(self, x: torch.Tensor) -> HeadOutput:
        clamp = (SIGMOID_CLAMP, 1.0 - SIGMOID_CLAMP)
        return HeadOutput(score=torch.sigmoid(self._branch("ctr", x)).clamp(*clamp),
                          size=torch.sigmoid(self._branch("size", x)).clamp(*clamp),
                          offset=self._branch("offset", x))


def boxes_at(head: HeadOutput, index: torch.Tensor) -> torch.Tensor:
    """Boxes ``(N, 4)`` ``[cx, cy, w, h]`` as fractions of the crop, read at flat cell ``index (N,)``."""
    height, width = head.score.shape[-2:]
    gather = index.view(-1, 1, 1).expand(-1, 2, 1)
    size = head.size.flatten(2).gather(2, gather).squeeze(-1)
    offset = head.offset.flatten(2).gather(2, gather).squeeze(-1)
    row = torch.div(index, width, rounding_mode="floor").to(size.dtype)
    col = (index % width).to(size.dtype)
    return torch.stack(((col + offset[:, 0]) / width, (row + offset[:, 1]) / height, size[:, 0], size[:, 1]), dim=1)


def peak_boxes(head: HeadOutput, score: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(boxes (N, 4), flat peak index (N,))`` at the maximum of ``score`` (default: the head's score map;
    the tracker passes the Hanning-windowed one)."""
    score = head.score if score is None else score
    index = score.flatten(1).argmax(dim=1)
    return boxes_at(head, index), index
