"""Import ViT weights of timm, MAE and DropMAE (ViT-B/16 and smaller) into AINet's shared backbone.

Source layout: timm's ``VisionTransformer`` state dict (``.pth`` or ``.safetensors``), also under a
``model`` (MAE / DropMAE ``mae_pretrain_vit_base.pth``) or ``state_dict`` entry:

* ``patch_embed.proj.{weight, bias}``, ``blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}.*``,
  ``norm.*``: the same names under our ``backbone.`` (:mod:`.vit`);
* ``pos_embed (1, 1 + G*G, C)`` (with the class token's slot; ``1 + 14*14`` at 224 px): its grid is resized
  bicubically (``align_corners=False``) to the template grid (``pos_embed_z``, 8x8) and to the search grid
  (``pos_embed_x``, 16x16), as OSTrack's ``finetune_track`` does once before training;
* dropped: ``cls_token`` (OSTrack uses no class token), ``head.*`` / ``fc_norm.*`` / ``pre_logits.*`` (the
  classifier), MAE / DropMAE's ``decoder*`` and ``mask_token`` (DropTrack deletes them the same way), any
  block beyond the config's depth;
* initialised: DFM, OFM and the center head (no counterpart), and blocks a shallower source lacks.

The mapping is :func:`vit_state` (timm's ``checkpoint_filter_fn`` idea, beside the model it feeds);
:func:`import_timm` builds a model with it for ``rgbt-tracker import-weights --from timm|mae|dropmae``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Union

import torch
import torch.nn.functional as F

from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.config import AINetConfig, AnyConfig, build_model, load_config
from rgbt_tracker_ros.networks.foreign_checkpoints import ImportReport, read_weights

#: Source keys (prefixes) with no place in AINet, and why.
DROPPED = {
    "cls_token": "OSTrack's one-stream ViT uses no class token",
    "dist_token": "OSTrack's one-stream ViT uses no distillation token",
    "head": "the ImageNet classifier (AINet has the center head instead)",
    "head_dist": "the ImageNet classifier (AINet has the center head instead)",
    "fc_norm": "the norm of the pooled classifier feature (not the tokens' norm)",
    "pre_logits": "the ImageNet classifier (AINet has the center head instead)",
    "mask_token": "MAE / DropMAE pre-training only",
    "decoder": "MAE / DropMAE decoder (pre-training only; DropTrack deletes it too)",
}
_NAMED = ("patch_embed.", "blocks.", "norm.")


def unwrap_state(payload: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a ViT weight file (the file itself, or its ``model`` / ``state_dict`` entry)."""
    state = payload
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        found = sorted(map(str, payload))[:8] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a ViT state dict (found {found})")
    if all(k.startswith("module.") for k in state):  # saved from a DataParallel / DDP wrapper
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def resize_grid(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """Position embeddings ``(1, G*G, C)`` of a square grid resized bicubically to ``(1, grid*grid, C)``."""
    old = math.isqrt(pos_embed.shape[1])
    if old * old != pos_embed.shape[1]:
        raise CheckpointError(f"position embeddings of {pos_embed.shape[1]} tokens are no square grid")
    if old == grid:
        return pos_embed.clone()
    maps = pos_embed.reshape(1, old, old, -1).permute(0, 3, 1, 2).float()
    maps = F.interpolate(maps, size=(grid, grid), mode="bicubic", align_corners=False)
    return maps.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(pos_embed.dtype)


def grid_tokens(pos_embed: torch.Tensor) -> torch.Tensor:
    """The grid part of a timm ``pos_embed``: without its class-token slot when it has one."""
    count = pos_embed.shape[1]
    if math.isqrt(count) ** 2 == count:
        return pos_embed
    if math.isqrt(count - 1) ** 2 == count - 1:
        return pos_embed[:, 1:]
    raise CheckpointError(f"pos_embed of {count} tokens is neither a square grid nor a grid + class token")


def fill(target: dict[str, torch.Tensor], filled: dict[str, torch.Tensor], source_key: str, source_shape: Any,
         values: dict[str, torch.Tensor], report: ImportReport, mismatched: list[str]) -> None:
    """Put each of ``values`` (our key -> tensor made from ``source_key``) in ``filled`` when its shape fits
    (else note the mismatch) and record the mapping."""
    for ours, value in values.items():
        if ours not in target:
            mismatched.append(f"{source_key} has no place in config {report.config!r}")
        elif target[ours].shape != value.shape:
            mismatched.append(f"{source_key} {tuple(value.shape)} vs {ours} {tuple(target[ours].shape)}")
        else:
            filled[ours] = value.to(target[ours].dtype)
    report.mapped.append({"source": source_key, "targets": list(values), "shape": list(source_shape)})


def finish(report: ImportReport, target: dict[str, torch.Tensor], filled: dict[str, torch.Tensor],
           mismatched: list[str], path: Path) -> dict[str, torch.Tensor]:
    """Raise for mismatched shapes, record our keys left at initialisation; returns ``filled``."""
    if mismatched:
        more = f" (+{len(mismatched) - 3} more)" if len(mismatched) > 3 else ""
        raise CheckpointError(f"{path}: does not fit config {report.config!r}: {'; '.join(mismatched[:3])}{more}")
    reasons = {"dfm": "DFM has no counterpart in the source (fresh initialisation)",
               "ofm": "OFM has no counterpart in the source (fresh initialisation)",
               "box_head": "the center head has no counterpart in the source (fresh initialisation)"}
    for key, value in target.items():
        if key not in filled:
            reason = reasons.get(key.split(".")[0], "not in the checkpoint (left at initialisation)")
            report.initialised.append({"target": key, "shape": list(value.shape), "reason": reason})
    return filled


def vit_state(payload: Any, model: torch.nn.Module, path: Path,
              source: str = "timm") -> tuple[dict[str, torch.Tensor], ImportReport]:
    """Map a ViT weight file's content onto ``model`` (an AINet): ``(our keys -> tensors, report)``.

    Raises :class:`CheckpointError` for a file that is no ViT state dict or whose shapes do not fit.
    """
    state = unwrap_state(payload, path)
    config: AINetConfig = model.config
    target = model.state_dict()
    blocks = {int(k.split(".")[1]) for k in state if k.startswith("blocks.")}
    report = ImportReport(source_file=path.name, network=f"ViT ({len(blocks)} blocks)", config=config.name,
                          source=source)
    report.checkpoint = {"embed_dim": int(state["patch_embed.proj.weight"].shape[0])
                         if "patch_embed.proj.weight" in state else None}
    filled: dict[str, torch.Tensor] = {}
    mismatched: list[str] = []
    for key, value in state.items():
        top = key.split(".")[0]
        if key == "pos_embed":
            grid = grid_tokens(value)
            fill(target, filled, key, value.shape, {"backbone.pos_embed_z": resize_grid(grid, config.template_grid),
                                                    "backbone.pos_embed_x": resize_grid(grid, config.search_grid)},
                 report, mismatched)
        elif top in DROPPED or top.startswith("decoder"):
            report.dropped.append({"source": key, "shape": list(value.shape),
                                   "reason": DROPPED.get(top, DROPPED["decoder"])})
        elif key.startswith("blocks.") and int(key.split(".")[1]) >= config.depth:
            report.dropped.append({"source": key, "shape": list(value.shape),
                                   "reason": f"block beyond the config's depth {config.depth}"})
        elif key.startswith(_NAMED):
            fill(target, filled, key, value.shape, {"backbone." + key: value}, report, mismatched)
        else:
            report.dropped.append({"source": key, "shape": list(value.shape),
                                   "reason": "no counterpart in AINet"})
    if "pos_embed" not in state:
        report.notes.append("no pos_embed in the checkpoint: the position embeddings keep their initialisation")
    report.notes.append("DFM, OFM and the center head start fresh: train (`rgbt-tracker train --init-weights OUT "
                        f"--model-config {config.name}`) before tracking")
    return finish(report, target, filled, mismatched, path), report


def import_timm(path: Union[str, Path], config: Union[str, Path, AnyConfig], seed: int = 0,
                source: str = "timm") -> tuple[torch.nn.Module, ImportReport]:
    """Build ``config``'s AINet with the ViT weights of ``path`` (timm, MAE or DropMAE: ``source``).

    Modules without a counterpart are initialised under ``torch.manual_seed(seed)``. Returns the model (eval
    mode) and the :class:`~.foreign_checkpoints.ImportReport`.
    """
    path = Path(path)
    config = load_config(config)
    if not isinstance(config, AINetConfig):
        raise InputError(f"ViT weights start an AINet config (ainet-vitb, ainet-tiny), not {config.name!r}")
    payload, _ = read_weights(path, (), "ViT (timm / MAE / DropMAE)")
    torch.manual_seed(seed)
    model = build_model(config, pretrained="none")
    state, report = vit_state(payload, model, path, source)
    model.load_state_dict({**model.state_dict(), **state})
    return model.eval(), report
