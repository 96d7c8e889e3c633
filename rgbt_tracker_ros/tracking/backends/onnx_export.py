"""ONNX export of a DiMP network's per-frame graphs, the manifest beside them, and the parity check.

An export folder holds three graphs (``features.onnx``, ``iou_features.onnx``,
``iou_predictor.onnx``; see :data:`GRAPHS`) and ``manifest.json``: format, the checkpoint's SHA-256,
config name, crop size, opset, every graph's input and output names, and the parity measured at
export time. Spatial sizes are fixed to the tracker's crop size (static shapes for TensorRT); the
batch of the feature graph (1 per frame, the augmented samples at initialisation) and the number of
IoU proposals are dynamic.

Exported with the TorchScript exporter (``dynamo=False``): the dynamo exporter needs ``onnxscript``,
which the package does not require.
"""
from __future__ import annotations

import copy
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

from rgbt_tracker_ros.atomic_files import write_bytes_atomic
from rgbt_tracker_ros.errors import CheckpointError, InputError

MANIFEST = "manifest.json"
FORMAT = "rgbt_tracker_ros.onnx/1"
OPSET = 17

#: graph name -> (input names, output names, dynamic axes).
GRAPHS: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, dict[int, str]]]] = {
    "features": (
        ("rgb", "thermal"),
        ("fused_layer2", "fused_layer3", "classification_features", "path_weights_layer2", "path_weights_layer3"),
        {name: {0: "batch"} for name in ("rgb", "thermal", "fused_layer2", "fused_layer3", "classification_features",
                                         "path_weights_layer2", "path_weights_layer3")},
    ),
    "iou_features": (
        ("fused_layer2", "fused_layer3"),
        ("iou_features_layer2", "iou_features_layer3"),
        {},
    ),
    "iou_predictor": (
        ("modulation_layer2", "modulation_layer3", "iou_features_layer2", "iou_features_layer3", "boxes"),
        ("iou",),
        {"boxes": {1: "proposals"}, "iou": {1: "proposals"}},
    ),
}


class FeatureGraph(nn.Module):
    """Backbone + fusion + classification features: ``(rgb, thermal)`` -> :data:`GRAPHS` ``features`` outputs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.model.extract_features(rgb, thermal)
        clf_feat = self.model.classifier.extract_classification_feat(features.fused["layer3"])
        return (features.fused["layer2"], features.fused["layer3"], clf_feat,
                features.path_weights["layer2"], features.path_weights["layer3"])


class IoUFeatureGraph(nn.Module):
    """IoU-Net's test branch (``get_iou_feat``) on the fused layer2 / layer3 features."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, fused_layer2: torch.Tensor, fused_layer3: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.bb_regressor.get_iou_feat([fused_layer2, fused_layer3]))


class IoUPredictorGraph(nn.Module):
    """IoU-Net's prediction (``predict_iou``) of boxes ``(1, P, 4)`` given the modulation vectors."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, modulation_layer2: torch.Tensor, modulation_layer3: torch.Tensor,
                iou_features_layer2: torch.Tensor, iou_features_layer3: torch.Tensor,
                boxes: torch.Tensor) -> torch.Tensor:
        return self.model.bb_regressor.predict_iou([modulation_layer2, modulation_layer3],
                                                   [iou_features_layer2, iou_features_layer3], boxes)


def example_inputs(model: nn.Module, sample_size: int, batch: int = 1, proposals: int = 10,
                   seed: int = 0) -> dict[str, tuple[torch.Tensor, ...]]:
    """Inputs of every graph for a crop of ``sample_size`` px (random images in [0, 1], a box
    in the middle of the crop with jittered proposals), as the tracker feeds them."""
    generator = torch.Generator().manual_seed(seed)
    rgb = torch.rand(batch, 3, sample_size, sample_size, generator=generator)
    thermal = torch.rand(batch, 1, sample_size, sample_size, generator=generator)
    with torch.no_grad():
        fused2, fused3, *_ = FeatureGraph(model).eval()(rgb[:1], thermal[:1])
        iou2, iou3 = IoUFeatureGraph(model).eval()(fused2, fused3)
        box = torch.tensor([[sample_size * 0.375, sample_size * 0.375, sample_size * 0.25, sample_size * 0.25]])
        modulation = model.bb_regressor.get_modulation([fused2, fused3], box)
    jitter = (torch.rand(1, proposals, 4, generator=generator) - 0.5) * sample_size * 0.05
    boxes = box.reshape(1, 1, 4) + jitter
    return {
        "features": (rgb, thermal),
        "iou_features": (fused2, fused3),
        "iou_predictor": (modulation[0], modulation[1], iou2, iou3, boxes),
    }


def graph_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The three export wrappers, in eval mode (the wrapper's mode is what the exporter restores)."""
    return {"features": FeatureGraph(model).eval(), "iou_features": IoUFeatureGraph(model).eval(),
            "iou_predictor": IoUPredictorGraph(model).eval()}


