"""Named network configurations (``configs/*.yaml``) and the model factory.

A :class:`ModelConfig` fully determines the architecture of an :class:`~.models.RGBTDiMPNet`; it is
stored inside every checkpoint, so a checkpoint can rebuild its own network. The DiMP values follow
pytracking's ``ltr/train_settings/dimp/dimp{18,50}.py`` (filter 4x4, 5 optimizer iterations, initial
step 0.9, initial regularisation 0.1, 100 distance bins of 0.1, ``mask_init_factor`` 3,
``init_gauss_sigma`` = output sigma (1/4 / search-area factor 5) x feature size).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.yaml_files import bundled_names, dataclass_from_mapping, read_named_yaml

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rgbt_tracker_ros.networks.models import RGBTDiMPNet

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: Backbones that can be built (torchvision ResNets, truncated after ``layer3``).
BACKBONES = ("resnet18", "resnet34", "resnet50")
#: ``student``: one shared backbone + MPSD; ``teacher``: two backbones + MDC/FRS.
KINDS = ("student", "teacher")
#: RoI pooling of the filter initializer and IoU-Net (``networks/roi_pool.py``): ``prroi`` is exact
#: PrRoIPool as in pytracking; ``legacy`` is our earlier substitute, half a feature cell away from it.
ROI_POOLS = ("prroi", "legacy")


def conv_out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution / pooling along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one RGB-T DiMP network (see ``docs/networks.md``).

    Attributes:
        name: config name (``student-r18``, ``teacher-r50``, ...).
        kind: ``student`` (shared backbone, MPSD fusion) or ``teacher`` (two backbones, MDC + FRS).
        backbone: torchvision ResNet used up to ``layer3`` (``layer4``/``fc`` are never built).
        input_size: tracking/training image sample size in pixels (square search crop; DiMP: 288).
        feature_stride: stride of the classification features (``layer3``): 16.
        filter_size: DiMP target filter size in feature cells (4).
        clf_feature_dim: channels of the classification features (DiMP18: 256, DiMP50: 512).
        clf_feat_blocks: residual blocks before the final 3x3 conv of the classification
            feature block (DiMP18: 1 BasicBlock, DiMP50: 0).
        iou_pred_input_dim / iou_pred_inter_dim: IoU-Net widths (``pred_input_dim``,
            ``pred_inter_dim``; DiMP: 256, 256).
        optim_iter: steepest-descent iterations in training (5).
        optim_init_step / optim_init_reg: initial learned step length and regularisation.
        init_gauss_sigma: initial width (feature cells) of the learned label function.
        num_dist_bins / bin_displacement: distance bins of the learned label/mask/weight maps.
        mask_init_factor: initial target-mask steepness (3).
        sa_activation: student MPSD spatial-attention activation (``softmax`` or ``sigmoid``;
            see :class:`~.fusion.MPSD`).
        mpsd_hidden_ratio: hidden width of the MPSD path-weight MLP as a fraction of the level's
            channels (1.0: ``fc(3C -> C) -> ReLU -> fc(C -> 3)``).
        mdc_reduction / frs_reduction: channel-attention reduction ratios of the teacher's MDC/FRS.
        roi_pool: RoI pooling of the filter initializer and IoU-Net: ``prroi`` (exact PrRoIPool,
            pytracking's convention; needed by weights imported from pytracking) or ``legacy`` (the
            default, so that a checkpoint stored before this field existed keeps the pooling it was
            trained with).
        pretrained: ``imagenet`` (torchvision weights, only if cached unless a download is
            allowed), ``none``, or a path to a torchvision ResNet state dict.
    """

    name: str
    kind: str
    backbone: str
    input_size: int = 288
    feature_stride: int = 16
    filter_size: int = 4
    clf_feature_dim: int = 256
    clf_feat_blocks: int = 1
    iou_pred_input_dim: int = 256
    iou_pred_inter_dim: int = 256
    optim_iter: int = 5
    optim_init_step: float = 0.9
    optim_init_reg: float = 0.1
    init_gauss_sigma: float = 0.9
    num_dist_bins: int = 100
    bin_displacement: float = 0.1
    mask_init_factor: float = 3.0
    sa_activation: str = "softmax"
    mpsd_hidden_ratio: float = 1.0
    mdc_reduction: int = 16
    frs_reduction: int = 16
    roi_pool: str = "legacy"
    pretrained: str = "imagenet"
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"config {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.backbone not in BACKBONES:
            raise InputError(f"config {self.name!r}: backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.sa_activation not in ("softmax", "sigmoid"):
            raise InputError(f"config {self.name!r}: sa_activation must be softmax or sigmoid, "
                             f"got {self.sa_activation!r}")
        if self.roi_pool not in ROI_POOLS:
            raise InputError(f"config {self.name!r}: roi_pool must be one of {ROI_POOLS}, got {self.roi_pool!r}")
        if self.input_size < 64 or self.input_size % self.feature_stride:
            raise InputError(f"config {self.name!r}: input_size must be a multiple of "
                             f"{self.feature_stride} and >= 64, got {self.input_size}")
        if self.feature_stride != 16:
            raise InputError(f"config {self.name!r}: feature_stride is fixed at 16 by the ResNet layer3 "
                             f"features, got {self.feature_stride}")

    @property
    def feature_size(self) -> int:
        """Side of the ``layer3`` feature map at ``input_size`` (288 px -> 18)."""
        return feature_map_size(self.input_size)[0]

    @property
    def output_size(self) -> int:
        """Side of the classification score map: ``feature_size + (filter_size + 1) % 2`` (19)."""
        return self.feature_size + (self.filter_size + 1) % 2

    @property
    def backbone_channels(self) -> dict[str, int]:
        """Channels per unimodal level of the backbone."""
        expansion = 4 if self.backbone == "resnet50" else 1
        return {"stem": 64, "layer1": 64 * expansion, "layer2": 128 * expansion, "layer3": 256 * expansion}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML / checkpoint friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "ModelConfig":
        """Build from a dict; unknown or missing keys raise :class:`InputError` naming ``source``."""
        return dataclass_from_mapping(cls, values, source, "config key", required=("name", "kind", "backbone"))

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed (e.g. ``pretrained="none"``)."""
        return dataclasses.replace(self, **changes)

    def architecture_differences(self, other: "ModelConfig") -> list[str]:
        """``key (mine vs other)`` for every field that changes the network (not ``pretrained``,
        ``description``); empty when a state dict of one fits the other."""
        ignore = {"pretrained", "description", "name"}
        diffs = []
        for f in dataclasses.fields(self):
            if f.name in ignore:
                continue
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a != b:
                diffs.append(f"{f.name} ({a!r} vs {b!r})")
        return diffs


#: Stride of each unimodal feature level.
LEVEL_STRIDES = {"stem": 2, "layer1": 4, "layer2": 8, "layer3": 16}


def feature_map_size(input_size: Union[int, tuple[int, int]], level: str = "layer3") -> tuple[int, int]:
    """``(h, w)`` of a backbone level for an input of ``input_size`` (side or ``(h, w)``) pixels.

    torchvision ResNet geometry: conv1 (7x7/2) -> "stem", max-pool (3x3/2) -> "layer1", then one
    stride-2 3x3 conv per deeper layer. 288 px -> 18x18 at ``layer3``.
    """
    if level not in LEVEL_STRIDES:
        raise InputError(f"unknown feature level {level!r}; expected one of {', '.join(LEVEL_STRIDES)}")
    sizes = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    out = []
    for s in sizes:
        s = conv_out_size(int(s), 7, 2, 3)
        steps = {"stem": 0, "layer1": 1, "layer2": 2, "layer3": 3}[level]
        for _ in range(steps):
            s = conv_out_size(s, 3, 2, 1)
        out.append(s)
    return out[0], out[1]


def available_configs() -> list[str]:
    """Names of the bundled configs."""
    return bundled_names(CONFIG_DIR)


def load_config(name_or_path: Union[str, Path, ModelConfig], **overrides: Any) -> ModelConfig:
    """Load a bundled config by name (``student-r18``) or a YAML file by path.

    ``overrides`` replace single fields (e.g. ``pretrained="none"``). Unknown names, unreadable
    files and bad keys raise :class:`InputError`.
    """
    if isinstance(name_or_path, ModelConfig):
        return name_or_path.replace(**overrides) if overrides else name_or_path
    values, path = read_named_yaml(name_or_path, CONFIG_DIR, "network config")
    config = ModelConfig.from_dict(values, source=str(path))
    return config.replace(**overrides) if overrides else config


def build_model(config: Union[str, Path, ModelConfig], pretrained: Optional[str] = None,
                allow_download: bool = False) -> "RGBTDiMPNet":
    """Build an :class:`~.models.RGBTDiMPNet` for ``config``.

    Args:
        config: a :class:`ModelConfig`, bundled config name or YAML path.
        pretrained: overrides ``config.pretrained`` (``imagenet``, ``none`` or a file path).
        allow_download: let torchvision download ImageNet weights that are not cached; without
            it an uncached ``imagenet`` request warns and keeps the random initialisation.
    """
    from rgbt_tracker_ros.networks.models import RGBTDiMPNet

    config = load_config(config)
    if pretrained is not None:
        config = config.replace(pretrained=str(pretrained))
    return RGBTDiMPNet(config, allow_download=allow_download)
