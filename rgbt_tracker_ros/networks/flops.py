"""Parameter and per-frame FLOP counts of an :class:`~.models.RGBTDiMPNet` or an :class:`~.ainet.AINet`.

FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode` (one multiply-add = 2
FLOPs; convolutions and matrix products only, so element-wise ops and normalisations are not
counted; both RoI poolings' two small matrix products per box are). A tracked frame costs: features
of both modalities + fusion
(``features``), classification features and one filter correlation (``classifier``), IoU-Net test
features and one IoU prediction for ``num_proposals`` boxes (``iou_net``; DiMP refines 10 boxes
with 5 gradient steps, each step about one ``predict_iou`` forward + backward, not counted here).
The filter optimisation at initialisation and every 20th frame is excluded.

AINet (:func:`ainet_parameter_counts`, :func:`ainet_flops`): a tracked frame is one forward pass (OSTrack's
one-stream tracking re-embeds the template with every search crop): ``backbone`` (patch embedding and ViT
blocks on both modalities), ``dfm``, ``ofm``, ``box_head`` as counted by ``FlopCounterMode``, and
``selective_scan`` counted analytically (mamba-ssm's ``9 B L D N`` per scan, :func:`~.mamba.scan_flops`),
because the scan is element-wise work ``FlopCounterMode`` does not see. ``ostrack_equivalent`` is what
OSTrack-256 itself computes: the backbone on one modality (half of ``backbone``) and the head.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from rgbt_tracker_ros.networks.backbones import unbuilt_parameter_count
from rgbt_tracker_ros.networks.mamba import scan_flops
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


def ainet_parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Parameters per top-level module of an AINet, ``built`` total and ``ostrack_equivalent`` (the ViT and
    the center head: what OSTrack-256 has besides its unused class token and 224 px position embedding)."""
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in model.named_children()}
    counts["built"] = sum(p.numel() for p in model.parameters())
    counts["ostrack_equivalent"] = counts["backbone"] + counts["box_head"]
    return counts


@torch.no_grad()
def ainet_flops(model: torch.nn.Module) -> dict[str, int]:
    """FLOPs of tracking one frame pair with an AINet (see the module docstring)."""
    c = model.config
    was_training = model.training
    model.eval()
    z, x = c.template_size, c.search_size
    # The math attention backend: the fused CPU kernels of scaled_dot_product_attention have no FLOP formula
    # (their matrix products would go uncounted); the math one is made of counted matrix products.
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        model(torch.rand(1, 3, z, z), torch.rand(1, 1, z, z), torch.rand(1, 3, x, x), torch.rand(1, 1, x, x))
    model.train(was_training)
    root = type(model).__name__
    by_module = counter.get_flop_counts()
    counts: dict[str, int] = {}
    for name, _ in model.named_children():
        prefix = f"{root}.{name}"
        keys = [k for k in by_module if k == prefix or k.startswith(prefix + ".")]
        outermost = [k for k in keys if not any(k != other and k.startswith(other + ".") for other in keys)]
        counts[name] = sum(sum(by_module[k].values()) for k in outermost)
    d_inner, tokens = c.expand * c.embed_dim, c.tokens_per_layer
    counts["selective_scan"] = (c.depth * scan_flops(1, tokens, d_inner, c.d_state)  # one DFM scan per layer
                                + 3 * scan_flops(1, c.depth * tokens, d_inner, c.d_state))  # OFM's three scans
    counts["total"] = counter.get_total_flops() + counts["selective_scan"]
    counts["ostrack_equivalent"] = counts["backbone"] // 2 + counts["box_head"]
    return counts


class FlopCount(TorchDispatchMode):
    """FLOPs of everything run inside ``with FlopCount() as count:`` (``count.total``), by
    :data:`torch.utils.flop_counter.flop_registry`'s formulas, as ``FlopCounterMode`` counts them.

    Without ``FlopCounterMode``'s per-module tracking, whose backward hooks break
    ``torch.autograd.grad`` on leaf tensors (DiMP's IoU refinement takes gradients of boxes).
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out
