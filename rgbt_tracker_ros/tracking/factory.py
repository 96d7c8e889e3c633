"""One place that turns a tracker name into a :class:`~rgbt_tracker_ros.tracking.base.Tracker`.

The command line, the benchmark and the ROS nodes call :func:`create_tracker` and never need to know
which model runs:

- ``"dimp"``: the DiMP online tracker (:class:`~rgbt_tracker_ros.tracking.dimp.DiMPTracker`) with the
  network of a checkpoint (CMD student or teacher, whichever the checkpoint holds); default: the
  bundled demo checkpoint :func:`default_model_path`.
- ``"dimp-rgb-only"``, ``"dimp-thermal-only"``: the same RGB-T network with the other modality
  blanked (:class:`~rgbt_tracker_ros.tracking.blank.BlankedModalityTracker`), the fusion ablation.
- ``"csrt-rgb"``, ``"csrt-thermal"``, ``"kcf-rgb"``, ``"kcf-thermal"``: OpenCV single-modality
  baselines (:class:`~rgbt_tracker_ros.tracking.opencv_baseline.OpenCVTracker`); no model needed.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Union

from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.tracking.base import Tracker
from rgbt_tracker_ros.tracking.opencv_baseline import BASELINE_NAMES
from rgbt_tracker_ros.tracking.params import DiMPParams

#: DiMP with one modality blanked: name -> the modality that is blanked.
BLANKED_NAMES = {"dimp-rgb-only": "thermal", "dimp-thermal-only": "rgb"}

#: Every name :func:`create_tracker` accepts.
TRACKER_NAMES = ("dimp",) + tuple(BLANKED_NAMES) + BASELINE_NAMES

#: How to produce the demo checkpoint when it is missing (printed in the error).
DEMO_CHECKPOINT_RECIPE = (
    "make it with `rgbt-tracker synth --out DATA --sequences 80 --format lasher`, "
    "`rgbt-tracker train --model-config student-tiny --settings synthetic-demo --data DATA --out RUN` and "
    "`rgbt-tracker export RUN/checkpoints/epoch_008.pt --out <that path>` (the first of the bundled "
    "checkpoint's training stages; all of them are in docs/training.md), or pass a checkpoint with --model"
)


def default_model_path() -> Path:
    """The bundled demo checkpoint: ``rgbt_tracker_ros/assets/demo_student.pt``."""
    return Path(__file__).resolve().parent.parent / "assets" / "demo_student.pt"


def create_tracker(
    name: str = "dimp",
    model: Union[str, Path, None] = None,
    params: Union[str, Path, DiMPParams, None] = None,
    device: str = "auto",
    backend: str = "torch",
    export_dir: Union[str, Path, None] = None,
) -> Tracker:
    """Build the tracker ``name`` (one of :data:`TRACKER_NAMES`).

    Args:
        name: ``"dimp"``, ``"dimp-rgb-only"``, ``"dimp-thermal-only"`` or an OpenCV baseline ``"<csrt|kcf>-<rgb|thermal>"``.
        model: checkpoint of the ``dimp`` network (default :func:`default_model_path`); ignored by
            the baselines.
        params: DiMP tracker parameters: bundled name, YAML path or :class:`DiMPParams`
            (default ``"dimp"``); ignored by the baselines.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        backend: inference backend of the DiMP networks: ``torch``, ``onnxruntime`` or ``tensorrt``
            (:mod:`~rgbt_tracker_ros.tracking.backends`); ignored by the baselines.
        export_dir: the ONNX export the ``onnxruntime`` / ``tensorrt`` backends run (default:
            exported on first use into a cache folder).

    Raises:
        InputError: unknown name, parameters or device.
        CheckpointError: missing or unreadable checkpoint (the message says how to make the demo one).
    """
    if name in BASELINE_NAMES:
        from rgbt_tracker_ros.tracking.opencv_baseline import OpenCVTracker

        algorithm, modality = name.split("-", 1)
        return OpenCVTracker(algorithm, modality)
    if name in BLANKED_NAMES:
        from rgbt_tracker_ros.tracking.blank import BlankedModalityTracker

        return BlankedModalityTracker(create_tracker("dimp", model, params, device, backend, export_dir),
                                      blank=BLANKED_NAMES[name])
    check_tracker_name(name)

    from rgbt_tracker_ros.networks.checkpoint import load_checkpoint
    from rgbt_tracker_ros.tracking.device import resolve_device
    from rgbt_tracker_ros.tracking.dimp import DiMPTracker
    from rgbt_tracker_ros.tracking.params import load_params

    tracker_params = params if isinstance(params, DiMPParams) else load_params(params)
    torch_device = resolve_device(device)
    path = _checkpoint_path(model)
    network, _meta = load_checkpoint(path, map_location=torch_device)
    return DiMPTracker(network, tracker_params, device=torch_device, name=f"dimp-{path.stem}", backend=backend,
                       export_dir=export_dir)


def check_tracker_name(name: str) -> None:
    """Raise :class:`InputError` listing :data:`TRACKER_NAMES` unless ``name`` is one of them."""
    if name not in TRACKER_NAMES:
        raise InputError(f"unknown tracker {name!r}; choose one of {', '.join(TRACKER_NAMES)}")


def describe_setup(
    name: str = "dimp",
    model: Union[str, Path, None] = None,
    params: Union[str, Path, DiMPParams, None] = None,
    backend: str = "torch",
) -> dict[str, Any]:
    """What decides the results of :func:`create_tracker` with these arguments, as plain JSON data.

    DiMP trackers: the name, the checkpoint's SHA-256 (the path alone would miss a replaced file,
    such as a new bundled checkpoint), every resolved parameter and the inference backend (unless torch). OpenCV baselines: the name and
    the OpenCV version. Used to keep a resumable results folder from mixing two setups.
    """
    if name in BASELINE_NAMES:
        import cv2

        return {"tracker": name, "opencv": cv2.__version__}
    check_tracker_name(name)
    from rgbt_tracker_ros.tracking.params import load_params

    tracker_params = params if isinstance(params, DiMPParams) else load_params(params)
    digest = hashlib.sha256(_checkpoint_path(model).read_bytes()).hexdigest()
    setup = {"tracker": name, "model_sha256": digest, "params": dataclasses.asdict(tracker_params)}
    if backend != "torch":  # torch results folders written before backends existed stay resumable
        setup["backend"] = backend
    return setup


def _checkpoint_path(model: Union[str, Path, None]) -> Path:
    """The checkpoint to load: ``model``, or the bundled demo one; :class:`CheckpointError` if missing."""
    if model is None:
        path = default_model_path()
        if not path.is_file():
            raise CheckpointError(f"the bundled demo checkpoint {path} is missing; {DEMO_CHECKPOINT_RECIPE}")
        return path
    path = Path(model)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path
