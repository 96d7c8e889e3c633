"""AINet's progressive fusion Mamba (seed 003, Sec. "Difference-based Fusion Mamba" and "Order-dynamic Fusion
Mamba"): DFM in every layer, OFM over all layers.

The seed's copy lacks the equations; what it states is kept, the rest is ours (also in ``docs/networks.md``):

**DFM** (:class:`DFM`), one per ViT layer ``i``, on the token sequences ``x_rgb, x_tir (N, T, C)`` of that layer
(template + search tokens, ``T`` = 320 for OSTrack-256):

* stated: the modality difference ``x_d = x_rgb - x_tir`` is fed to a Mamba (to suppress its noise and keep its
  useful part), passed through an activation, multiplied element-wise with each modality, and the products
  are added back: ``x^_rgb = x_rgb + x_rgb * a``, ``x^_tir = x_tir + x_tir * a`` with
  ``a = act(Mamba(x_d))`` (the differential amplifier: the common mode cancels in ``x_d``);
* ours: a LayerNorm before the Mamba (as every Mamba block), ``act = tanh`` (``dfm_activation``; sigmoid for
  ablation) and a zero-initialised Mamba output projection, so that ``a = 0`` and DFM is the identity at the
  start: a pre-trained OSTrack / DropTrack backbone keeps its behaviour until DFM has learnt something (with a
  sigmoid, ``a = 0.5`` at the start would scale both streams by 1.5 in every layer);
* ours: the layer's fused feature, which OFM reads, is ``x^_rgb + x^_tir`` (the ablation "w/ OFM" describes the
  per-layer fused feature as a plain addition of the modalities).

**OFM** (:class:`OFM`) on ``F_all``, the DFM outputs of all ``L`` layers concatenated along the tokens
(``(N, L T, C)``, 3840 tokens for ViT-B/16 at 256 px):

* stated: a forward scan and a backward scan (each a 1-D conv + selective scan), and an order-dynamic scan whose
  layer order is predicted from ``F_all`` by downsampling (D), an MLP and an FC, which rearranges the sequence
  layer by layer before its scan; a simple gate in the Mamba fuses the three scans; the layers are then summed
  element-wise and go to the head;
* ours, as a Mamba block: ``u = LN(F_all)``, ``x, z = in_proj(u)``, three :class:`~.mamba.SelectiveSSM` with
  their own conv / projections / ``A`` / ``D`` (Vim's bidirectional layout, extended to three), the
  dynamic scan's output put back in the original layer order, and ``out = F_all + out_proj((w_f y_f + w_b y_b
  + w_o y_o) * SiLU(z))``: Mamba's ``SiLU(z)`` gate plus per-sample scan weights ``w = softmax(fc(mean_t
  [y_f, y_b, y_o]))``, which the tracker reports as fusion weights;
* ours, the order predictor (:class:`LayerOrderPredictor`): ``D`` = mean over each layer's tokens and a linear
  map ``C -> order_dim``; MLP ``L order_dim -> order_hidden`` + GELU; FC ``order_hidden -> L`` scores; the
  order is the scores sorted in descending order;
* ours, the gradient of the order (:func:`sort_permutation`): a sort has no gradient, so the permutation matrix
  is **straight-through**: the forward pass applies the exact hard permutation (the scan sees whole layers in a
  strict order, as the paper describes, and training and inference scan the same sequence), the backward pass
  takes the gradient of SoftSort (Prillo & Eisenschlos, ICML 2020), ``P_soft = softmax(-|sort(s)_i - s_j| /
  tau)``, whose rows approach the hard permutation as ``tau`` falls. A soft permutation in the forward pass
  (Gumbel-Sinkhorn, SoftSort alone) would blend tokens of different layers into each position, so training
  would scan mixtures that inference (hard order) never sees. ``P = P_hard + (P_soft - P_soft.detach())``
  equals ``P_hard`` exactly in the forward pass (the bracket is ``a - a == 0`` in floating point; without it,
  ``(1 + a) - a`` would round), so permuting and restoring (``P^T``) give back every token bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_tracker_ros.networks.mamba import MambaMixer, SelectiveSSM

#: Names of OFM's three scans (``scan_<name>``), in the order of its fusion weights.
SCAN_NAMES = ("forward", "backward", "dynamic")


@dataclass
class DFMOutput:
    """One layer's DFM: the enhanced modalities ``rgb``, ``tir`` and their sum ``fused`` (all ``(N, T, C)``),
    and the difference gate ``gate = act(Mamba(x_d))``."""

    rgb: torch.Tensor
    tir: torch.Tensor
    fused: torch.Tensor
    gate: torch.Tensor


class DFM(nn.Module):
    """Difference-based fusion Mamba (see the module docstring)."""

    def __init__(self, dim: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, activation: str = "tanh",
                 backend: str = "auto"):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mamba = MambaMixer(dim, d_state, d_conv, expand, backend)
        nn.init.zeros_(self.mamba.out_proj.weight)  # a = act(0): identity at the start for tanh
        self.activation = torch.tanh if activation == "tanh" else torch.sigmoid

    def forward(self, x_rgb: torch.Tensor, x_tir: torch.Tensor) -> DFMOutput:
        gate = self.activation(self.mamba(self.norm(x_rgb - x_tir)))
        rgb, tir = x_rgb + x_rgb * gate, x_tir + x_tir * gate
        return DFMOutput(rgb=rgb, tir=tir, fused=rgb + tir, gate=gate)


def sort_permutation(scores: torch.Tensor, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(P (N, L, L), order (N, L))``: the layers sorted by descending ``scores (N, L)``.

    Row ``i`` of ``P`` selects the layer scanned ``i``-th (``P[n, i, order[n, i]] = 1``). Straight-through:
    the values are the hard permutation, the gradient is SoftSort's (module docstring).
    """
    order = scores.argsort(dim=-1, descending=True)
    hard = F.one_hot(order, scores.shape[-1]).to(scores.dtype)
    ranked = scores.gather(-1, order)
    soft = torch.softmax(-(ranked.unsqueeze(-1) - scores.unsqueeze(-2)).abs() / temperature, dim=-1)
    return hard + (soft - soft.detach()), order  # the bracket is exactly 0: the values stay exactly hard


