"""Weights users have -> AINet: timm / MAE / DropMAE ViT state dicts and OSTrack / DropTrack tracker checkpoints,
with their projects' key names and ViT-B/16 shapes written out here (timm ``VisionTransformer``; OSTrack
``lib/models/ostrack/vit.py`` + ``base_backbone.finetune_track`` + ``lib/models/layers/head.py``)."""
from __future__ import annotations

import contextlib
import io
import json
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from timm.models.vision_transformer import VisionTransformer

from rgbt_tracker_ros.cli.main import main
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.ainet import load_pretrained
from rgbt_tracker_ros.networks.checkpoint import load_checkpoint
from rgbt_tracker_ros.networks.config import AINetConfig, build_model, load_config
from rgbt_tracker_ros.networks.import_ostrack import import_ostrack, ostrack_state
from rgbt_tracker_ros.networks.import_timm import import_timm, vit_state

pytestmark = pytest.mark.usefixtures("one_thread")

MICRO = AINetConfig(name="micro", embed_dim=32, depth=2, num_heads=2, template_size=32, search_size=64, d_state=4,
                    order_dim=8, order_hidden=16, head_channels=16, drop_path_rate=0.0)


def vit_shapes(dim: int = 768, depth: int = 12, grid: int = 14) -> dict[str, tuple[int, ...]]:
    """timm's ``vit_base_patch16_224`` encoder keys and shapes (MAE / DropMAE's encoder has the same)."""
    shapes = {"cls_token": (1, 1, dim), "pos_embed": (1, 1 + grid * grid, dim),
              "patch_embed.proj.weight": (dim, 3, 16, 16), "patch_embed.proj.bias": (dim,)}
    for i in range(depth):
        b = f"blocks.{i}."
        shapes.update({b + "norm1.weight": (dim,), b + "norm1.bias": (dim,), b + "attn.qkv.weight": (3 * dim, dim),
                       b + "attn.qkv.bias": (3 * dim,), b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
                       b + "norm2.weight": (dim,), b + "norm2.bias": (dim,), b + "mlp.fc1.weight": (4 * dim, dim),
                       b + "mlp.fc1.bias": (4 * dim,), b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,)})
    shapes.update({"norm.weight": (dim,), "norm.bias": (dim,)})
    return shapes


