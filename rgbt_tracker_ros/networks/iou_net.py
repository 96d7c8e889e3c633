"""IoU-Net box regression head (ATOM / DiMP ``AtomIoUNet`` layout, Danelljan et al., CVPR 2019).

A reference branch turns the target box of a training frame into two modulation vectors (one per
feature level); a test branch pools each proposal from the modulated test features and predicts
its IoU with the target. Levels: fused ``layer2`` (stride 8, pooled 3x3 ref / 5x5 test) and
``layer3`` (stride 16, pooled 1x1 ref / 3x3 test). Boxes are ``[x, y, w, h]`` in crop pixels.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from rgbt_tracker_ros.networks.roi_pool import PrRoIPool2D


def conv_bn_relu(in_planes: int, out_planes: int, kernel_size: int = 3, padding: int = 1) -> nn.Sequential:
    """ATOM's ``conv``: conv (with bias) + BatchNorm + ReLU."""
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, kernel_size, padding=padding, bias=True),
                         nn.BatchNorm2d(out_planes), nn.ReLU(inplace=True))


class LinearBlock(nn.Module):
    """Fully connected layer over a ``size x size`` pooled map + BatchNorm + ReLU."""

    def __init__(self, in_planes: int, out_planes: int, input_size: int):
        super().__init__()
        self.linear = nn.Linear(in_planes * input_size * input_size, out_planes)
        self.bn = nn.BatchNorm2d(out_planes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x.reshape(x.shape[0], -1))
        return self.relu(self.bn(x.reshape(x.shape[0], x.shape[1], 1, 1))).reshape(x.shape[0], -1)


class AtomIoUNet(nn.Module):
    """IoU predictor: ``get_modulation(feats, bb)``, ``get_iou_feat(feats)``, ``predict_iou(...)``.

    ``input_dim``: channels of the (layer2, layer3) features; ``pred_input_dim`` /
    ``pred_inter_dim``: widths of the test branch and of the fully connected layers; ``roi_pool``:
    ``prroi`` (pytracking's exact PrRoIPool, which imported weights need) or ``legacy``
    (:class:`~.roi_pool.PrRoIPool2D`).
    """

    def __init__(self, input_dim: Sequence[int] = (128, 256), pred_input_dim: Sequence[int] = (256, 256),
                 pred_inter_dim: Sequence[int] = (256, 256), roi_pool: str = "legacy"):
        super().__init__()
        self.conv3_1r = conv_bn_relu(input_dim[0], 128)
        self.conv3_1t = conv_bn_relu(input_dim[0], 256)
        self.conv3_2t = conv_bn_relu(256, pred_input_dim[0])
        self.prroi_pool3r = PrRoIPool2D(3, 1 / 8, mode=roi_pool)
        self.prroi_pool3t = PrRoIPool2D(5, 1 / 8, mode=roi_pool)
        self.fc3_1r = conv_bn_relu(128, 256, padding=0)
        self.conv4_1r = conv_bn_relu(input_dim[1], 256)
        self.conv4_1t = conv_bn_relu(input_dim[1], 256)
        self.conv4_2t = conv_bn_relu(256, pred_input_dim[1])
        self.prroi_pool4r = PrRoIPool2D(1, 1 / 16, mode=roi_pool)
        self.prroi_pool4t = PrRoIPool2D(3, 1 / 16, mode=roi_pool)
        self.fc34_3r = conv_bn_relu(256 + 256, pred_input_dim[0], kernel_size=1, padding=0)
        self.fc34_4r = conv_bn_relu(256 + 256, pred_input_dim[1], kernel_size=1, padding=0)
        self.fc3_rt = LinearBlock(pred_input_dim[0], pred_inter_dim[0], 5)
        self.fc4_rt = LinearBlock(pred_input_dim[1], pred_inter_dim[1], 3)
        self.iou_predictor = nn.Linear(pred_inter_dim[0] + pred_inter_dim[1], 1, bias=True)
        for m in self.modules():  # ATOM's initialisation (BN weights ~ U(0, 1) as in PyTorch <= 1.1)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight.data, mode="fan_in")
                if m.bias is not None:
                    m.bias.data.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.uniform_()
                m.bias.data.zero_()

    def forward(self, train_feats: Sequence[torch.Tensor], test_feats: Sequence[torch.Tensor],
                train_bb: torch.Tensor, test_proposals: torch.Tensor) -> torch.Tensor:
        """Training pass: modulation from the first training frame.

        ``train_feats``/``test_feats``: (layer2, layer3) of shape ``(frames * S, C, H, W)``;
        ``train_bb (num_train, S, 4)``; ``test_proposals (num_test, S, P, 4)`` -> ``(num_test, S, P)``.
        """
        num_test, num_seq = test_proposals.shape[:2]
        first = [f.reshape(-1, num_seq, *f.shape[-3:])[0] for f in train_feats]
        modulation = self.get_modulation(first, train_bb[0])
        modulation = [m.reshape(1, num_seq, -1).expand(num_test, -1, -1).reshape(num_test * num_seq, -1)
                      for m in modulation]
        iou_feat = self.get_iou_feat(test_feats)
        iou = self.predict_iou(modulation, iou_feat, test_proposals.reshape(num_test * num_seq, -1, 4))
        return iou.reshape(num_test, num_seq, -1)

    def get_modulation(self, feats: Sequence[torch.Tensor], bb: torch.Tensor) -> list[torch.Tensor]:
        """Reference features ``(B, C, H, W)`` x2 and target boxes ``bb (B, 4)`` -> two ``(B, D, 1, 1)`` vectors."""
        feat3_r, feat4_r = feats
        bb = bb.reshape(-1, 4)
        fc3_r = self.fc3_1r(self.prroi_pool3r(self.conv3_1r(feat3_r), bb))
        roi4r = self.prroi_pool4r(self.conv4_1r(feat4_r), bb)
        fc34_r = torch.cat((fc3_r, roi4r), dim=1)
        return [self.fc34_3r(fc34_r), self.fc34_4r(fc34_r)]

    def get_iou_feat(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Test features (layer2, layer3) ``(B, C, H, W)`` -> IoU features (layer2, layer3)."""
        feat3_t, feat4_t = (f.reshape(-1, *f.shape[-3:]) for f in feats)
        return [self.conv3_2t(self.conv3_1t(feat3_t)), self.conv4_2t(self.conv4_1t(feat4_t))]

    def predict_iou(self, modulation: Sequence[torch.Tensor], iou_feat: Sequence[torch.Tensor],
                    proposals: torch.Tensor) -> torch.Tensor:
        """IoU of ``proposals (B, P, 4)`` ``[x, y, w, h]`` -> ``(B, P)``; differentiable in the proposals."""
        fc34_3_r, fc34_4_r = modulation
        c3_t, c4_t = iou_feat
        batch = c3_t.shape[0]
        c3_t_att = c3_t * fc34_3_r.reshape(batch, -1, 1, 1)
        c4_t_att = c4_t * fc34_4_r.reshape(batch, -1, 1, 1)
        fc34_rt = torch.cat((self.fc3_rt(self.prroi_pool3t(c3_t_att, proposals)),
                             self.fc4_rt(self.prroi_pool4t(c4_t_att, proposals))), dim=1)
        return self.iou_predictor(fc34_rt).reshape(batch, proposals.shape[1])
