"""Parameter and per-frame FLOP counts of an :class:`~.models.RGBTDiMPNet`.

FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode` (one multiply-add = 2
FLOPs; convolutions and matrix products only, so element-wise ops, the legacy RoI pooling
(``grid_sample``) and normalisations are not counted; exact PrRoIPool's two small matrix products per
box are). A tracked frame costs: features of both modalities + fusion
(``features``), classification features and one filter correlation (``classifier``), IoU-Net test
features and one IoU prediction for ``num_proposals`` boxes (``iou_net``; DiMP refines 10 boxes
with 5 gradient steps, each step about one ``predict_iou`` forward + backward, not counted here).
The filter optimisation at initialisation and every 20th frame is excluded.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch.utils.flop_counter import FlopCounterMode

from rgbt_tracker_ros.networks.backbones import unbuilt_parameter_count
from rgbt_tracker_ros.networks.models import RGBTDiMPNet


def parameter_counts(model: RGBTDiMPNet) -> dict[str, int]:
    """Parameters per top-level module, ``built`` total, and ``paper_comparable`` (built + the
    unbuilt ``layer4``/``fc`` of every ResNet, as counted in the paper)."""
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in model.named_children()}
    counts["built"] = sum(p.numel() for p in model.parameters())
    streams = 1 if model.config.kind == "student" else 2
    counts["paper_comparable"] = counts["built"] + streams * unbuilt_parameter_count(model.config.backbone)
    return counts


@torch.no_grad()
def per_frame_flops(model: RGBTDiMPNet, input_size: Optional[int] = None, num_proposals: int = 10) -> dict[str, int]:
    """FLOPs of tracking one frame pair at ``input_size`` (default ``config.input_size``)."""
    size = input_size or model.config.input_size
    was_training = model.training
    model.eval()
    rgb, tir = torch.rand(1, 3, size, size), torch.rand(1, 1, size, size)
    k = model.config.filter_size
    filter = torch.randn(1, model.config.clf_feature_dim, k, k)
    box = torch.tensor([[size * 0.4, size * 0.4, size * 0.2, size * 0.2]])
    proposals = box.reshape(1, 1, 4).expand(1, num_proposals, 4)
    counts: dict[str, int] = {}
    with FlopCounterMode(display=False) as counter:
        features = model.extract_features(rgb, tir)
    counts["features"] = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        model.classifier.classify(filter, model.classifier.extract_classification_feat(features.fused["layer3"]))
    counts["classifier"] = counter.get_total_flops()
    modulation = model.bb_regressor.get_modulation(model.bbreg_features(features), box)
    with FlopCounterMode(display=False) as counter:
        iou_feat = model.bb_regressor.get_iou_feat(model.bbreg_features(features))
        model.bb_regressor.predict_iou(modulation, iou_feat, proposals)
    counts["iou_net"] = counter.get_total_flops()
    counts["total"] = counts["features"] + counts["classifier"] + counts["iou_net"]
    model.train(was_training)
    return counts
