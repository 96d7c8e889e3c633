"""The TensorRT backend: engines built from the ONNX export (fp16 by default) and run on CUDA.

Engines are specific to the GPU and the TensorRT version, so they are built on the robot itself
(``rgbt-tracker export --format tensorrt`` or on first use of the backend) and cached beside the
ONNX files as ``<graph>.<fp16|fp32>.engine`` with ``tensorrt.json`` recording the version; a
different version rebuilds them. Written against the TensorRT 10 Python API (JetPack 6); see
docs/deploy.md.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Union

import torch

from rgbt_tracker_ros.atomic_files import write_bytes_atomic
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.tracking.backends.base import ExportedGraphBackend
from rgbt_tracker_ros.tracking.backends.onnx_export import read_manifest

#: Largest batch of the feature engine (DiMP's initialisation runs its augmented samples at once)
#: and most IoU proposals per call (10 boxes x 9 finite-difference probes = 90).
MAX_FEATURE_BATCH = 32
MAX_PROPOSALS = 512
ENGINE_INFO = "tensorrt.json"
WORKSPACE_BYTES = 1 << 30


def import_tensorrt() -> Any:
    """``tensorrt``, or :class:`InputError` saying where it comes from."""
    try:
        import tensorrt
    except ImportError:
        raise InputError("backend tensorrt needs NVIDIA TensorRT's Python package (`import tensorrt`): on a Jetson "
                         "it comes with JetPack (python3-libnvinfer), on a desktop GPU `pip install tensorrt`; "
                         "docs/deploy.md") from None
    return tensorrt


def optimization_profiles(manifest: dict[str, Any]) -> dict[str, dict[str, tuple[tuple[int, ...], ...]]]:
    """Per graph, per input: ``(min, opt, max)`` shapes for the engine's optimisation profile."""
    size = manifest["sample_size"]
    image = lambda channels, batch: (batch, channels, size, size)  # noqa: E731
    return {
        "features": {"rgb": (image(3, 1), image(3, 1), image(3, MAX_FEATURE_BATCH)),
                     "thermal": (image(1, 1), image(1, 1), image(1, MAX_FEATURE_BATCH))},
        "iou_features": {},
        "iou_predictor": {"boxes": ((1, 1, 4), (1, 90, 4), (1, MAX_PROPOSALS, 4))},
    }


def engine_path(folder: Union[str, Path], graph: str, fp16: bool) -> Path:
    return Path(folder) / f"{graph}.{'fp16' if fp16 else 'fp32'}.engine"


def build_engines(folder: Union[str, Path], fp16: bool = True, force: bool = False) -> list[Path]:
    """Build (or reuse) the engines of an ONNX export folder; returns their paths.

    Raises :class:`InputError` when TensorRT is missing or a graph does not parse.
    """
    manifest = read_manifest(folder)
    profiles = optimization_profiles(manifest)
    trt = import_tensorrt()
    info_path = Path(folder) / ENGINE_INFO
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    paths = []
    logger = trt.Logger(trt.Logger.WARNING)
    for graph, description in manifest["graphs"].items():
        path = engine_path(folder, graph, fp16)
        paths.append(path)
        if path.is_file() and not force and info.get("tensorrt") == trt.__version__:
            continue
        builder = trt.Builder(logger)
        network = builder.create_network(0)  # explicit batch (the only mode in TensorRT 10)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse((Path(folder) / description["file"]).read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise InputError(f"TensorRT cannot parse {description['file']}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        if profiles[graph]:
            profile = builder.create_optimization_profile()
            for name, (smallest, optimal, largest) in profiles[graph].items():
                profile.set_shape(name, smallest, optimal, largest)
            config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise InputError(f"TensorRT could not build an engine for {description['file']} (see its log above)")
        write_bytes_atomic(path, lambda f, data=serialized: f.write(bytes(data)))
    write_bytes_atomic(info_path, lambda f: f.write(json.dumps({"tensorrt": trt.__version__}).encode()))
    return paths


class TensorRTBackend(ExportedGraphBackend):
    """Per-frame graphs as TensorRT engines on a CUDA device, torch tensors as I/O buffers."""

    name = "tensorrt"

    def __init__(self, folder: Union[str, Path], device: torch.device, path_names: tuple[str, ...],
                 sample_size: int, weights: str = "", fp16: bool = True) -> None:
        if device.type != "cuda":
            raise InputError("backend tensorrt runs on CUDA only; use device cuda (or backend onnxruntime on the CPU)")
        self.manifest = read_manifest(folder, sample_size, weights)
        trt = import_tensorrt()
        self._trt = trt
        self.device = device
        self.path_names = path_names
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._contexts = {}
        for graph, path in zip(self.manifest["graphs"], build_engines(folder, fp16)):
            engine = runtime.deserialize_cuda_engine(path.read_bytes())
            self._contexts[graph] = (engine, engine.create_execution_context())

    def _run(self, graph: str, *inputs: torch.Tensor) -> list[torch.Tensor]:
        engine, context = self._contexts[graph]
        description = self.manifest["graphs"][graph]
        keep = []
        for name, tensor in zip(description["inputs"], inputs):
            tensor = tensor.detach().float().contiguous().to(self.device)
            keep.append(tensor)
            context.set_input_shape(name, tuple(tensor.shape))
            context.set_tensor_address(name, tensor.data_ptr())
        outputs = []
        for name in description["outputs"]:
            output = torch.empty(tuple(context.get_tensor_shape(name)), dtype=torch.float32, device=self.device)
            context.set_tensor_address(name, output.data_ptr())
            outputs.append(output)
        stream = torch.cuda.current_stream(self.device)
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT failed to run the {graph} engine")
        stream.synchronize()
        return outputs
