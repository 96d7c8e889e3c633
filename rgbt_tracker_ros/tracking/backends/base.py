"""The interface between the DiMP tracker and whatever runs its per-frame networks.

A frame costs (``tracking.dimp``): features of the search crop (backbone, fusion, classification
features), IoU-Net test features, and IoU predictions of the refined boxes with their gradients.
Those are the parts an :class:`InferenceBackend` runs; the online parts (filter initialisation and
steepest descent, the filter correlation, IoU-Net's modulation vector at initialisation) stay in
PyTorch for every backend, as DiMP's online optimiser needs autograd-free but dynamic shapes.

Box refinement needs dIoU/dbox. PyTorch gets it from autograd; an exported graph cannot (ONNX has
no autograd), so a backend running the exported IoU predictor (tensorrt) takes **central finite
differences** (our design): the IoU of every box and of its eight ``+-h`` neighbours (one
coordinate moved at a time) in one batched call of the IoU predictor, ``h = FINITE_DIFFERENCE_STEP``
crop pixels. (onnxruntime refines in PyTorch instead: see its class.) IoU-Net with bilinear pooling is
piecewise smooth in the box, so the difference matches autograd's gradient except for boxes within
``h`` of a feature-cell boundary (``test/test_backends.py`` measures the agreement).
"""
from __future__ import annotations

import abc
from typing import Any, Sequence

import torch

from rgbt_tracker_ros.networks.models import FusionFeatures

#: Step of the central finite differences, in crop pixels: the most accurate of 1, 0.3, 0.1, 0.03, 0.01 and
#: 0.001 against autograd on the demo student (float32 rounding dominates below it, kinks above).
FINITE_DIFFERENCE_STEP = 0.01


class InferenceBackend(abc.ABC):
    """Runs the per-frame networks of an ``RGBTDiMPNet`` (see the module docstring).

    Tensors go in and come out as torch tensors on ``device``; ``name`` is ``torch``,
    ``onnxruntime`` or ``tensorrt``.
    """

    name: str = ""
    device: torch.device

    @abc.abstractmethod
    def features(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """``rgb (N,3,S,S)``, ``thermal (N,1,S,S)`` in [0, 1] -> (``FusionFeatures``, float32
        classification features ``(N, C, s, s)``). Exported backends fill ``fused`` and
        ``path_weights`` only (no unimodal levels)."""

    @abc.abstractmethod
    def iou_features(self, fused: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """IoU-Net test features of the fused ``(layer2, layer3)`` features (``get_iou_feat``)."""

    @abc.abstractmethod
    def predict_iou(self, modulation: Sequence[torch.Tensor], iou_feat: Sequence[torch.Tensor],
                    boxes: torch.Tensor) -> torch.Tensor:
        """Predicted IoU ``(1, P)`` of ``boxes (1, P, 4)`` ``[x, y, w, h]`` in crop pixels."""

    def iou_gradient(self, modulation: Sequence[torch.Tensor], iou_feat: Sequence[torch.Tensor],
                     boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """IoU ``(1, P)`` and dIoU/dbox ``(1, P, 4)`` by central finite differences (one batched call)."""
        step = FINITE_DIFFERENCE_STEP
        count = boxes.shape[1]
        offsets = torch.zeros(9, 4, dtype=boxes.dtype, device=boxes.device)
        for coordinate in range(4):
            offsets[1 + 2 * coordinate, coordinate] = step
            offsets[2 + 2 * coordinate, coordinate] = -step
        probes = (boxes.reshape(count, 1, 4) + offsets).reshape(1, count * 9, 4)
        ious = self.predict_iou(modulation, iou_feat, probes).reshape(count, 9)
        gradient = (ious[:, 1::2] - ious[:, 2::2]) / (2.0 * step)
        return ious[:, 0].reshape(1, count), gradient.reshape(1, count, 4)


class ExportedGraphBackend(InferenceBackend):
    """A backend running the exported graphs of ``onnx_export.GRAPHS`` through :meth:`_run`."""

    path_names: tuple[str, ...] = ()

    @abc.abstractmethod
    def _run(self, graph: str, *inputs: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of ``graph`` (float32 tensors on ``device``) for ``inputs`` in the manifest's order."""

    def features(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[Any, torch.Tensor]:
        fused2, fused3, clf_feat, weights2, weights3 = self._run("features", rgb, thermal)
        features = FusionFeatures(rgb={}, tir={}, fused={"layer2": fused2, "layer3": fused3},
                                  path_weights={"layer2": weights2, "layer3": weights3}, path_names=self.path_names)
        return features, clf_feat

    def iou_features(self, fused: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self._run("iou_features", *fused)

    def predict_iou(self, modulation: Sequence[torch.Tensor], iou_feat: Sequence[torch.Tensor],
                    boxes: torch.Tensor) -> torch.Tensor:
        return self._run("iou_predictor", *modulation, *iou_feat, boxes)[0]
