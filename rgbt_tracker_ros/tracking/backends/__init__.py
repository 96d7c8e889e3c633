"""Inference backends of the DiMP tracker: ``torch`` (the module itself), ``onnxruntime`` and
``tensorrt`` (the per-frame graphs exported to ONNX; ``base`` says what they run and what stays in
PyTorch). :func:`create_backend` is the one place that picks one.

The exported backends need an export folder (``rgbt-tracker export CKPT --format onnx --out DIR``).
Without one, the checkpoint is exported on first use into a cache folder keyed by the SHA-256 of its weights and
the crop size (:func:`default_export_dir`), so ``--backend onnxruntime`` works on any checkpoint.

This module imports torch only when a backend is created: the command line reads :data:`BACKEND_NAMES` and
:data:`BACKEND_PRECISIONS` from here for its ``choices`` without paying for torch.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from rgbt_tracker_ros import __version__
from rgbt_tracker_ros.errors import InputError

if TYPE_CHECKING:
    import torch

    from rgbt_tracker_ros.tracking.backends.base import InferenceBackend

#: Every backend name, in the order of the docs.
BACKEND_NAMES = ("torch", "onnxruntime", "tensorrt")
#: Precisions each backend runs (``tensorrt``: fp16 = an fp16 engine).
BACKEND_PRECISIONS = {"torch": ("fp32", "fp16", "bf16"), "onnxruntime": ("fp32",), "tensorrt": ("fp16", "fp32")}
#: Every precision some backend runs.
PRECISION_NAMES = ("fp32", "bf16", "fp16")


def check_backend(name: str) -> str:
    """``name`` if it is a backend; :class:`InputError` naming the choices otherwise."""
    if name not in BACKEND_NAMES:
        raise InputError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    return name


def default_export_dir(weights: str, sample_size: int) -> Path:
    """``$RGBT_TRACKER_CACHE`` (default ``~/.cache/rgbt_tracker_ros``)
    ``/onnx/<package version>/<weights sha[:16]>-<size>px``."""
    root = Path(os.environ.get("RGBT_TRACKER_CACHE", Path.home() / ".cache" / "rgbt_tracker_ros"))
    return root / "onnx" / __version__ / f"{weights[:16]}-{int(sample_size)}px"


def create_backend(name: str, model: torch.nn.Module, device: torch.device, sample_size: int,
                   precision: Optional[str] = None, export_dir: Union[str, Path, None] = None) -> InferenceBackend:
    """The backend ``name`` for ``model`` (on ``device``) and crops of ``sample_size`` px.

    ``precision``: default fp32 (torch, onnxruntime) / fp16 (tensorrt). ``export_dir``: the ONNX
    export to run (exported backends); ``None`` exports into :func:`default_export_dir`.
    """
    from rgbt_tracker_ros.tracking.backends.onnx_export import MANIFEST, export_onnx, weights_sha256

    check_backend(name)
    precision = precision or BACKEND_PRECISIONS[name][0]
    if precision not in BACKEND_PRECISIONS[name]:
        raise InputError(f"backend {name} runs {', '.join(BACKEND_PRECISIONS[name])}, not {precision}")
    if name == "torch":
        from rgbt_tracker_ros.tracking.backends.torch_backend import TorchBackend

        return TorchBackend(model, device, precision)
    weights = weights_sha256(model)
    folder = Path(export_dir) if export_dir else default_export_dir(weights, sample_size)
    if export_dir is None and not (folder / MANIFEST).is_file():
        export_onnx(model, folder, sample_size)
    path_names = tuple(model.fusion_path_names)
    if name == "onnxruntime":
        from rgbt_tracker_ros.tracking.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(folder, device, model, sample_size, weights)
    from rgbt_tracker_ros.tracking.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(folder, device, path_names, sample_size, weights, fp16=precision == "fp16")
