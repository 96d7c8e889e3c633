"""AINet (seed 003: "RGBT Tracking via All-layer Multimodal Interactions with Progressive Fusion Mamba", AAAI 2025).

On OSTrack's one-stream ViT (:mod:`.vit`), shared by RGB and thermal: each modality's template and search
crops are embedded into one token sequence, and the two sequences run through the same blocks (one batch of
``2N``). After block ``i`` a DFM (:class:`~.fusion_mamba.DFM`) enhances both modalities with their difference
and hands them to block ``i + 1``; its fused output ``x^_rgb + x^_tir`` is kept. OFM
(:class:`~.fusion_mamba.OFM`) scans the fused tokens of all layers (forward, backward, order-dynamic), the
layers are summed element-wise, the sum passes the ViT's final LayerNorm (ours: the sum of ``L`` layers needs a
normalisation before the head, and OSTrack's head reads normalised tokens), and the search tokens, reshaped to
a map, go to OSTrack's center head (:mod:`.center_head`). Design decisions where the paper is silent: the
module docstrings of :mod:`.fusion_mamba` and ``docs/networks.md``.

Inputs as the DiMP networks: ``rgb (N, 3, H, W)`` and ``thermal (N, 1, H, W)`` in [0, 1], normalised inside
with the ImageNet statistics (thermal replicated to 3 channels: one set of weights for both modalities).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import torch
from torch import nn

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.center_head import CenterHead, HeadOutput, peak_boxes
from rgbt_tracker_ros.networks.config import AINetConfig
from rgbt_tracker_ros.networks.fusion_mamba import DFM, OFM, SCAN_NAMES
from rgbt_tracker_ros.networks.mamba import set_scan_backend
from rgbt_tracker_ros.networks.models import IMAGENET_MEAN, IMAGENET_STD
from rgbt_tracker_ros.networks.vit import ViTBackbone


@dataclass
class AINetFeatures:
    """What AINet computed on a batch, for the tracker's diagnostics, teacher bundles and distillation.

    Attributes:
        rgb / tir: per layer ``layer1`` .. ``layerL``: the DFM-enhanced search-region tokens of each modality
            as maps ``(N, C, H, W)`` (``H = W = search_size / patch_size``).
        fused: per layer the DFM fusion ``x^_rgb + x^_tir`` as maps, and ``ofm``: the summed, normalised OFM
            output the head reads.
        dfm_gates: ``(N, L)`` mean ``|act(Mamba(x_d))|`` per layer: how strongly DFM compensated.
        ofm_weights: ``(N, 3)`` OFM's fusion weights of its forward, backward and dynamic scans.
        layer_order: ``(N, L)`` the predicted scan order of the dynamic scan (0-based layer indices).
    """

    rgb: dict[str, torch.Tensor]
    tir: dict[str, torch.Tensor]
    fused: dict[str, torch.Tensor]
    dfm_gates: torch.Tensor
    ofm_weights: torch.Tensor
    layer_order: torch.Tensor
    path_names: tuple[str, ...] = field(default=SCAN_NAMES)

    def path_weights_list(self, index: int = 0) -> dict[str, list[float]]:
        """Fusion diagnostics of sample ``index`` for ``TrackResult.fusion_weights``: ``ofm`` (forward, backward,
        dynamic scan weights), ``ofm_order`` (layer indices in scan order) and ``dfm`` (gate per layer)."""
        return {"ofm": [float(v) for v in self.ofm_weights[index].detach().cpu()],
                "ofm_order": [float(v) for v in self.layer_order[index].cpu()],
                "dfm": [float(v) for v in self.dfm_gates[index].detach().cpu()]}


@dataclass
class AINetOutput:
    """AINet's prediction for a batch.

    Attributes:
        head: the center head's maps (score ``(N, 1, H, W)``, size, offset).
        boxes: ``(N, 4)`` ``[cx, cy, w, h]`` as fractions of the search crop, read at the score peak (OSTrack's
            training and inference box).
        features: :class:`AINetFeatures`.
    """

    head: HeadOutput
    boxes: torch.Tensor
    features: AINetFeatures


class AINet(nn.Module):
    """AINet (see the module docstring). ``config`` fixes every shape; :func:`load_pretrained` starts it from
    a ViT or OSTrack checkpoint when ``config.pretrained`` names one."""

    def __init__(self, config: AINetConfig):
        super().__init__()
        self.config = config
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)
        c = config
        self.backbone = ViTBackbone(c)
        self.dfm = nn.ModuleList(DFM(c.embed_dim, c.d_state, c.d_conv, c.expand, c.dfm_activation, c.scan_backend)
                                 for _ in range(c.depth))
        self.ofm = OFM(c.embed_dim, c.depth, c.d_state, c.d_conv, c.expand, c.order_dim, c.order_hidden,
                       c.order_temperature, c.scan_backend)
        self.box_head = CenterHead(c.embed_dim, c.head_channels)
        #: True when the network was initialised from a pre-trained checkpoint.
        self.backbone_pretrained = load_pretrained(self, c.pretrained)

    def set_scan_backend(self, backend: str) -> None:
        """Run every selective scan with ``backend`` (``auto``, ``mambapy``, ``mamba_ssm``)."""
        set_scan_backend(self, backend)

    def normalize(self, rgb: torch.Tensor, thermal: torch.Tensor, what: str) -> torch.Tensor:
        """``(2N, 3, H, W)``: ImageNet-normalised RGB, then the replicated thermal image."""
        if rgb.dim() != 4 or rgb.shape[1] != 3 or thermal.dim() != 4 or thermal.shape[1] != 1:
            raise InputError(f"{what}: rgb must be (N, 3, H, W) and thermal (N, 1, H, W) in [0, 1], got "
                             f"{tuple(rgb.shape)} and {tuple(thermal.shape)}")
        if rgb.shape[0] != thermal.shape[0] or rgb.shape[-2:] != thermal.shape[-2:]:
            raise InputError(f"{what}: rgb {tuple(rgb.shape)} and thermal {tuple(thermal.shape)} differ in batch or size")
        both = torch.cat((rgb, thermal.expand(-1, 3, -1, -1)), dim=0)
        return (both - self.pixel_mean) / self.pixel_std

    def forward(self, template_rgb: torch.Tensor, template_tir: torch.Tensor, search_rgb: torch.Tensor,
                search_tir: torch.Tensor) -> AINetOutput:
        """Template crops ``(N, 3|1, Hz, Wz)`` and search crops ``(N, 3|1, Hx, Wx)`` in [0, 1] -> :class:`AINetOutput`."""
        c = self.config
        n = template_rgb.shape[0]
        if search_rgb.shape[0] != n:
            raise InputError(f"template batch {n} and search batch {search_rgb.shape[0]} differ")
        tokens = self.backbone.embed(self.normalize(template_rgb, template_tir, "template"),
                                     self.normalize(search_rgb, search_tir, "search"))
        num_template = c.template_grid ** 2
        grid = c.search_grid
        rgb_maps, tir_maps, fused_maps, fused_layers, gates = {}, {}, {}, [], []
        for index, (block, dfm) in enumerate(zip(self.backbone.blocks, self.dfm), start=1):
            tokens = block(tokens)
            layer = dfm(tokens[:n], tokens[n:])
            tokens = torch.cat((layer.rgb, layer.tir), dim=0)
            fused_layers.append(layer.fused)
            gates.append(layer.gate.abs().mean(dim=(1, 2)))
            level = f"layer{index}"
            rgb_maps[level], tir_maps[level], fused_maps[level] = (
                _search_map(t, num_template, grid) for t in (layer.rgb, layer.tir, layer.fused))
        ofm = self.ofm(torch.stack(fused_layers, dim=1))
        summed = self.backbone.norm(ofm.tokens.sum(dim=1))
        fused_maps["ofm"] = _search_map(summed, num_template, grid)
        head = self.box_head(fused_maps["ofm"])
        boxes, _ = peak_boxes(head)
        features = AINetFeatures(rgb=rgb_maps, tir=tir_maps, fused=fused_maps, dfm_gates=torch.stack(gates, dim=1),
                                 ofm_weights=ofm.weights, layer_order=ofm.order)
        return AINetOutput(head=head, boxes=boxes, features=features)


def _search_map(tokens: torch.Tensor, num_template: int, grid: int) -> torch.Tensor:
    """The search-region tokens of ``(N, Nz + Nx, C)`` as a map ``(N, C, grid, grid)``."""
    search = tokens[:, num_template:]
    return search.transpose(1, 2).reshape(search.shape[0], search.shape[2], grid, grid)


def load_pretrained(model: AINet, source: Union[str, Path, None]) -> bool:
    """Start ``model`` from the checkpoint ``source`` (``none``/empty: leave it); True when weights were loaded.

    The one place where AINet's pre-trained weights come in. The file's kind is recognised from its keys: an
    OSTrack / DropTrack tracker checkpoint (a ``net`` state dict with ``backbone.*`` keys,
    :mod:`.import_ostrack`) or a ViT state dict (timm, MAE, DropMAE; possibly under ``model`` /
    ``state_dict``; ``.safetensors`` too: :mod:`.import_timm`). Modules without a counterpart (DFM, OFM, and the
    head for a ViT) keep their initialisation. Raises :class:`~rgbt_tracker_ros.errors.CheckpointError` for a
    missing, unreadable, unsafe or unfitting file.
    """
    if source in (None, "", "none"):
        return False
    from rgbt_tracker_ros.networks.foreign_checkpoints import read_weights
    from rgbt_tracker_ros.networks.import_ostrack import OSTRACK_PACKAGES, is_ostrack_payload, ostrack_state
    from rgbt_tracker_ros.networks.import_timm import vit_state

    path = Path(source).expanduser()
    payload, _ = read_weights(path, OSTRACK_PACKAGES, "ViT / OSTrack")
    state, _report = (ostrack_state if is_ostrack_payload(payload) else vit_state)(payload, model, path)
    model.load_state_dict({**model.state_dict(), **state})
    return True
