"""Import pytracking DiMP weights (DiMP18, DiMP50, SuperDiMP) into the CMD student / teacher.

Source layout (visionml/pytracking ``ltr/models/tracking/dimpnet.py``, ``dimpnet18`` / ``dimpnet50``):
a training checkpoint ``{'net': state_dict, 'constructor': ltr.admin.model_constructor.NetConstructor,
'net_info', 'epoch', 'actor_type', 'net_type', 'stats', 'settings', ...}`` whose ``net`` holds

* ``feature_extractor.*``: a full ResNet18 / ResNet50 (``ltr/models/backbone/resnet.py``, torchvision's
  names, including ``layer4`` and ``fc``);
* ``classifier.feature_extractor.*`` (``residual_basic_block`` / ``residual_bottleneck``),
  ``classifier.filter_initializer.filter_conv.*`` (``FilterInitializerLinear``),
  ``classifier.filter_optimizer.*`` (``DiMPSteepestDescentGN``) and ``bb_regressor.*``
  (``AtomIoUNet``): the same module names and shapes as ours (``classifier.py``, ``optimizer.py``,
  ``iou_net.py``).

Mapping: the backbone up to ``layer3`` goes to the student's shared trunk, or to **both** teacher
streams (mfDiMP initialises its thermal stream from the RGB DiMP in the same way); ``layer4``/``fc``
are dropped (never built); the heads map one to one; the fusion modules (MPSD, MDC + FRS) have no
counterpart and keep their fresh initialisation. The target config must use ``roi_pool: prroi``
(pytracking's exact PrRoIPool, with which these heads were trained), e.g. ``student-dimp18`` /
``teacher-dimp50``.

Reading: the checkpoint is a pickle that names pytracking classes. Nothing in it is imported or run
(:mod:`.foreign_checkpoints`): those in pytracking's own packages (``ltr``, ``pytracking`` and the older
``dlframework``) are read as inert placeholders; any other global makes the load fail, naming it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import torch

from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.config import ModelConfig, build_model, load_config
from rgbt_tracker_ros.networks.foreign_checkpoints import ForeignPlaceholder, ImportReport, read_with_placeholders
from rgbt_tracker_ros.networks.models import RGBTDiMPNet

#: Top-level packages whose classes are read as inert placeholders (``dlframework``: pytracking's
#: pre-release name, still in old checkpoints; see ``ltr/admin/loading.py``).
PYTRACKING_PACKAGES = ("ltr", "pytracking", "dlframework")
#: pytracking constructors whose networks we can take (``ltr/models/tracking/dimpnet.py``).
SUPPORTED_CONSTRUCTORS = {"dimpnet18": "resnet18", "dimpnet50": "resnet50"}
#: Constructor keyword arguments that change behaviour without changing a shape:
#: ``name: (pytracking default, our value for a config)``.
CONSTRUCTOR_CHECKS = {
    "filter_size": (1, lambda c: c.filter_size),
    "feat_stride": (16, lambda c: c.feature_stride),
    "bin_displacement": (1.0, lambda c: c.bin_displacement),
    "classification_layer": ("layer3", lambda c: "layer3"),
    "score_act": ("relu", lambda c: "relu"),
    "target_mask_act": ("sigmoid", lambda c: "sigmoid"),
    "init_filter_norm": (False, lambda c: False),
    "clf_feat_norm": (True, lambda c: True),
    "final_conv": (True, lambda c: True),
}
_BACKBONE = "feature_extractor."
_BUILT_LEVELS = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.")
_HEADS = ("classifier.feature_extractor.", "classifier.filter_initializer.", "classifier.filter_optimizer.",
          "bb_regressor.")


class PytrackingPlaceholder(ForeignPlaceholder):
    """Inert stand-in for a pytracking object in a checkpoint (:class:`~.foreign_checkpoints.ForeignPlaceholder`)."""

    project = "pytracking"


def read_pytracking_checkpoint(path: Union[str, Path]) -> tuple[dict[str, Any], list[str]]:
    """Safely read a pytracking checkpoint: ``(payload dict, placeholder class names)``.

    Raises :class:`CheckpointError` for a missing, truncated or foreign file and for any global
    that is neither torch's plain data nor a pytracking class (never executed).
    """
    path = Path(path)
    payload, ours = read_with_placeholders(path, PYTRACKING_PACKAGES, "pytracking", PytrackingPlaceholder)
    if not isinstance(payload, dict) or not isinstance(payload.get("net"), dict):
        found = sorted(map(str, payload))[:8] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a pytracking training checkpoint (expected a dict with a 'net' "
                              f"state dict; found {found})")
    bad = [k for k, v in payload["net"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: 'net' entry {bad[0]!r} is not a tensor")
    return payload, ours


def source_backbone(net: dict[str, torch.Tensor]) -> Optional[str]:
    """``resnet18`` / ``resnet34`` / ``resnet50`` from the ``feature_extractor`` keys, None if absent."""
    blocks = {int(k.split(".")[2]) for k in net if k.startswith(_BACKBONE + "layer3.")}
    if not blocks:
        return None
    if _BACKBONE + "layer1.0.conv3.weight" in net:
        return "resnet50"
    return "resnet18" if max(blocks) + 1 == 2 else "resnet34"


def _network_name(backbone: str, actor_type: Any) -> str:
    if backbone == "resnet50":
        return "SuperDiMP" if actor_type == "KLDiMPActor" else "DiMP50"
    return {"resnet18": "DiMP18"}.get(backbone, f"DiMP ({backbone})")


def _constructor_info(constructor: Any) -> dict[str, Any]:
    """``fun_name``, ``fun_module``, ``args``, ``kwds`` of a placeholder ``NetConstructor`` (empty if absent)."""
    if isinstance(constructor, PytrackingPlaceholder) and isinstance(constructor.state, dict):
        return constructor.state
    return {}


def _check_constructor(info: dict[str, Any], config: ModelConfig, path: Path) -> list[str]:
    """Refuse unsupported constructors or arguments our config does not share; returns notes."""
    if not info:
        return ["no readable constructor in the checkpoint: its arguments were not checked (the shapes were)"]
    fun_name = str(info.get("fun_name"))
    if fun_name not in SUPPORTED_CONSTRUCTORS:
        raise CheckpointError(f"{path}: built by pytracking's {fun_name}(); only "
                              f"{'/'.join(SUPPORTED_CONSTRUCTORS)} (DiMP18, DiMP50, SuperDiMP) can be imported")
    kwds = info.get("kwds") if isinstance(info.get("kwds"), dict) else {}
    for name, (default, ours) in CONSTRUCTOR_CHECKS.items():
        theirs, wanted = kwds.get(name, default), ours(config)
        if theirs != wanted:
            raise CheckpointError(f"{path}: the network was built with {name}={theirs!r}, config {config.name!r} "
                                  f"has {wanted!r}; use a config that matches it")
    return [] if not info.get("args") else ["the constructor's positional arguments were not checked"]


def import_pytracking(path: Union[str, Path], config: Union[str, Path, ModelConfig],
                      seed: int = 0) -> tuple[RGBTDiMPNet, ImportReport]:
    """Build ``config``'s model with the weights of the pytracking checkpoint ``path``.

    Returns the model (eval mode) and the :class:`ImportReport`. Modules without a pytracking
    counterpart are initialised under ``torch.manual_seed(seed)``. Raises :class:`CheckpointError`
    for unreadable or unsafe files, unsupported networks and shapes that do not fit ``config``,
    and :class:`InputError` for a config that does not use exact PrRoIPool.
    """
    path = Path(path)
    config = load_config(config)
    if config.roi_pool != "prroi":
        raise InputError(f"config {config.name!r} uses roi_pool {config.roi_pool!r}; imported DiMP heads need "
                         f"pytracking's exact PrRoIPool (roi_pool: prroi), e.g. "
                         f"{'student-dimp18' if config.kind == 'student' else 'teacher-dimp50'}")
    payload, placeholders = read_pytracking_checkpoint(path)
    net = dict(payload["net"])
    notes: list[str] = []
    if net and all(k.startswith("module.") for k in net):  # saved from a DataParallel wrapper
        net = {k[len("module."):]: v for k, v in net.items()}
        notes.append("the keys' 'module.' prefix (DataParallel) was removed")
    backbone = source_backbone(net)
    if backbone is None:
        raise CheckpointError(f"{path}: its 'net' has no feature_extractor.layer3 weights: not a DiMP network")
    if backbone != config.backbone:
        raise CheckpointError(f"{path}: holds a {_network_name(backbone, payload.get('actor_type'))} with a {backbone} "
                              f"backbone, config {config.name!r} has {config.backbone}")
    optimizer_keys = [k for k in net if k.startswith("classifier.filter_optimizer.")]
    if optimizer_keys and "classifier.filter_optimizer.label_map_predictor.weight" not in net:
        raise CheckpointError(f"{path}: its filter optimiser is not DiMP's steepest-descent GN (PrDiMP?): "
                              f"only DiMP18, DiMP50 and SuperDiMP can be imported")
    constructor = _constructor_info(payload.get("constructor"))
    notes.extend(_check_constructor(constructor, config, path))

    torch.manual_seed(seed)
    model = build_model(config, pretrained="none")
    state = model.state_dict()
    trunks = ["backbone."] if config.kind == "student" else ["rgb_backbone.", "tir_backbone."]
    report = ImportReport(source_file=path.name, network=_network_name(backbone, payload.get("actor_type")),
                          config=config.name, placeholders=placeholders, notes=notes)
    report.checkpoint = {
        "constructor": constructor.get("fun_name"), "epoch": payload.get("epoch"),
        "actor_type": payload.get("actor_type"), "net_type": payload.get("net_type"),
        "net_info": payload.get("net_info") if isinstance(payload.get("net_info"), (str, int, float)) else None,
        "constructor_kwds": {k: v for k, v in (constructor.get("kwds") or {}).items()
                             if isinstance(v, (str, int, float, bool, list, tuple))},
    }
    filled: dict[str, torch.Tensor] = {}
    mismatched: list[str] = []
    for key, value in net.items():
        shape = list(value.shape)
        if key.startswith(_BACKBONE):
            rest = key[len(_BACKBONE):]
            if not rest.startswith(_BUILT_LEVELS):
                report.dropped.append({"source": key, "shape": shape,
                                       "reason": "ResNet layer4/fc are not built (DiMP never reads them)"})
                continue
            targets = [trunk + rest for trunk in trunks]
        elif key.startswith(_HEADS):
            targets = [key]
        else:
            report.dropped.append({"source": key, "shape": shape,
                                   "reason": "pytracking module with no counterpart in our model"})
            continue
        for target in targets:
            if target not in state:
                mismatched.append(f"{key} has no place in {config.name!r}")
            elif state[target].shape != value.shape:
                mismatched.append(f"{key} {tuple(value.shape)} vs {target} {tuple(state[target].shape)}")
            else:
                filled[target] = value.to(state[target].dtype)
        report.mapped.append({"source": key, "targets": targets, "shape": shape})
    if mismatched:
        more = f" (+{len(mismatched) - 3} more)" if len(mismatched) > 3 else ""
        raise CheckpointError(f"{path}: does not fit config {config.name!r}: {'; '.join(mismatched[:3])}{more}")
    fusion_name = "MPSD" if config.kind == "student" else "MDC + FRS"
    for key, value in state.items():
        if key not in filled:
            reason = (f"{fusion_name} fusion has no pytracking counterpart (fresh initialisation)"
                      if key.startswith("fusion.") else "not in the checkpoint (left at initialisation)")
            report.initialised.append({"target": key, "shape": list(value.shape), "reason": reason})
    model.load_state_dict({**state, **filled})
    if config.kind == "teacher":
        notes.append("both teacher streams start from the RGB backbone (as mfDiMP initialises its thermal stream)")
    notes.append(f"the {fusion_name} fusion starts fresh, so the heads see fused features they were not trained "
                 f"on: fine-tune (`rgbt-tracker train --init-weights OUT --model-config {config.name}`) before use")
    if report.network == "SuperDiMP" and config.input_size != 352:
        notes.append(f"SuperDiMP was trained on 352 px crops (22x22 features, search area 6); config "
                     f"{config.name!r} uses {config.input_size} px")
    return model.eval(), report