def head_shapes(dim: int = 768, channels: int = 256) -> dict[str, tuple[int, ...]]:
    """OSTrack's ``CenterPredictor(inplanes=768, channel=256)`` keys and shapes."""
    widths = (dim, channels, channels // 2, channels // 4, channels // 8)
    shapes = {}
    for branch, outputs in (("ctr", 1), ("offset", 2), ("size", 2)):
        for i in range(4):
            p = f"box_head.conv{i + 1}_{branch}."
            shapes.update({p + "0.weight": (widths[i + 1], widths[i], 3, 3), p + "0.bias": (widths[i + 1],),
                           p + "1.weight": (widths[i + 1],), p + "1.bias": (widths[i + 1],),
                           p + "1.running_mean": (widths[i + 1],), p + "1.running_var": (widths[i + 1],),
                           p + "1.num_batches_tracked": ()})
        shapes.update({f"box_head.conv5_{branch}.weight": (outputs, widths[4], 1, 1),
                       f"box_head.conv5_{branch}.bias": (outputs,)})
    return shapes


def ostrack_shapes() -> dict[str, tuple[int, ...]]:
    """A trained OSTrack-256 / DropTrack ``net``: the ViT under ``backbone.``, the split position embeddings of
    ``finetune_track`` (8x8 template, 16x16 search), the head."""
    shapes = {"backbone." + k: v for k, v in vit_shapes().items()}
    shapes.update({"backbone.pos_embed_z": (1, 64, 768), "backbone.pos_embed_x": (1, 256, 768)})
    shapes.update(head_shapes())
    return shapes


def tensors(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    return {k: (torch.zeros(v, dtype=torch.long) if k.endswith("num_batches_tracked") else torch.empty(v))
            for k, v in shapes.items()}


@pytest.fixture(scope="module")
def vitb_model():
    """ainet-vitb's shapes without its weights (meta tensors): the mapping reads names and shapes only."""
    with torch.device("meta"):
        return build_model("ainet-vitb")


def test_timm_vit_b_maps_onto_ainet_vitb(vitb_model):
    source = tensors(vit_shapes())
    source.update({"head.weight": torch.empty(1000, 768), "head.bias": torch.empty(1000)})
    state, report = vit_state(source, vitb_model, Path("vit_base_patch16_224.pth"))
    ours = vitb_model.state_dict()
    backbone = {k for k in ours if k.startswith("backbone.")}
    assert set(state) == backbone  # every ViT weight of ours comes from the checkpoint
    assert report.counts()["mapped"] == 2 + 1 + 12 * 12 + 2
    assert {e["source"] for e in report.dropped} == {"cls_token", "head.weight", "head.bias"}
    assert {e["target"].split(".")[0] for e in report.initialised} == {"dfm", "ofm", "box_head"}
    assert state["backbone.pos_embed_z"].shape == (1, 64, 768) and state["backbone.pos_embed_x"].shape == (1, 256, 768)


def test_mae_and_dropmae_pretraining_checkpoints_lose_their_decoder(vitb_model):
    encoder = tensors(vit_shapes())
    decoder = {"mask_token": (1, 1, 512), "decoder_embed.weight": (512, 768), "decoder_embed.bias": (512,),
               "decoder_pos_embed": (1, 197, 512), "decoder_blocks.0.norm1.weight": (512,),
               "decoder_blocks.0.attn.qkv.weight": (1536, 512), "decoder_norm.weight": (512,),
               "decoder_pred.weight": (768, 512), "decoder_pred.bias": (768,)}
    payload = {"model": {**encoder, **tensors(decoder)}, "epoch": 799}  # mae_pretrain_vit_base.pth / DropMAE
    state, report = vit_state(payload, vitb_model, Path("mae_pretrain_vit_base.pth"), source="mae")
    assert set(state) == {k for k in vitb_model.state_dict() if k.startswith("backbone.")}
    assert {e["source"] for e in report.dropped} == {"cls_token", *decoder}
    assert report.to_dict()["source"] == "mae"


def test_ostrack_and_droptrack_checkpoints_map_backbone_and_head(vitb_model):
    payload = {"net": tensors(ostrack_shapes()), "epoch": 300, "actor_type": "OSTrackActor", "net_type": "OSTrack"}
    state, report = ostrack_state(payload, vitb_model, Path("OSTrack_ep0300.pth.tar"))
    ours = vitb_model.state_dict()
    assert set(state) == {k for k in ours if k.startswith(("backbone.", "box_head."))}
    assert report.counts() == {"mapped": 2 + 12 * 12 + 2 + 2 + 3 * (4 * 7 + 2), "dropped": 2,
                               "initialised": sum(1 for k in ours if k.startswith(("dfm.", "ofm.")))}
    assert {e["source"] for e in report.dropped} == {"backbone.cls_token", "backbone.pos_embed"}
    assert report.checkpoint == {"epoch": 300, "actor_type": "OSTrackActor", "net_type": "OSTrack"}
    with pytest.raises(CheckpointError, match="does not fit config 'ainet-vitb'.*box_head.conv1_ctr.0.weight"):
        narrow = {**payload["net"], **tensors({k: v for k, v in head_shapes(channels=128).items()})}
        ostrack_state({"net": narrow}, vitb_model, Path("narrow.pth"))
    with pytest.raises(CheckpointError, match="not an OSTrack / DropTrack checkpoint"):
        ostrack_state(tensors(vit_shapes()), vitb_model, Path("vit.pth"))


def test_timm_weights_reach_the_right_places():
    torch.manual_seed(0)
    vit = VisionTransformer(img_size=32, patch_size=16, embed_dim=32, depth=3, num_heads=2).eval()
    path_state = vit.state_dict()
    model = build_model(MICRO).eval()
    state, report = vit_state(path_state, model, Path("tiny_vit.pth"))
    model.load_state_dict({**model.state_dict(), **state})
    assert any(e["source"].startswith("blocks.2.") and "depth 2" in e["reason"] for e in report.dropped)
    # a 2x2 grid (+ class token) resized bicubically to the 2x2 template grid (copy) and the 4x4 search grid
    grid = path_state["pos_embed"][:, 1:]
    torch.testing.assert_close(model.backbone.pos_embed_z, grid)
    maps = grid.reshape(1, 2, 2, 32).permute(0, 3, 1, 2)
    expected = F.interpolate(maps, size=(4, 4), mode="bicubic", align_corners=False).permute(0, 2, 3, 1).reshape(1, 16, 32)
    torch.testing.assert_close(model.backbone.pos_embed_x, expected)
    tokens = torch.randn(1, 20, 32)
    with torch.no_grad():  # the blocks compute what timm's blocks compute
        torch.testing.assert_close(model.backbone.blocks[1](model.backbone.blocks[0](tokens)),
                                   vit.blocks[1](vit.blocks[0](tokens)))
        torch.testing.assert_close(model.backbone.patch_embed(torch.ones(1, 3, 32, 32)),
                                   vit.patch_embed(torch.ones(1, 3, 32, 32)))


@contextlib.contextmanager
def _fake_ostrack_lib():
    """An importable stand-in for OSTrack's settings class while a checkpoint is pickled; gone afterwards."""
    names = ("lib", "lib.train", "lib.train.admin", "lib.train.admin.settings")
    modules = {name: types.ModuleType(name) for name in names}
    settings = type("Settings", (), {"__module__": "lib.train.admin.settings", "__qualname__": "Settings"})
    modules["lib.train.admin.settings"].Settings = settings
    sys.modules.update(modules)
    try:
        yield settings
    finally:
        for name in names:
            sys.modules.pop(name, None)


def test_import_weights_cli_from_an_ostrack_training_checkpoint(tmp_path):
    torch.manual_seed(1)
    source_model = build_model(MICRO)
    net = {k: v for k, v in source_model.state_dict().items() if k.startswith(("backbone.", "box_head."))}
    net.update({"backbone.cls_token": torch.randn(1, 1, 32), "backbone.pos_embed": torch.randn(1, 5, 32)})
    path = tmp_path / "DropTrack_ep0300.pth.tar"
    with _fake_ostrack_lib() as settings_class:
        settings = settings_class()
        settings.__dict__.update(batchsize=32, script_name="ostrack")
        torch.save({"net": net, "epoch": 300, "settings": settings, "net_type": "OSTrack"}, path)
    config_file = tmp_path / "micro.yaml"
    config_file.write_text(yaml.safe_dump(MICRO.to_dict()))
    out, report_file = tmp_path / "imported.pt", tmp_path / "report.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["import-weights", "--from", "droptrack", str(path), "--model-config", str(config_file),
                     "--out", str(out), "--report-json", str(report_file)]) == 0
    assert "lib.train.admin.settings.Settings" in printed.getvalue()
    report = json.loads(report_file.read_text())
    assert report["source"] == "droptrack" and report["counts"]["dropped"] == 2
    model, meta = load_checkpoint(out)
    assert meta["extra"]["imported_from"]["source"] == "droptrack"
    for key, value in net.items():
        if key in model.state_dict():
            torch.testing.assert_close(model.state_dict()[key], value, msg=key)
    # the same file as pretrained weights of a training run (the one place AINet's weights come in)
    fresh = build_model(MICRO)
    assert load_pretrained(fresh, str(path))
    torch.testing.assert_close(fresh.box_head.conv5_size.weight, net["box_head.conv5_size.weight"])


def test_import_errors_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="start an AINet config"):
        import_timm(tmp_path / "x.pth", "student-tiny")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        import_ostrack(tmp_path / "absent.pth", MICRO)
    bad = tmp_path / "list.pth"
    torch.save([1, 2, 3], bad)
    with pytest.raises(CheckpointError, match="not a ViT state dict"):
        import_timm(bad, MICRO)
    evil = tmp_path / "evil.pth"
    torch.save({"net": {}, "hook": print}, evil)
    with pytest.raises(CheckpointError, match="refused: the pickle calls or builds `print`"):
        import_ostrack(evil, MICRO)
    assert load_config("ainet-tiny").pretrained == "none"