def permute_layers(tokens: torch.Tensor, permutation: torch.Tensor, layers: int) -> torch.Tensor:
    """Reorder ``tokens (N, L T, D)`` layer by layer: block ``i`` of the result is ``sum_j P[i, j]`` block ``j``.
    Restore the original order with ``permutation.transpose(1, 2)``."""
    n, length, channels = tokens.shape
    blocks = tokens.reshape(n, layers, (length // layers) * channels)
    return torch.bmm(permutation.to(tokens.dtype), blocks).reshape(n, length, channels)


class LayerOrderPredictor(nn.Module):
    """OFM's scan-order prediction: downsample (per-layer token mean + linear ``C -> order_dim``), MLP, FC ->
    one score per layer ``(N, L)``."""

    def __init__(self, dim: int, layers: int, order_dim: int = 64, hidden: int = 256):
        super().__init__()
        self.layers = layers
        self.down = nn.Linear(dim, order_dim)
        self.mlp = nn.Sequential(nn.Linear(layers * order_dim, hidden), nn.GELU())
        self.fc = nn.Linear(hidden, layers)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n, length, channels = tokens.shape
        per_layer = tokens.reshape(n, self.layers, length // self.layers, channels).mean(dim=2)
        return self.fc(self.mlp(self.down(per_layer).flatten(1)))


@dataclass
class OFMOutput:
    """OFM's result: ``tokens (N, L, T, C)`` per layer, the scan ``order (N, L)`` (layer indices, first scanned
    first) and the fusion ``weights (N, 3)`` of the forward, backward and dynamic scans."""

    tokens: torch.Tensor
    order: torch.Tensor
    weights: torch.Tensor


class OFM(nn.Module):
    """Order-dynamic fusion Mamba over all layers' DFM outputs (see the module docstring)."""

    def __init__(self, dim: int, layers: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 order_dim: int = 64, order_hidden: int = 256, temperature: float = 1.0, backend: str = "auto"):
        super().__init__()
        d_inner = expand * dim
        self.layers = layers
        self.temperature = temperature
        self.norm = nn.LayerNorm(dim)
        self.in_proj = nn.Linear(dim, 2 * d_inner, bias=False)
        self.scan_forward = SelectiveSSM(d_inner, d_state, d_conv, backend=backend)
        self.scan_backward = SelectiveSSM(d_inner, d_state, d_conv, backend=backend)
        self.scan_dynamic = SelectiveSSM(d_inner, d_state, d_conv, backend=backend)
        self.order = LayerOrderPredictor(dim, layers, order_dim, order_hidden)
        self.gate = nn.Linear(3 * d_inner, 3)
        self.out_proj = nn.Linear(d_inner, dim, bias=False)

    def forward(self, layer_tokens: torch.Tensor) -> OFMOutput:
        """``layer_tokens (N, L, T, C)``: the fused tokens of every layer, first layer first."""
        n, layers, tokens, channels = layer_tokens.shape
        f_all = layer_tokens.reshape(n, layers * tokens, channels)
        u = self.norm(f_all)
        x, z = self.in_proj(u).chunk(2, dim=-1)
        y_forward = self.scan_forward(x)
        y_backward = self.scan_backward(x.flip(1)).flip(1)
        permutation, order = sort_permutation(self.order(u), self.temperature)
        y_dynamic = permute_layers(self.scan_dynamic(permute_layers(x, permutation, layers)),
                                   permutation.transpose(1, 2), layers)
        scans = torch.stack((y_forward, y_backward, y_dynamic), dim=1)  # (N, 3, L T, D)
        weights = torch.softmax(self.gate(scans.mean(dim=2).flatten(1)), dim=1)
        fused = (scans * weights[:, :, None, None]).sum(dim=1) * F.silu(z)
        out = f_all + self.out_proj(fused)
        return OFMOutput(tokens=out.reshape(n, layers, tokens, channels), order=order, weights=weights)
