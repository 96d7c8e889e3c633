"""The one-stream ViT of OSTrack (Ye et al., ECCV 2022) with timm's blocks, shared by RGB and thermal (AINet).

A template crop (OSTrack-256: 128 px) and a search crop (256 px) are cut into 16 px patches by one patch
embedding, get separate absolute position embeddings (``pos_embed_z`` 8x8, ``pos_embed_x`` 16x16, OSTrack's
names: it interpolates them from the pre-trained 14x14 grid once, :mod:`.import_timm`) and are concatenated
into one token sequence (template first: 64 + 256 = 320 tokens) that timm ``Block`` s process jointly, so
feature extraction and template-search relation modelling are one pass. No class token (OSTrack keeps it in
its checkpoints but never uses it). Candidate elimination (OSTrack-CE) is not built: AINet's fusion reads
every token of every layer.

Parameter names are timm's / OSTrack's (``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2}``, ``norm``), so pre-trained weights map by name (:mod:`.import_timm`,
:mod:`.import_ostrack`). LayerNorm eps is 1e-6, as in timm's and OSTrack's ViT.
"""
from __future__ import annotations

import torch
from timm.layers import PatchEmbed, trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.config import AINetConfig


class ViTBackbone(nn.Module):
    """Patch + position embedding and the ViT blocks; the caller runs the blocks (AINet fuses between them)."""

    def __init__(self, config: AINetConfig):
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.patch_embed = PatchEmbed(img_size=None, patch_size=config.patch_size, in_chans=3, embed_dim=dim)
        self.pos_embed_z = nn.Parameter(torch.zeros(1, config.template_grid ** 2, dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, config.search_grid ** 2, dim))
        trunc_normal_(self.pos_embed_z, std=0.02)
        trunc_normal_(self.pos_embed_x, std=0.02)
        rates = [config.drop_path_rate * i / max(config.depth - 1, 1) for i in range(config.depth)]  # linear decay
        self.blocks = nn.ModuleList(
            Block(dim, config.num_heads, mlp_ratio=config.mlp_ratio, qkv_bias=True, drop_path=rate) for rate in rates
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(_init_vit_weights)

    def embed(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """``template (N, 3, Hz, Wz)``, ``search (N, 3, Hx, Wx)`` normalised images -> tokens ``(N, Nz + Nx, C)``."""
        c = self.config
        if template.shape[-2:] != (c.template_size,) * 2 or search.shape[-2:] != (c.search_size,) * 2:
            raise InputError(f"config {c.name!r} takes {c.template_size} px templates and {c.search_size} px search "
                             f"crops, got {tuple(template.shape[-2:])} and {tuple(search.shape[-2:])}")
        return torch.cat((self.patch_embed(template) + self.pos_embed_z,
                          self.patch_embed(search) + self.pos_embed_x), dim=1)


def _init_vit_weights(module: nn.Module) -> None:
    """timm's ViT initialisation: truncated normal (std 0.02) linear weights, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
