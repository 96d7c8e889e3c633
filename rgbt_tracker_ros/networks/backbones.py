"""ResNet trunks (torchvision ResNet up to ``layer3``) and ImageNet weight loading.

DiMP reads ``layer2`` (IoU-Net) and ``layer3`` (classifier, IoU-Net), so ``layer4``, ``avgpool`` and
``fc`` are never built (this is why our parameter counts are below the paper's, see
``docs/networks.md``). Levels returned: ``stem`` (conv1+bn+relu, stride 2, the paper's level 1),
``layer1`` (stride 4), ``layer2`` (stride 8, "block3"), ``layer3`` (stride 16, "block4").

Pretrained weights: ``imagenet`` loads torchvision's ``IMAGENET1K_V1`` weights only from the
torch.hub cache unless ``allow_download`` is set (so an offline robot never hangs on a download);
a path loads a torchvision state dict with ``weights_only=True``. When weights cannot be had, a
:class:`UserWarning` says so and the random initialisation stays.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

import torch
import torchvision
from torch import nn

from rgbt_tracker_ros.errors import CheckpointError

LEVELS = ("stem", "layer1", "layer2", "layer3")

_ARCHS: dict[str, tuple[Callable[..., torchvision.models.ResNet], Callable[[], object]]] = {
    "resnet18": (torchvision.models.resnet18, lambda: torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (torchvision.models.resnet34, lambda: torchvision.models.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (torchvision.models.resnet50, lambda: torchvision.models.ResNet50_Weights.IMAGENET1K_V1),
}


class ResNetTrunk(nn.Module):
    """A torchvision ResNet without ``layer4``/``avgpool``/``fc``; returns features of all levels."""

    def __init__(self, arch: str):
        super().__init__()
        full = _ARCHS[arch][0](weights=None)
        self.arch = arch
        self.conv1, self.bn1, self.relu, self.maxpool = full.conv1, full.bn1, full.relu, full.maxpool
        self.layer1, self.layer2, self.layer3 = full.layer1, full.layer2, full.layer3

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x (N, 3, H, W)`` normalised image -> ``{level: (N, C, h, w)}`` for :data:`LEVELS`."""
        stem = self.relu(self.bn1(self.conv1(x)))
        layer1 = self.layer1(self.maxpool(stem))
        layer2 = self.layer2(layer1)
        layer3 = self.layer3(layer2)
        return {"stem": stem, "layer1": layer1, "layer2": layer2, "layer3": layer3}

    def load_torchvision_state(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Load a full torchvision ResNet state dict, ignoring the unbuilt ``layer4``/``fc``."""
        kept = {k: v for k, v in state.items() if not k.startswith(("layer4.", "fc."))}
        missing, unexpected = self.load_state_dict(kept, strict=False)
        if missing or unexpected:
            what = (missing or unexpected)[:3]
            raise CheckpointError(f"{source}: not a torchvision {self.arch} state dict "
                                  f"({'missing' if missing else 'unexpected'} keys {', '.join(what)} ...)")


def cached_imagenet_file(arch: str) -> Path:
    """Where torch.hub caches torchvision's ImageNet weights for ``arch``."""
    url = _ARCHS[arch][1]().url  # type: ignore[attr-defined]
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_pretrained(trunk: ResNetTrunk, source: str, allow_download: bool = False) -> bool:
    """Initialise ``trunk`` from ``source`` (``imagenet``, ``none`` or a file path).

    Returns True when weights were loaded. A missing local file or a corrupt one raises
    :class:`CheckpointError`; uncached ImageNet weights without ``allow_download`` warn and return
    False (random initialisation).
    """
    if source in ("", "none", None):
        return False
    if source == "imagenet":
        cached = cached_imagenet_file(trunk.arch)
        if cached.is_file():
            path = cached
        elif allow_download:
            weights = _ARCHS[trunk.arch][1]()
            try:
                state = weights.get_state_dict(progress=True)  # type: ignore[attr-defined]
                trunk.load_torchvision_state(state, str(weights))
            except OSError as exc:  # no network / DNS failure
                warnings.warn(f"could not download ImageNet weights for {trunk.arch} ({exc}); "
                              f"the backbone keeps its random initialisation", stacklevel=2)
                return False
            return True
        else:
            warnings.warn(f"ImageNet weights for {trunk.arch} are not cached at {cached}; the backbone keeps "
                          f"its random initialisation (allow the download, e.g. `rgbt-tracker info "
                          f"--download-weights`, or set `pretrained: /path/to/{cached.name}`)", stacklevel=2)
            return False
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise CheckpointError(f"pretrained backbone file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle with code, ...
        raise CheckpointError(f"{path}: cannot read backbone weights ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    trunk.load_torchvision_state(state, str(path))
    return True


def unbuilt_parameter_count(arch: str) -> int:
    """Parameters of the torchvision ``arch`` that the trunk omits (``layer4`` + ``fc``).

    Added to our counts to compare with the paper, whose 19.9M / 81.0M include full ResNets.
    """
    full = _ARCHS[arch][0](weights=None)
    return sum(p.numel() for name, p in full.named_parameters() if name.startswith(("layer4.", "fc.")))
