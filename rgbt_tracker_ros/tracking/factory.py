"""One place that turns a tracker name into a :class:`~rgbt_tracker_ros.tracking.base.Tracker`.

The command line, the benchmark and the ROS nodes call :func:`create_tracker` and never need to know
which model runs:

- ``"dimp"``: the DiMP online tracker (:class:`~rgbt_tracker_ros.tracking.dimp.DiMPTracker`) with the
  network of a checkpoint (CMD student or teacher, whichever the checkpoint holds); default: the
  bundled demo checkpoint :func:`default_model_path`.
- ``"dimp-rgb-only"``, ``"dimp-thermal-only"``: the same RGB-T network with the other modality
  blanked (:class:`~rgbt_tracker_ros.tracking.blank.BlankedModalityTracker`), the fusion ablation.
- ``"ainet"``: OSTrack-style tracking (:class:`~rgbt_tracker_ros.tracking.ostrack.OSTrackTracker`) with the
  AINet of a checkpoint (no default: train one, docs/training.md).
- ``"csrt-rgb"``, ``"csrt-thermal"``, ``"kcf-rgb"``, ``"kcf-thermal"``: OpenCV single-modality
  baselines (:class:`~rgbt_tracker_ros.tracking.opencv_baseline.OpenCVTracker`); no model needed.

A checkpoint knows its model family (``networks.checkpoint``); a model-based tracker refuses a checkpoint of
the other family, naming the tracker that runs it (:func:`tracker_for_checkpoint` picks it for commands that
take only a checkpoint).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Union

from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.tracking.base import Tracker
from rgbt_tracker_ros.tracking.opencv_baseline import BASELINE_NAMES
from rgbt_tracker_ros.tracking.params import DiMPParams, OSTrackParams

#: DiMP with one modality blanked: name -> the modality that is blanked.
BLANKED_NAMES = {"dimp-rgb-only": "thermal", "dimp-thermal-only": "rgb"}

#: Trackers that run a network checkpoint: tracker name -> the checkpoint's model family.
MODEL_TRACKERS = {"dimp": "dimp", "ainet": "ainet"}

#: Every name :func:`create_tracker` accepts.
TRACKER_NAMES = ("dimp",) + tuple(BLANKED_NAMES) + ("ainet",) + BASELINE_NAMES

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
    params: Union[str, Path, DiMPParams, OSTrackParams, None] = None,
    device: str = "auto",
    backend: str = "torch",
    export_dir: Union[str, Path, None] = None,
) -> Tracker:
    """Build the tracker ``name`` (one of :data:`TRACKER_NAMES`).

    Args:
        name: ``"dimp"``, ``"dimp-rgb-only"``, ``"dimp-thermal-only"``, ``"ainet"`` or an OpenCV baseline
            ``"<csrt|kcf>-<rgb|thermal>"``.
        model: checkpoint of the network (``dimp``: default :func:`default_model_path`; ``ainet``:
            required); ignored by the baselines.
        params: tracker parameters: bundled name, YAML path, :class:`DiMPParams` (default ``"dimp"``) or
            :class:`OSTrackParams` (default ``"ainet"``); ignored by the baselines.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
        backend: inference backend of the DiMP networks: ``torch``, ``onnxruntime`` or ``tensorrt``
            (:mod:`~rgbt_tracker_ros.tracking.backends`); ignored by the baselines; AINet runs on torch only.
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

    torch_device = resolve_device(device)
    if name == "ainet":
        from rgbt_tracker_ros.tracking.ostrack import OSTrackTracker

        if backend != "torch":
            raise InputError(f"tracker 'ainet' runs on the torch backend only (no {backend} export of AINet yet)")
        tracker_params = load_tracker_params(name, params)
        path = _checkpoint_path(model, name)
        network, meta = load_checkpoint(path, map_location=torch_device)
        _check_family(name, meta, path)
        return OSTrackTracker(network, tracker_params, device=torch_device, name=f"ainet-{path.stem}")

    from rgbt_tracker_ros.tracking.dimp import DiMPTracker

    tracker_params = load_tracker_params(name, params)
    path = _checkpoint_path(model)
    network, meta = load_checkpoint(path, map_location=torch_device)
    _check_family(name, meta, path)
    return DiMPTracker(network, tracker_params, device=torch_device, name=f"dimp-{path.stem}", backend=backend,
                       export_dir=export_dir)


