"""The RGB-T DiMP networks of CMD (seed 000, Sec. 3.2, Fig. 4): student and teacher.

* Student (``kind: student``): ONE ResNet18 applied to both modalities (the thermal image is
  replicated to 3 channels and normalised with the ImageNet statistics, so the same ImageNet
  weights apply to both), MPSD fusion (Eq. 4-6) on ``layer2`` and ``layer3`` (the paper's
  "block3/block4"), DiMP18 heads: classifier on fused ``layer3``, IoU-Net on fused
  ``layer2`` + ``layer3``.
* Teacher (``kind: teacher``): two ResNet50 streams (RGB, TIR), MDC + FRS fusion on the same
  levels, DiMP50 heads.

Every intermediate that distillation needs (unimodal features of all levels for SCFD, fused
features and initial fusions for MPSD, score maps for HFRD) is returned by
:meth:`RGBTDiMPNet.extract_features` / :meth:`RGBTDiMPNet.forward`, never recomputed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Union

import torch
from torch import nn

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.backbones import LEVELS, ResNetTrunk, load_pretrained
from rgbt_tracker_ros.networks.classifier import FilterInitializerLinear, LinearFilter, classification_feature_block
from rgbt_tracker_ros.networks.config import ModelConfig, feature_map_size
from rgbt_tracker_ros.networks.fusion import MPSD, FusionResult, MDCFRSFusion
from rgbt_tracker_ros.networks.iou_net import AtomIoUNet
from rgbt_tracker_ros.networks.optimizer import DiMPSteepestDescentGN

#: Levels that are fused (DiMP's IoU-Net levels; the classifier reads ``layer3``).
FUSED_LEVELS = ("layer2", "layer3")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class FusionFeatures:
    """Features of a batch of frame pairs (all tensors ``(N, ...)``, N = frames x sequences).

    Attributes:
        rgb / tir: unimodal features per level ``stem`` (stride 2), ``layer1`` (4), ``layer2`` (8),
            ``layer3`` (16): the paper's levels 1-4 (SCFD, Eq. 1-3).
        fused: fused features at ``layer2`` and ``layer3`` (same channels as the unimodal ones).
        initial_fusions: student only: per fused level ``(N, 3, C, H, W)`` = ``[sa, mul, diff]``
            (Eq. 4-5); empty for the teacher.
        path_weights: per fused level ``(N, 3)``: student MPSD weights (Eq. 6); teacher FRS
            selection weights over ``{rgb, tir, mdc}`` (channel means).
        path_names: names of the three paths, in the order of ``path_weights``.
    """

    rgb: dict[str, torch.Tensor]
    tir: dict[str, torch.Tensor]
    fused: dict[str, torch.Tensor]
    initial_fusions: dict[str, torch.Tensor] = field(default_factory=dict)
    path_weights: dict[str, torch.Tensor] = field(default_factory=dict)
    path_names: tuple[str, ...] = ()

    def path_weights_list(self, index: int = 0) -> dict[str, list[float]]:
        """``{level: [w1, w2, w3]}`` of sample ``index`` (for ``TrackResult.fusion_weights``)."""
        return {level: [float(v) for v in w[index].detach().cpu()] for level, w in self.path_weights.items()}


@dataclass
class ModelOutput:
    """Output of :meth:`RGBTDiMPNet.forward` (pytracking DiMPnet layout).

    Attributes:
        target_scores: score maps of the test frames for every filter iterate (initial filter
            first, then one per optimizer step), each ``(num_test, batch, h, w)``.
        iou_pred: predicted IoU of the test proposals ``(num_test, batch, P)``.
        train_features / test_features: the :class:`FusionFeatures` of the training / test
            frames, flattened frame-major (``N = frames x batch``).
    """

    target_scores: list[torch.Tensor]
    iou_pred: torch.Tensor
    train_features: FusionFeatures
    test_features: FusionFeatures


class RGBTDiMPNet(nn.Module):
    """CMD student or teacher (chosen by ``config.kind``); see the module docstring."""

    def __init__(self, config: ModelConfig, allow_download: bool = False):
        super().__init__()
        self.config = config
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)
        channels = config.backbone_channels
        if config.kind == "student":
            self.backbone = ResNetTrunk(config.backbone)
            hidden = config.mpsd_hidden_ratio
            self.fusion = nn.ModuleDict({
                lvl: MPSD(channels[lvl], config.sa_activation, hidden, config.mpsd_descriptor) for lvl in FUSED_LEVELS
            })
            self.fusion_path_names: tuple[str, ...] = MPSD.path_names
        else:
            self.rgb_backbone = ResNetTrunk(config.backbone)
            self.tir_backbone = ResNetTrunk(config.backbone)
            self.fusion = nn.ModuleDict({lvl: MDCFRSFusion(channels[lvl], config.mdc_reduction, config.frs_reduction)
                                         for lvl in FUSED_LEVELS})
            self.fusion_path_names = MDCFRSFusion.path_names

        out_dim = config.clf_feature_dim
        norm_scale = math.sqrt(1.0 / (out_dim * config.filter_size * config.filter_size))
        self.classifier = LinearFilter(
            filter_size=config.filter_size,
            feature_extractor=classification_feature_block(channels["layer3"], out_dim, config.clf_feat_blocks,
                                                           bottleneck=config.backbone == "resnet50",
                                                           norm_scale=norm_scale),
            filter_initializer=FilterInitializerLinear(config.filter_size, out_dim, config.feature_stride,
                                                       roi_pool=config.roi_pool),
            filter_optimizer=DiMPSteepestDescentGN(
                num_iter=config.optim_iter, feat_stride=config.feature_stride,
                init_step_length=config.optim_init_step, init_filter_reg=config.optim_init_reg,
                init_gauss_sigma=config.init_gauss_sigma, num_dist_bins=config.num_dist_bins,
                bin_displacement=config.bin_displacement, mask_init_factor=config.mask_init_factor),
        )
        self.bb_regressor = AtomIoUNet(input_dim=(channels["layer2"], channels["layer3"]),
                                       pred_input_dim=(config.iou_pred_input_dim,) * 2,
                                       pred_inter_dim=(config.iou_pred_inter_dim,) * 2,
                                       roi_pool=config.roi_pool)
        #: True when the backbone(s) were initialised from pretrained weights.
        self.backbone_pretrained = all([load_pretrained(t, config.pretrained, allow_download) for t in self.backbones])

    @property
    def backbones(self) -> list[ResNetTrunk]:
        """The ResNet trunk(s): one shared (student) or ``[rgb, tir]`` (teacher)."""
        return [self.backbone] if self.config.kind == "student" else [self.rgb_backbone, self.tir_backbone]

    # ------------------------------------------------------------------ geometry
    def feature_size(self, input_size: Union[int, tuple[int, int]]) -> tuple[int, int]:
        """``(h, w)`` of the ``layer3`` (classification) features for an input crop size."""
        return feature_map_size(input_size, "layer3")

    def score_size(self, input_size: Union[int, tuple[int, int]]) -> tuple[int, int]:
        """``(h, w)`` of the score map: features + ``(filter_size + 1) % 2`` (288 px -> 19x19)."""
        h, w = self.feature_size(input_size)
        extra = (self.config.filter_size + 1) % 2
        return h + extra, w + extra

    # ------------------------------------------------------------------ features
    def normalize(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Check shapes, ImageNet-normalise RGB and the 3x replicated thermal image."""
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise InputError(f"rgb must be (N, 3, H, W) in [0, 1], got shape {tuple(rgb.shape)}")
        if thermal.dim() != 4 or thermal.shape[1] != 1:
            raise InputError(f"thermal must be (N, 1, H, W) in [0, 1], got shape {tuple(thermal.shape)}")
        if rgb.shape[0] != thermal.shape[0] or rgb.shape[-2:] != thermal.shape[-2:]:
            raise InputError(f"rgb {tuple(rgb.shape)} and thermal {tuple(thermal.shape)} differ in batch or size")
        tir3 = thermal.expand(-1, 3, -1, -1)
        return (rgb - self.pixel_mean) / self.pixel_std, (tir3 - self.pixel_mean) / self.pixel_std

    def extract_features(self, rgb: torch.Tensor, thermal: torch.Tensor) -> FusionFeatures:
        """Unimodal, fused features and fusion diagnostics of ``rgb (N,3,H,W)``, ``thermal (N,1,H,W)`` in [0, 1]."""
        rgb_n, tir_n = self.normalize(rgb, thermal)
        if self.config.kind == "student":
            both = self.backbone(torch.cat((rgb_n, tir_n), dim=0))  # one network, both modalities
            n = rgb.shape[0]
            rgb_feats = {lvl: both[lvl][:n] for lvl in LEVELS}
            tir_feats = {lvl: both[lvl][n:] for lvl in LEVELS}
        else:
            rgb_feats, tir_feats = self.rgb_backbone(rgb_n), self.tir_backbone(tir_n)
        results: dict[str, FusionResult] = {lvl: self.fusion[lvl](rgb_feats[lvl], tir_feats[lvl])
                                            for lvl in FUSED_LEVELS}
        return FusionFeatures(
            rgb=rgb_feats, tir=tir_feats,
            fused={lvl: r.fused for lvl, r in results.items()},
            initial_fusions={lvl: r.initial_fusions for lvl, r in results.items() if r.initial_fusions is not None},
            path_weights={lvl: r.path_weights for lvl, r in results.items()},
            path_names=self.fusion_path_names,
        )

    @staticmethod
    def bbreg_features(features: FusionFeatures) -> list[torch.Tensor]:
        """The IoU-Net inputs ``[fused layer2, fused layer3]``."""
        return [features.fused["layer2"], features.fused["layer3"]]

    # ------------------------------------------------------------------ training pass
    def forward(self, train_rgb: torch.Tensor, train_tir: torch.Tensor, test_rgb: torch.Tensor,
                test_tir: torch.Tensor, train_bb: torch.Tensor, test_proposals: torch.Tensor,
                num_iter: Optional[int] = None) -> ModelOutput:
        """DiMP training pass.

        Args:
            train_rgb / test_rgb: ``(frames, batch, 3, H, W)``; train_tir / test_tir
                ``(frames, batch, 1, H, W)``, all in [0, 1].
            train_bb: ``(num_train, batch, 4)`` target boxes ``[x, y, w, h]`` in crop pixels.
            test_proposals: ``(num_test, batch, P, 4)`` IoU-Net proposals in crop pixels.
            num_iter: optimizer iterations (default ``config.optim_iter``).
        """
        images = {"train_rgb": train_rgb, "train_tir": train_tir, "test_rgb": test_rgb, "test_tir": test_tir}
        for name, t in images.items():
            if t.dim() != 5:
                raise InputError(f"{name} must be (frames, batch, C, H, W), got shape {tuple(t.shape)}")
        num_train, batch = train_rgb.shape[:2]
        if train_bb.shape != (num_train, batch, 4):
            raise InputError(f"train_bb must be ({num_train}, {batch}, 4), got {tuple(train_bb.shape)}")
        if test_proposals.dim() != 4 or test_proposals.shape[:2] != test_rgb.shape[:2] or test_proposals.shape[-1] != 4:
            raise InputError(f"test_proposals must be ({test_rgb.shape[0]}, {batch}, P, 4), "
                             f"got {tuple(test_proposals.shape)}")

        train_features = self.extract_features(train_rgb.flatten(0, 1), train_tir.flatten(0, 1))
        test_features = self.extract_features(test_rgb.flatten(0, 1), test_tir.flatten(0, 1))

        train_clf = self.classifier.extract_classification_feat(train_features.fused["layer3"], batch)
        test_clf = self.classifier.extract_classification_feat(test_features.fused["layer3"], batch)
        _, filter_iterates, _ = self.classifier.get_filter(train_clf, train_bb, num_iter=num_iter)
        target_scores = [self.classifier.classify(f, test_clf) for f in filter_iterates]

        iou_pred = self.bb_regressor(self.bbreg_features(train_features), self.bbreg_features(test_features),
                                     train_bb, test_proposals)
        return ModelOutput(target_scores=target_scores, iou_pred=iou_pred,
                           train_features=train_features, test_features=test_features)
