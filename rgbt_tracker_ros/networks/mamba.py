"""Mamba layers (selective state spaces, Gu & Dao 2023) behind one interface with interchangeable scan backends.

The selective scan (Mamba's S6, Alg. 2) maps ``x (B, L, D)`` with input-dependent step ``delta (B, L, D)``,
input and output projections ``B, C (B, L, N)``, a diagonal state matrix ``A (D, N)`` (negative reals) and a
skip ``D (D,)`` to ``y (B, L, D)``::

    h_t = exp(delta_t A) * h_{t-1} + delta_t B_t x_t        (zero-order hold, h_0 = 0)
    y_t = C_t . h_t + D x_t

Backends (:func:`selective_scan`; every layer here calls it, so all of them switch together):

* ``mambapy``: the pure-PyTorch Blelloch parallel scan of the ``mambapy`` package (``mambapy.pscan``): any
  device, differentiable, ``O(B L D N)`` memory. The discretisation and the read-out ``C_t . h_t`` around it
  are written here as element-wise products, so ``FlopCounterMode`` never counts part of a scan (the scan's
  cost is counted analytically, :func:`scan_flops`).
* ``mamba_ssm``: the fused CUDA kernel ``selective_scan_fn`` of the ``mamba-ssm`` package, for CUDA tensors
  when the package is importable.
* ``auto`` (the default): ``mamba_ssm`` for CUDA tensors when it is importable, else ``mambapy``.

The layer (:class:`MambaMixer`) is Mamba v1's block as in ``mamba_ssm.modules.mamba_simple.Mamba``:
``in_proj`` to two branches, a causal depth-wise ``conv1d`` + SiLU, ``x_proj`` to ``(dt, B, C)``,
``dt_proj`` + softplus, the scan, gating by ``SiLU(z)`` and ``out_proj``, with its initialisation (S4D-real
``A``, ``dt`` log-uniform in [1e-3, 1e-1]). :class:`SelectiveSSM` is the part between the projections, so
that a layer with several scans over one projected input (AINet's OFM) reuses it.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.config import SCAN_BACKENDS


@functools.lru_cache(maxsize=None)
def _mamba_ssm_kernel() -> Optional[Callable[..., torch.Tensor]]:
    """``mamba_ssm``'s ``selective_scan_fn``, or ``None`` when the package (or its CUDA build) is missing."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # ImportError, or an extension built for another torch / CUDA
        return None
    return selective_scan_fn