def check_tracker_name(name: str) -> None:
    """Raise :class:`InputError` listing :data:`TRACKER_NAMES` unless ``name`` is one of them."""
    if name not in TRACKER_NAMES:
        raise InputError(f"unknown tracker {name!r}; choose one of {', '.join(TRACKER_NAMES)}")


def load_tracker_params(name: str, params: Union[str, Path, DiMPParams, OSTrackParams, None]) -> Any:
    """The parameters of model tracker ``name`` (``dimp``, ``ainet``): given, or loaded by name / path (default:
    the tracker's own file, ``dimp`` / ``ainet``)."""
    from rgbt_tracker_ros.tracking.params import load_ostrack_params, load_params

    wanted = OSTrackParams if name == "ainet" else DiMPParams
    if isinstance(params, (DiMPParams, OSTrackParams)):
        if not isinstance(params, wanted):
            raise InputError(f"tracker {name!r} takes {wanted.__name__}, got {type(params).__name__}")
        return params
    return load_ostrack_params(params) if name == "ainet" else load_params(params)


def _check_family(name: str, meta: dict[str, Any], path: Path) -> None:
    """:class:`InputError` when the checkpoint's model family is not the one tracker ``name`` runs."""
    family = meta["config"].family
    if family != MODEL_TRACKERS[name]:
        runs = next(tracker for tracker, f in MODEL_TRACKERS.items() if f == family)
        raise InputError(f"{path} holds a {family} network ({meta['config'].name}); tracker {name!r} cannot run it, "
                         f"use tracker {runs!r}")


def tracker_for_checkpoint(model: Union[str, Path, None]) -> str:
    """The model tracker that runs checkpoint ``model`` (``None``: the bundled demo checkpoint): ``dimp`` or
    ``ainet``, from the stored config's family (for commands and nodes that take only a checkpoint)."""
    from rgbt_tracker_ros.networks.checkpoint import read_checkpoint
    from rgbt_tracker_ros.networks.config import config_from_dict

    path = _checkpoint_path(model)
    family = config_from_dict(read_checkpoint(path)["config"], source=f"{path} (stored config)").family
    return next(tracker for tracker, f in MODEL_TRACKERS.items() if f == family)


def describe_setup(
    name: str = "dimp",
    model: Union[str, Path, None] = None,
    params: Union[str, Path, DiMPParams, OSTrackParams, None] = None,
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
    tracker_params = load_tracker_params("ainet" if name == "ainet" else "dimp", params)
    digest = hashlib.sha256(_checkpoint_path(model, name).read_bytes()).hexdigest()
    setup = {"tracker": name, "model_sha256": digest, "params": dataclasses.asdict(tracker_params)}
    if backend != "torch":  # torch results folders written before backends existed stay resumable
        setup["backend"] = backend
    return setup


def _checkpoint_path(model: Union[str, Path, None], name: str = "dimp") -> Path:
    """The checkpoint to load: ``model``, or the bundled demo one (DiMP trackers); :class:`CheckpointError` if
    missing."""
    if model is None and name == "ainet":
        raise CheckpointError("tracker 'ainet' needs an AINet checkpoint (--model); none is bundled: train one with "
                              "`rgbt-tracker train --model-config ainet-tiny --settings ainet-synthetic-cpu ...` "
                              "(docs/training.md)")
    if model is None:
        path = default_model_path()
        if not path.is_file():
            raise CheckpointError(f"the bundled demo checkpoint {path} is missing; {DEMO_CHECKPOINT_RECIPE}")
        return path
    path = Path(model)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path
