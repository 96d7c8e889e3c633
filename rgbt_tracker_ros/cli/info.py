"""``rgbt-tracker info``: describe a network config or checkpoint.

Prints the architecture summary, parameter counts (built, and comparable with the paper's
19.9M / 81.0M, which include the unused ResNet ``layer4``/``fc``), FLOPs per tracked frame at the
tracking resolution (torch FlopCounterMode) and the feature shapes of every level. For an AINet:
parameters and FLOPs per module (with the analytically counted selective scans) and the part that is
OSTrack-256's own (ViT on one modality + center head), and the token shapes. For a checkpoint, also its
code version, training data and extra metadata.
"""
from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="parameters, FLOPs per frame and feature shapes of a network config or checkpoint",
        description="Describe a network: a bundled config name (student-r18, teacher-r50, student-tiny, "
        "teacher-tiny, student-dimp18, teacher-dimp50, ainet-vitb, ainet-tiny), a config YAML file, or a "
        "checkpoint file (.pth/.pt).",
    )
    parser.add_argument("config", metavar="CONFIG",
                        help="bundled config name, path to a config YAML, or path to a checkpoint")
    parser.add_argument("--input-size", type=int, metavar="PX",
                        help="square crop size for FLOPs and shapes (default: the config's input_size; DiMP "
                        "networks only: AINet's crop sizes are part of its config)")
    parser.add_argument("--proposals", type=int, default=10, metavar="N",
                        help="IoU-Net proposals counted per frame (default 10: DiMP's current box + 9 random)")
    parser.add_argument("--download-weights", action="store_true",
                        help="download and cache the ImageNet backbone weights of a DiMP config if missing "
                        "(torch.hub cache); never done otherwise")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of text")
    parser.set_defaults(func=run)


def _shape(t) -> list[int]:
    return [int(s) for s in t.shape]


def describe(model, input_size: int, num_proposals: int) -> dict:
    """Summary dict of ``model`` (counts, FLOPs, shapes) at ``input_size``."""
    import torch

    from rgbt_tracker_ros.networks.flops import parameter_counts, per_frame_flops

    config = model.config
    model.eval()
    with torch.no_grad():
        feats = model.extract_features(torch.rand(1, 3, input_size, input_size),
                                       torch.rand(1, 1, input_size, input_size))
        clf = model.classifier.extract_classification_feat(feats.fused["layer3"])
        iou_feat = model.bb_regressor.get_iou_feat(model.bbreg_features(feats))
    shapes = {f"rgb/tir {lvl}": _shape(t) for lvl, t in feats.rgb.items()}
    shapes.update({f"fused {lvl}": _shape(t) for lvl, t in feats.fused.items()})
    shapes.update({f"initial_fusions {lvl}": _shape(t) for lvl, t in feats.initial_fusions.items()})
    paths = "/".join(feats.path_names)
    shapes.update({f"path_weights {lvl} ({paths})": _shape(t) for lvl, t in feats.path_weights.items()})
    shapes["classification features"] = _shape(clf)
    shapes["target filter"] = [1, config.clf_feature_dim, config.filter_size, config.filter_size]
    shapes["score map"] = [1, 1, *model.score_size(input_size)]
    shapes.update({f"iou features {lvl}": _shape(t) for lvl, t in zip(("layer2", "layer3"), iou_feat)})
    return {
        "config": config.to_dict(),
        "input_size": input_size,
        "parameters": parameter_counts(model),
        "flops_per_frame": per_frame_flops(model, input_size, num_proposals),
        "shapes": shapes,
    }


def describe_ainet(model) -> dict:
    """Summary dict of an AINet (counts, FLOPs, token and map shapes)."""
    from rgbt_tracker_ros.networks.flops import ainet_flops, ainet_parameter_counts

    c = model.config
    tokens = c.tokens_per_layer
    shapes = {
        "template tokens per modality": [1, c.template_grid ** 2, c.embed_dim],
        "search tokens per modality": [1, c.search_grid ** 2, c.embed_dim],
        "DFM sequence per layer": [1, tokens, c.embed_dim],
        "OFM sequence (all layers)": [1, c.depth * tokens, c.embed_dim],
        "fused search map": [1, c.embed_dim, c.search_grid, c.search_grid],
        "score map": [1, 1, c.search_grid, c.search_grid],
    }
    return {"config": c.to_dict(), "parameters": ainet_parameter_counts(model), "flops_per_frame": ainet_flops(model),
            "shapes": shapes}