def export_onnx(model: nn.Module, out_dir: Union[str, Path], sample_size: int,
                opset: int = OPSET) -> dict[str, Any]:
    """Export the per-frame graphs of ``model`` for crops of ``sample_size`` px to ``out_dir``.

    Measures the parity against PyTorch (:func:`onnx_parity`) and writes it into the manifest, which
    is written last (a folder without one is an unfinished export). Returns the manifest.
    """
    check_exportable(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).cpu().eval()  # the caller's model stays on its device
    inputs = example_inputs(model, sample_size, batch=2)
    graphs = {}
    for name, module in graph_modules(model).items():
        input_names, output_names, dynamic_axes = GRAPHS[name]
        path = out / f"{name}.onnx"
        with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer warnings
            warnings.simplefilter("ignore")
            torch.onnx.export(module, inputs[name], str(path), dynamo=False, opset_version=opset,
                              input_names=list(input_names), output_names=list(output_names),
                              dynamic_axes=dynamic_axes)
        graphs[name] = {"file": path.name, "inputs": list(input_names), "outputs": list(output_names)}
    manifest = {
        "format": FORMAT,
        "weights_sha256": weights_sha256(model),
        "config": model.config.name,
        "kind": model.config.kind,
        "sample_size": int(sample_size),
        "opset": opset,
        "graphs": graphs,
    }
    manifest["parity"] = onnx_parity(model, out, manifest)
    write_bytes_atomic(out / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=2).encode()))
    return manifest


def read_manifest(folder: Union[str, Path], sample_size: Optional[int] = None,
                  weights: Optional[str] = None) -> dict[str, Any]:
    """The manifest of an export folder, checked: format, graph files, and (when given) the crop
    size and the weights (:func:`weights_sha256`) it was exported from. Raises :class:`CheckpointError`."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {MANIFEST}; export one with `rgbt-tracker export CKPT --format onnx`")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an rgbt_tracker_ros ONNX export (format {FORMAT} expected)")
    for name in GRAPHS:
        graph = manifest.get("graphs", {}).get(name)
        if not graph or not (Path(folder) / graph["file"]).is_file():
            raise CheckpointError(f"{folder}: graph {name!r} missing from the export")
    if sample_size is not None and manifest["sample_size"] != int(sample_size):
        raise CheckpointError(f"{folder}: exported for {manifest['sample_size']} px crops, the tracker uses "
                              f"{sample_size} px; export again with the tracker's parameters")
    if weights and manifest.get("weights_sha256") != weights:
        exported = str(manifest.get("weights_sha256"))[:12]
        raise CheckpointError(f"{folder}: exported from other weights (SHA-256 {exported}..., the tracker's "
                              f"{weights[:12]}...); export this checkpoint again")
    return manifest


def onnx_parity(model: nn.Module, folder: Union[str, Path], manifest: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per output: the max absolute difference between ONNX Runtime (CPU) and PyTorch
    (``max_abs_diff``) and the max absolute PyTorch value (``max_abs_reference``, its scale), on
    the example inputs with a batch of 2 (the dynamic axis exercised)."""
    import onnxruntime

    inputs = example_inputs(model, manifest["sample_size"], batch=2, seed=1)
    differences: dict[str, dict[str, float]] = {}
    for name, module in graph_modules(model).items():
        session = onnxruntime.InferenceSession(str(Path(folder) / manifest["graphs"][name]["file"]),
                                               providers=["CPUExecutionProvider"])
        feeds = {n: t.numpy() for n, t in zip(manifest["graphs"][name]["inputs"], inputs[name])}
        outputs = session.run(None, feeds)
        with torch.no_grad():
            reference = module(*inputs[name])
        reference = reference if isinstance(reference, tuple) else (reference,)
        for output_name, got, expected in zip(manifest["graphs"][name]["outputs"], outputs, reference):
            differences[f"{name}.{output_name}"] = {"max_abs_diff": float(np.abs(got - expected.numpy()).max()),
                                                    "max_abs_reference": float(expected.abs().max())}
    return differences


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 over the names and float32 values of ``model``'s state dict: what an export is of."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_exportable(model: nn.Module) -> None:
    """:class:`InputError` unless ``model`` is a DiMP network with the API the graphs call."""
    for attribute in ("extract_features", "classifier", "bb_regressor", "config"):
        if not hasattr(model, attribute):
            raise InputError(f"ONNX export covers the DiMP networks (CMD student / teacher); "
                             f"{type(model).__name__} has no {attribute}")
