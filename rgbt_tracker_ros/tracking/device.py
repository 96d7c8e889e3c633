"""Choice of the torch device the trackers run on."""
from __future__ import annotations

import torch

from rgbt_tracker_ros.errors import InputError

#: Values accepted by :func:`resolve_device` (and ``--device``).
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``; ``"cuda"`` / ``"cuda:N"``.

    Raises :class:`InputError` for an unknown name or for CUDA requested on a machine without it.
    """
    if isinstance(device, torch.device):
        name = str(device)
    else:
        name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
        try:
            resolved = torch.device(name)
        except RuntimeError as exc:
            raise InputError(f"invalid CUDA device {name!r}") from exc
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise InputError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
        return resolved
    raise InputError(f"unknown device {device!r}; use one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