def _print_ainet(summary: dict) -> None:
    c, params, flops = summary["config"], summary["parameters"], summary["flops_per_frame"]
    print(f"  ViT {c['depth']} x {c['embed_dim']} ({c['num_heads']} heads, patch {c['patch_size']}) shared by RGB "
          f"and thermal; template {c['template_size']} px, search {c['search_size']} px; Mamba state "
          f"{c['d_state']}, expand {c['expand']}, scan backend {c['scan_backend']}")
    _print_counts("parameters:", params, "M", {"built": "total (built)",
                                                "ostrack_equivalent": "OSTrack part (ViT + head)"})
    _print_counts("FLOPs per frame (FlopCounterMode, 1 MAC = 2 FLOPs; selective scans counted analytically):", flops,
                  "GFLOPs", {"total": "total", "ostrack_equivalent": "OSTrack part (1 modality)"})
    _print_shapes("shapes (batch 1):", summary["shapes"])


def _print_counts(title: str, counts: dict[str, float], unit: str, totals: dict[str, str]) -> None:
    """Per-module counts (parameters in M, FLOPs in GFLOPs), then the keys of ``totals`` under their labels."""
    scale = {"M": 1e6, "GFLOPs": 1e9}[unit]
    print(title)
    rows = [(name, count) for name, count in counts.items() if name not in totals]
    rows += [(label, counts[key]) for key, label in totals.items()]
    for label, count in rows:
        print(f"  {label:<26} {count / scale:8.3f} {unit}")


def _print_shapes(title: str, shapes: dict[str, list[int]]) -> None:
    print(title)
    for name, shape in shapes.items():
        print(f"  {name:<34} {tuple(shape)}")


def run(args: argparse.Namespace) -> int:
    import warnings
    from pathlib import Path

    from rgbt_tracker_ros.errors import InputError
    from rgbt_tracker_ros.networks.checkpoint import load_checkpoint
    from rgbt_tracker_ros.networks.config import build_model, load_config

    meta = None
    source = Path(args.config)
    if source.suffix in (".pth", ".pt", ".ckpt") or (source.is_file() and source.suffix not in (".yaml", ".yml")):
        model, meta = load_checkpoint(source)
    else:
        config = load_config(args.config)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            download = args.download_weights and config.family == "dimp"  # AINet has no ImageNet backbone option
            model = build_model(config, pretrained="imagenet" if download else "none", allow_download=download)
        for w in caught:
            print(f"warning: {w.message}")
    if model.config.family == "ainet":
        if args.input_size is not None:
            raise InputError(f"--input-size does not apply to AINet: config {model.config.name!r} fixes its crops "
                             f"(template_size, search_size)")
        summary = describe_ainet(model)
        if meta is not None:
            summary["checkpoint"] = {k: v for k, v in meta.items() if k != "config"}
        if args.json:
            print(json.dumps(summary, indent=2))
            return 0
        print(f"{model.config.name} ({model.config.kind}): {model.config.description}")
        _print_checkpoint(summary)
        _print_ainet(summary)
        return 0
    input_size = args.input_size or model.config.input_size
    if input_size < 64:
        raise InputError(f"--input-size must be at least 64 px, got {input_size}")
    if args.proposals < 1:
        raise InputError(f"--proposals must be positive, got {args.proposals}")
    summary = describe(model, input_size, args.proposals)
    if meta is not None:
        summary["checkpoint"] = {k: v for k, v in meta.items() if k != "config"}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0

    config, params, flops = model.config, summary["parameters"], summary["flops_per_frame"]
    print(f"{config.name} ({config.kind}): {config.description}")
    print(f"  backbone {config.backbone} x{1 if config.kind == 'student' else 2} (up to layer3), "
          f"crop {input_size} px, stride {config.feature_stride}, filter {config.filter_size}x{config.filter_size}, "
          f"RoI pooling {config.roi_pool}")
    _print_checkpoint(summary)
    _print_counts("parameters (+ unbuilt layer4/fc: as counted in the paper):", params, "M",
                  {"built": "total (built)", "paper_comparable": "+ unbuilt layer4/fc"})
    _print_counts(f"FLOPs per frame at {input_size} px (FlopCounterMode, 1 MAC = 2 FLOPs):", flops, "GFLOPs", {})
    _print_shapes("feature shapes (batch 1):", summary["shapes"])
    return 0


def _print_checkpoint(summary: dict) -> None:
    """The checkpoint lines of a summary (nothing for a config)."""
    ck = summary.get("checkpoint")
    if ck is None:
        return
    print(f"  checkpoint: code {ck.get('code_version')}, {ck.get('dtype')}, created {ck.get('created')}")
    print(f"  training data: {ck.get('training_data') or '(not given)'}")
    if ck.get("extra"):
        print(f"  extra: {json.dumps(ck['extra'])}")