def available_backends() -> tuple[str, ...]:
    """The concrete backends that can run here (``mambapy`` always; ``mamba_ssm`` with CUDA and the package)."""
    usable = ["mambapy"]
    if _mamba_ssm_kernel() is not None and torch.cuda.is_available():
        usable.append("mamba_ssm")
    return tuple(usable)


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend for tensors on ``device``; :class:`InputError` for an unknown or unusable one."""
    if backend not in SCAN_BACKENDS:
        raise InputError(f"unknown selective-scan backend {backend!r}; choose one of {', '.join(SCAN_BACKENDS)}")
    if backend == "auto":
        return "mamba_ssm" if device.type == "cuda" and _mamba_ssm_kernel() is not None else "mambapy"
    if backend == "mamba_ssm":
        if _mamba_ssm_kernel() is None:
            raise InputError("selective-scan backend 'mamba_ssm' requested but the mamba-ssm package is not "
                             "importable (pip install mamba-ssm on a CUDA machine); use 'auto' or 'mambapy'")
        if device.type != "cuda":
            raise InputError(f"selective-scan backend 'mamba_ssm' runs on CUDA tensors only, got {device}")
    return backend


def selective_scan(x: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """The selective scan of the module docstring, in float32, returned in ``x``'s dtype.

    Args:
        x, delta: ``(batch, L, D)`` input and step (already ``softplus``-ed, bias included).
        A: ``(D, N)`` state matrix (negative); B, C: ``(batch, L, N)``; D: ``(D,)`` skip.
        backend: one of :data:`SCAN_BACKENDS`.
    """
    if x.dim() != 3 or delta.shape != x.shape or B.dim() != 3 or C.shape != B.shape or B.shape[:2] != x.shape[:2]:
        raise InputError(f"selective_scan: x/delta (B, L, D) and B/C (B, L, N) expected, got x {tuple(x.shape)}, "
                         f"delta {tuple(delta.shape)}, B {tuple(B.shape)}, C {tuple(C.shape)}")
    if A.shape != (x.shape[2], B.shape[2]) or D.shape != (x.shape[2],):
        raise InputError(f"selective_scan: A must be (D, N) = {(x.shape[2], B.shape[2])} and D ({x.shape[2]},), "
                         f"got {tuple(A.shape)} and {tuple(D.shape)}")
    dtype = x.dtype
    x, delta, A, B, C, D = (t.float() for t in (x, delta, A, B, C, D))
    if resolve_backend(backend, x.device) == "mamba_ssm":
        kernel = _mamba_ssm_kernel()
        y = kernel(x.transpose(1, 2).contiguous(), delta.transpose(1, 2).contiguous(), A.contiguous(),
                   B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous(), D.contiguous())
        return y.transpose(1, 2).to(dtype)
    from mambapy.pscan import pscan

    decay = torch.exp(delta.unsqueeze(-1) * A)  # (B, L, D, N): exp(delta_t A)
    drive = (delta * x).unsqueeze(-1) * B.unsqueeze(2)  # (B, L, D, N): delta_t B_t x_t
    states = pscan(decay, drive)  # h_t for every t
    y = (states * C.unsqueeze(2)).sum(-1) + D * x
    return y.to(dtype)


def scan_flops(batch: int, length: int, channels: int, state: int) -> int:
    """FLOPs of one selective scan, mamba-ssm's own estimate (``9 B L D N`` + the skip ``D x``)."""
    return 9 * batch * length * channels * state + 2 * batch * length * channels


class SelectiveSSM(nn.Module):
    """One scan of a Mamba layer: causal depth-wise ``conv1d`` + SiLU, ``x_proj`` -> ``(dt, B, C)``,
    ``dt_proj`` + softplus, :func:`selective_scan` (``(B, L, d_inner) -> (B, L, d_inner)``).

    Parameter names and initialisation follow ``mamba_ssm``'s ``Mamba`` (``conv1d``, ``x_proj``, ``dt_proj``,
    ``A_log``, ``D``).
    """

    def __init__(self, d_inner: int, d_state: int = 16, d_conv: int = 4, dt_rank: Optional[int] = None,
                 dt_min: float = 1e-3, dt_max: float = 1e-1, backend: str = "auto"):
        super().__init__()
        if backend not in SCAN_BACKENDS:
            raise InputError(f"unknown selective-scan backend {backend!r}; choose one of {', '.join(SCAN_BACKENDS)}")
        self.d_state = d_state
        self.dt_rank = dt_rank or math.ceil(d_inner / 16)
        self.backend = backend
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        bound = self.dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :length].transpose(1, 2))
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        return selective_scan(x, delta, -torch.exp(self.A_log.float()), B, C, self.D, self.backend)


class MambaMixer(nn.Module):
    """Mamba v1 layer ``(B, L, d_model) -> (B, L, d_model)``: ``out_proj(SSM(x) * SiLU(z))`` with
    ``x, z = in_proj(u)`` (``d_inner = expand * d_model``)."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, backend: str = "auto"):
        super().__init__()
        d_inner = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.ssm = SelectiveSSM(d_inner, d_state, d_conv, backend=backend)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(u).chunk(2, dim=-1)
        return self.out_proj(self.ssm(x) * F.silu(z))


def set_scan_backend(module: nn.Module, backend: str) -> None:
    """Switch every :class:`SelectiveSSM` inside ``module`` to ``backend`` (one of :data:`SCAN_BACKENDS`)."""
    if backend not in SCAN_BACKENDS:
        raise InputError(f"unknown selective-scan backend {backend!r}; choose one of {', '.join(SCAN_BACKENDS)}")
    for child in module.modules():
        if isinstance(child, SelectiveSSM):
            child.backend = backend
