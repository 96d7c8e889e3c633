"""Model checkpoints that carry their config, code version and training-data description.

One format for both model families: the stored config's ``kind`` says which network it rebuilds
(``student`` / ``teacher``: :class:`~.models.RGBTDiMPNet`; ``ainet``: :class:`~.ainet.AINet`), so
``load_checkpoint`` and everything above it (trackers, ``info``, training) need no other hint.

File format (``torch.save`` of plain containers and tensors only, so that loading uses
``torch.load(..., weights_only=True)`` and never executes code from the file; a robot may be handed
a model file):

``{"format": FORMAT, "config": <config>.to_dict(), "code_version": str, "training_data": str,
"extra": dict, "created": ISO-8601 str, "dtype": "float32" | "float16", "state_dict": {...}}``

``fp16=True`` stores floating tensors in half precision (half the size; they are cast back to
float32 on loading).
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from rgbt_tracker_ros import __version__
from rgbt_tracker_ros.atomic_files import write_bytes_atomic
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.config import AnyConfig, build_model, config_from_dict, load_config

FORMAT = "rgbt_tracker_ros.checkpoint/1"


def save_checkpoint(path: Union[str, Path], model: nn.Module, config: Optional[AnyConfig] = None,
                    training_data: str = "", extra: Optional[dict[str, Any]] = None, fp16: bool = False) -> Path:
    """Write ``model`` to ``path`` (parent folders created); returns the path.

    ``config`` defaults to ``model.config``; ``training_data`` describes what the weights were
    trained on (e.g. ``"LasHeR train (979 videos), 50 epochs"``); ``extra`` holds JSON-like
    values only (numbers, strings, lists, dicts), e.g. epoch and loss.
    """
    config = model.config if config is None else config
    if config.architecture_differences(model.config):
        raise InputError(f"save_checkpoint: config {config.name!r} does not describe the model "
                         f"({'; '.join(config.architecture_differences(model.config))})")
    extra = dict(extra or {})
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as exc:
        raise InputError(f"save_checkpoint: extra must hold JSON-like values only ({exc})") from None
    state = {k: (v.detach().half() if fp16 and v.is_floating_point() else v.detach()).cpu().clone()
             for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "config": config.to_dict(),
        "code_version": __version__,
        "training_data": str(training_data),
        "extra": extra,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dtype": "float16" if fp16 else "float32",
        "state_dict": state,
    }
    return write_bytes_atomic(path, lambda file: torch.save(payload, file))  # never half-written


def read_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint file without building a model (safe: ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle with code, not a torch file at all
        if "weights only load failed" in str(exc).lower():
            reason = "not a plain tensor file (only tensors and plain data are ever unpickled, for safety)"
        else:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reason = first.split(". ")[0][:120]
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or foreign file?): {reason}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not an rgbt_tracker_ros checkpoint (format {found!r}, expected {FORMAT!r})")
    for key in ("config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"{path}: checkpoint lacks its {key!r}")
    return payload


def load_checkpoint(path: Union[str, Path], config: Union[None, str, Path, AnyConfig] = None,
                    map_location: Union[str, torch.device] = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model stored in ``path``; returns ``(model in eval mode, meta)``.

    ``config`` (name, path or config), when given, must describe the same architecture as the
    stored one, else :class:`CheckpointError` names the differing keys (``family`` for a config of
    the other model family). ``meta`` holds everything but the state dict (``config`` as a
    :class:`~.config.ModelConfig` or :class:`~.config.AINetConfig`). No pretrained weights are loaded
    (the checkpoint holds every weight).
    """
    payload = read_checkpoint(path, map_location="cpu")
    try:
        stored = config_from_dict(payload["config"], source=f"{path} (stored config)")
    except InputError as exc:
        raise CheckpointError(str(exc)) from None
    if config is not None:
        wanted = load_config(config)
        diffs = wanted.architecture_differences(stored)
        if diffs:
            raise CheckpointError(f"{path}: checkpoint was made for config {stored.name!r}, not {wanted.name!r}; "
                                  f"differs in {', '.join(diffs)} (requested vs stored)")
    model = build_model(stored, pretrained="none")
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        problems = (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong))
        parts = [f"{label} {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}"
                 for label, items in problems if items]
        raise CheckpointError(f"{path}: weights do not fit config {stored.name!r}: {'; '.join(parts)}")
    model.load_state_dict(state)
    model.to(map_location).eval()
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    meta["config"] = stored
    return model, meta


def load_model(path: Union[str, Path], device: Union[str, torch.device] = "cpu",
               config: Union[None, str, Path, AnyConfig] = None) -> nn.Module:
    """The model of a checkpoint, in eval mode on ``device`` (see :func:`load_checkpoint`)."""
    return load_checkpoint(path, config=config, map_location=device)[0]


def interpolate_weights(base: nn.Module, tuned: nn.Module, weight: float) -> nn.Module:
    """Set ``tuned``'s weights to ``(1 - weight) * base + weight * tuned`` (in place; returns ``tuned``).

    Weight-space interpolation between a model and its fine-tuned copy (WiSE-FT, Wortsman et al.,
    CVPR 2022): it keeps part of the base model's behaviour on its own data while taking part of what
    fine-tuning learnt. Every floating tensor is interpolated, BatchNorm running statistics included;
    integer buffers (BatchNorm's batch counters) keep ``tuned``'s values. Both models must have one
    architecture (same config).
    """
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= float(weight) <= 1.0:
        raise InputError(f"interpolation weight must be a number in [0, 1], got {weight!r}")
    diffs = tuned.config.architecture_differences(base.config)
    if diffs:
        raise CheckpointError(f"cannot interpolate config {tuned.config.name!r} with {base.config.name!r}: "
                              f"they differ in {', '.join(diffs)}")
    base_state, tuned_state = base.state_dict(), tuned.state_dict()
    mixed = {key: torch.lerp(base_state[key].to(value), value, float(weight)) if value.is_floating_point() else value
             for key, value in tuned_state.items()}
    tuned.load_state_dict(mixed)
    return tuned
