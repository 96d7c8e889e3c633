"""Import OSTrack and DropTrack tracker checkpoints (ViT-B/16, 256 px) into AINet (the paper starts from DropTrack).

Source layout (botaoye/OSTrack ``lib/models/ostrack``; DropTrack, jimmy-dq/DropTrack, is OSTrack's code with
DropMAE pre-training): a training checkpoint ``{'net': state_dict, 'epoch', 'actor_type', 'net_type',
'settings', ...}`` whose ``net`` holds

* ``backbone.patch_embed.proj.*``, ``backbone.blocks.N.*``, ``backbone.norm.*``: the same names as ours (timm's
  block layout; the CE variant's ``CEBlock`` has the same parameters);
* ``backbone.pos_embed_z (1, 64, C)`` / ``backbone.pos_embed_x (1, 256, C)``: the position embeddings
  ``finetune_track`` interpolated for the template and search grids: ours by name (resized bicubically
  when our grids differ);
* ``backbone.pos_embed`` / ``backbone.cls_token``: the pre-trained ViT's, kept but unused by OSTrack: dropped
  (used, resized, only when the checkpoint lacks ``pos_embed_z`` / ``pos_embed_x``);
* ``box_head.conv{1..5}_{ctr, offset, size}.*``: the center head, by name (its width, ``head_channels``, must
  be the checkpoint's: 256 for the released ViT-B models).

DFM and OFM have no counterpart and start fresh. Reading: the ``settings`` entry pickles classes of OSTrack's
``lib`` package, which are read as inert placeholders (:mod:`.foreign_checkpoints`); nothing is run. A
checkpoint that pickles other objects (e.g. ``easydict``) is refused naming them: load it in OSTrack's own
environment and save ``{'net': ckpt['net']}`` instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import torch

from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.config import AINetConfig, AnyConfig, build_model, load_config
from rgbt_tracker_ros.networks.foreign_checkpoints import ImportReport, read_weights
from rgbt_tracker_ros.networks.import_timm import finish, fill, grid_tokens, resize_grid

#: Top-level packages of OSTrack's and DropTrack's code, read as placeholders (``lib.train.admin...``).
OSTRACK_PACKAGES = ("lib",)
_NAMED = ("backbone.patch_embed.", "backbone.blocks.", "backbone.norm.", "box_head.")


def is_ostrack_payload(payload: Any) -> bool:
    """True for an OSTrack-style checkpoint: a ``net`` state dict with ``backbone.*`` keys."""
    net = payload.get("net") if isinstance(payload, dict) else None
    return isinstance(net, dict) and any(str(k).startswith("backbone.") for k in net)


def ostrack_state(payload: Any, model: torch.nn.Module, path: Path,
                  source: str = "ostrack") -> tuple[dict[str, torch.Tensor], ImportReport]:
    """Map an OSTrack / DropTrack checkpoint's ``net`` onto ``model`` (an AINet): ``(our keys -> tensors, report)``."""
    if not is_ostrack_payload(payload):
        found = sorted(map(str, payload))[:8] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not an OSTrack / DropTrack checkpoint (expected a 'net' state dict with "
                              f"backbone.* keys; found {found})")
    net = {k: v for k, v in payload["net"].items()}
    bad = [k for k, v in net.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: 'net' entry {bad[0]!r} is not a tensor")
    if all(k.startswith("module.") for k in net):
        net = {k[len("module."):]: v for k, v in net.items()}
    config: AINetConfig = model.config
    target = model.state_dict()
    blocks = {int(k.split(".")[2]) for k in net if k.startswith("backbone.blocks.")}
    report = ImportReport(source_file=path.name, network=f"OSTrack ({len(blocks)} blocks)", config=config.name,
                          source=source)
    report.checkpoint = {key: payload.get(key) for key in ("epoch", "actor_type", "net_type")
                         if isinstance(payload.get(key), (str, int, float))}
    has_split = "backbone.pos_embed_z" in net and "backbone.pos_embed_x" in net
    grids = {"backbone.pos_embed_z": config.template_grid, "backbone.pos_embed_x": config.search_grid}
    filled: dict[str, torch.Tensor] = {}
    mismatched: list[str] = []
    for key, value in net.items():
        if key in grids:
            fill(target, filled, key, value.shape, {key: resize_grid(value, grids[key])}, report, mismatched)
        elif key == "backbone.pos_embed" and not has_split:
            grid = grid_tokens(value)
            fill(target, filled, key, value.shape, {ours: resize_grid(grid, size) for ours, size in grids.items()},
                 report, mismatched)
        elif key in ("backbone.pos_embed", "backbone.cls_token"):
            report.dropped.append({"source": key, "shape": list(value.shape),
                                   "reason": "the pre-trained ViT's, kept by OSTrack but unused"})
        elif key.startswith("backbone.blocks.") and int(key.split(".")[2]) >= config.depth:
            report.dropped.append({"source": key, "shape": list(value.shape),
                                   "reason": f"block beyond the config's depth {config.depth}"})
        elif key.startswith(_NAMED):
            fill(target, filled, key, value.shape, {key: value}, report, mismatched)
        else:
            report.dropped.append({"source": key, "shape": list(value.shape), "reason": "no counterpart in AINet"})
    report.notes.append("DFM and OFM start fresh, so the head sees fused features it was not trained on: train "
                        f"(`rgbt-tracker train --init-weights OUT --model-config {config.name}`) before tracking")
    return finish(report, target, filled, mismatched, path), report


def import_ostrack(path: Union[str, Path], config: Union[str, Path, AnyConfig], seed: int = 0,
                   source: str = "ostrack") -> tuple[torch.nn.Module, ImportReport]:
    """Build ``config``'s AINet with the weights of the OSTrack / DropTrack checkpoint ``path``.

    DFM and OFM are initialised under ``torch.manual_seed(seed)``. Returns the model (eval mode) and the report.
    """
    path = Path(path)
    config = load_config(config)
    if not isinstance(config, AINetConfig):
        raise InputError(f"OSTrack weights start an AINet config (ainet-vitb, ainet-tiny), not {config.name!r}")
    payload, placeholders = read_weights(path, OSTRACK_PACKAGES, "OSTrack / DropTrack")
    torch.manual_seed(seed)
    model = build_model(config, pretrained="none")
    state, report = ostrack_state(payload, model, path, source)
    report.placeholders = placeholders
    model.load_state_dict({**model.state_dict(), **state})
    return model.eval(), report
