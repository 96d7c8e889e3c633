"""The ONNX Runtime backend: the exported per-frame graphs (``onnx_export``) in ONNX Runtime sessions."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.tracking.backends.base import ExportedGraphBackend
from rgbt_tracker_ros.tracking.backends.onnx_export import read_manifest
from rgbt_tracker_ros.tracking.backends.torch_backend import TorchBackend


def import_onnxruntime() -> Any:
    """``onnxruntime``, or :class:`InputError` saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise InputError("backend onnxruntime needs the onnxruntime package: pip install "
                         "'rgbt_tracker_ros[export]' (onnxruntime-gpu for CUDA)") from None
    return onnxruntime


class OnnxRuntimeBackend(ExportedGraphBackend):
    """Per-frame graphs of an export folder in ONNX Runtime.

    ``device`` CPU uses the CPU execution provider with torch's thread count; CUDA uses the CUDA
    provider (``onnxruntime-gpu``) when it is there and says so otherwise.

    IoU prediction and its box gradient run in PyTorch on ``model`` (our design, measured in
    docs/results.md): the finite differences an exported predictor needs take 9 predictions per box,
    and ONNX Runtime's CPU kernels ran those 3-6x slower than PyTorch's forward + backward of the
    same small network, while the feature graphs ran 1.4x faster than PyTorch. The exported
    predictor is parity-checked at export and run by the tensorrt backend.
    """

    name = "onnxruntime"

    def __init__(self, folder: Union[str, Path], device: torch.device, model: torch.nn.Module,
                 sample_size: int, weights: str = "") -> None:
        onnxruntime = import_onnxruntime()
        self.device = device
        self.path_names = tuple(model.fusion_path_names)
        self._refinement = TorchBackend(model, device)
        self.manifest = read_manifest(folder, sample_size, weights)
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise InputError("backend onnxruntime on CUDA needs onnxruntime-gpu (the CUDA execution provider "
                                 "is not available); use device cpu or backend torch/tensorrt")
            providers.insert(0, "CUDAExecutionProvider")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's worker threads spin after each run by default; PyTorch's online steps run
        # right after on the same cores, and spinning made them several times slower (docs/results.md)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._sessions = {
            name: onnxruntime.InferenceSession(str(Path(folder) / graph["file"]), options, providers=providers)
            for name, graph in self.manifest["graphs"].items()
        }

    def _run(self, graph: str, *inputs: torch.Tensor) -> list[torch.Tensor]:
        names = self.manifest["graphs"][graph]["inputs"]
        feeds = {name: np.ascontiguousarray(t.detach().float().cpu().numpy()) for name, t in zip(names, inputs)}
        return [torch.from_numpy(out).to(self.device) for out in self._sessions[graph].run(None, feeds)]

    def predict_iou(self, modulation: Sequence[torch.Tensor], iou_feat: Sequence[torch.Tensor],
                    boxes: torch.Tensor) -> torch.Tensor:
        return self._refinement.predict_iou(modulation, iou_feat, boxes)

    def iou_gradient(self, modulation: Sequence[torch.Tensor], iou_feat: Sequence[torch.Tensor],
                     boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._refinement.iou_gradient(modulation, iou_feat, boxes)
