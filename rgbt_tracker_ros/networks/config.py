"""Named network configurations (``configs/*.yaml``) and the model factory.

Two model families, told apart by a config's ``kind``: ``student`` / ``teacher`` (:class:`ModelConfig`, the
CMD networks on DiMP, :class:`~.models.RGBTDiMPNet`) and ``ainet`` (:class:`AINetConfig`, AINet on OSTrack,
:class:`~.ainet.AINet`). A config fully determines the architecture of its network; it is
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
    from torch import nn

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: Backbones that can be built (torchvision ResNets, truncated after ``layer3``).
BACKBONES = ("resnet18", "resnet34", "resnet50")
#: ``student``: one shared backbone + MPSD; ``teacher``: two backbones + MDC/FRS (both :class:`ModelConfig`).
KINDS = ("student", "teacher")
#: The AINet kind (:class:`AINetConfig`).
AINET_KIND = "ainet"
#: RoI pooling of the filter initializer and IoU-Net (``networks/roi_pool.py``): ``prroi`` is exact
#: PrRoIPool as in pytracking; ``legacy`` is our earlier substitute, half a feature cell away from it.
ROI_POOLS = ("prroi", "legacy")
#: The descriptor of MPSD's path weights (Eq. 6): ``raw`` as written, ``layernorm`` standardised (ours, ablation).
MPSD_DESCRIPTORS = ("raw", "layernorm")


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
        mpsd_descriptor: ``raw`` (Eq. 6 as written) or ``layernorm`` (the pooled descriptor standardised
            before the MLP; ours, for ablation; see :class:`~.fusion.MPSD`).
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
    mpsd_descriptor: str = "raw"
    mdc_reduction: int = 16
    frs_reduction: int = 16
    roi_pool: str = "legacy"
    pretrained: str = "imagenet"
    description: str = field(default="", compare=False)

    #: The model family (tracker and checkpoint kind): DiMP.
    family = "dimp"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"config {self.name!r}: kind must be one of {KINDS + (AINET_KIND,)}, got {self.kind!r}")
        if self.backbone not in BACKBONES:
            raise InputError(f"config {self.name!r}: backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.sa_activation not in ("softmax", "sigmoid"):
            raise InputError(f"config {self.name!r}: sa_activation must be softmax or sigmoid, "
                             f"got {self.sa_activation!r}")
        if self.mpsd_descriptor not in MPSD_DESCRIPTORS:
            raise InputError(f"config {self.name!r}: mpsd_descriptor must be one of {MPSD_DESCRIPTORS}, "
                             f"got {self.mpsd_descriptor!r}")
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

    def sampler_fields(self) -> dict[str, int]:
        """Training-sampler fields fixed by the network (crop size, score grid)."""
        return {"output_size": self.input_size, "feature_stride": self.feature_stride, "filter_size": self.filter_size}

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

    def architecture_differences(self, other: "AnyConfig") -> list[str]:
        """``key (mine vs other)`` for every field that changes the network (not ``pretrained``,
        ``description``); empty when a state dict of one fits the other."""
        return architecture_differences(self, other)


def architecture_differences(mine: "AnyConfig", other: "AnyConfig") -> list[str]:
    """``key (mine vs other)`` for every field of two configs that changes the network; a config of the
    other family differs in ``family`` alone."""
    if type(mine) is not type(other):
        return [f"family ({mine.family!r} vs {other.family!r})"]
    ignore = {"pretrained", "description", "name", "scan_backend"}
    diffs = []
    for f in dataclasses.fields(mine):
        if f.name in ignore:
            continue
        a, b = getattr(mine, f.name), getattr(other, f.name)
        if a != b:
            diffs.append(f"{f.name} ({a!r} vs {b!r})")
    return diffs


#: Selective-scan backends of the Mamba layers (:mod:`~.mamba`): ``auto`` picks mamba-ssm's CUDA kernel for
#: CUDA tensors when it is installed, else the pure-PyTorch ``mambapy`` scan.
SCAN_BACKENDS = ("auto", "mambapy", "mamba_ssm")
#: Activations of AINet's DFM (see :class:`AINetConfig`).
DFM_ACTIVATIONS = ("tanh", "sigmoid")


@dataclass(frozen=True)
class AINetConfig:
    """Architecture of one AINet (seed 003; ``docs/networks.md``, section AINet).

    Attributes:
        name, kind (``ainet``), description.
        embed_dim / depth / num_heads / mlp_ratio / patch_size: the ViT shared by RGB and thermal
            (ViT-B/16: 768, 12, 12, 4, 16).
        template_size / search_size: template and search crops in pixels (OSTrack-256: 128 and 256; the
            crop factors 2 and 4 are tracker parameters and sampler settings, as DiMP's search area is).
        drop_path_rate: stochastic depth of the ViT blocks (OSTrack: 0.1), linear over the blocks.
        d_state / d_conv / expand: Mamba's state size, causal conv width and inner expansion (Mamba's
            defaults 16, 4, 2) for DFM and OFM.
        dfm_activation: activation of DFM's Mamba output before it multiplies the modalities (``tanh``,
            ours: with the zero-initialised Mamba output projection DFM starts as the identity;
            ``sigmoid`` for ablation).
        order_dim / order_hidden: OFM's order predictor: per-layer features downsampled to ``order_dim``,
            an MLP of width ``order_hidden``, an FC to one score per layer (ours: the paper gives no widths).
        order_temperature: temperature of the SoftSort relaxation that gives the sorted scan order its
            gradient (straight-through; :class:`~.fusion_mamba.OFM`).
        head_channels: OSTrack center head width (256 for ViT-B).
        pretrained: ``none`` or a checkpoint (timm / MAE / DropMAE ViT, OSTrack / DropTrack tracker) whose
            weights start the network (:func:`~.vit_weights.load_pretrained_vit`).
        scan_backend: selective-scan backend (:data:`SCAN_BACKENDS`); not part of the architecture.
    """

    name: str
    kind: str = AINET_KIND
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    patch_size: int = 16
    template_size: int = 128
    search_size: int = 256
    drop_path_rate: float = 0.1
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dfm_activation: str = "tanh"
    order_dim: int = 64
    order_hidden: int = 256
    order_temperature: float = 1.0
    head_channels: int = 256
    pretrained: str = "none"
    scan_backend: str = "auto"
    description: str = field(default="", compare=False)

    #: The model family (tracker and checkpoint kind).
    family = "ainet"

    def __post_init__(self) -> None:
        where = f"config {self.name!r}"
        if self.kind != AINET_KIND:
            raise InputError(f"{where}: an AINet config has kind {AINET_KIND!r}, got {self.kind!r}")
        positive = ("embed_dim", "depth", "num_heads", "patch_size", "d_state", "d_conv", "expand", "order_dim",
                    "order_hidden", "head_channels")
        for key in positive:
            if int(getattr(self, key)) < 1:
                raise InputError(f"{where}: {key} must be at least 1, got {getattr(self, key)}")
        if self.embed_dim % self.num_heads:
            raise InputError(f"{where}: embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        for key in ("template_size", "search_size"):
            size = getattr(self, key)
            if size < self.patch_size or size % self.patch_size:
                raise InputError(f"{where}: {key} must be a positive multiple of patch_size {self.patch_size}, "
                                 f"got {size}")
        if self.head_channels % 8:
            raise InputError(f"{where}: head_channels must be a multiple of 8 (the head halves it three times), "
                             f"got {self.head_channels}")
        if self.dfm_activation not in DFM_ACTIVATIONS:
            raise InputError(f"{where}: dfm_activation must be one of {DFM_ACTIVATIONS}, got {self.dfm_activation!r}")
        if not (0.0 <= self.drop_path_rate < 1.0 and self.order_temperature > 0 and self.mlp_ratio > 0):
            raise InputError(f"{where}: drop_path_rate must be in [0, 1), order_temperature and mlp_ratio > 0")
        if self.scan_backend not in SCAN_BACKENDS:
            raise InputError(f"{where}: scan_backend must be one of {SCAN_BACKENDS}, got {self.scan_backend!r}")

    @property
    def template_grid(self) -> int:
        """Side of the template token grid (128 / 16 = 8)."""
        return self.template_size // self.patch_size

    @property
    def search_grid(self) -> int:
        """Side of the search token grid and of the score map (256 / 16 = 16)."""
        return self.search_size // self.patch_size

    @property
    def tokens_per_layer(self) -> int:
        """Template + search tokens of one modality in one layer (64 + 256 = 320)."""
        return self.template_grid ** 2 + self.search_grid ** 2

    def sampler_fields(self) -> dict[str, int]:
        """Training-sampler fields fixed by the network (crop sizes, token stride)."""
        return {"output_size": self.search_size, "feature_stride": self.patch_size,
                "template_size": self.template_size}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML / checkpoint friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "AINetConfig":
        """Build from a dict; unknown or missing keys raise :class:`InputError` naming ``source``."""
        return dataclass_from_mapping(cls, values, source, "config key", required=("name", "kind"))

    def replace(self, **changes: Any) -> "AINetConfig":
        """A copy with some fields changed (e.g. ``pretrained="none"``)."""
        return dataclasses.replace(self, **changes)

    def architecture_differences(self, other: "AnyConfig") -> list[str]:
        """``key (mine vs other)`` for every field that changes the network; see :func:`architecture_differences`."""
        return architecture_differences(self, other)


#: A config of either family.
AnyConfig = Union[ModelConfig, AINetConfig]


def config_from_dict(values: Any, source: str = "config") -> AnyConfig:
    """The config of either family from a mapping (``kind: ainet`` -> :class:`AINetConfig`)."""
    if isinstance(values, dict) and values.get("kind") == AINET_KIND:
        return AINetConfig.from_dict(values, source)
    return ModelConfig.from_dict(values, source)


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


def load_config(name_or_path: Union[str, Path, AnyConfig], **overrides: Any) -> AnyConfig:
    """Load a bundled config by name (``student-r18``, ``ainet-tiny``) or a YAML file by path.

    ``overrides`` replace single fields (e.g. ``pretrained="none"``). Unknown names, unreadable
    files and bad keys raise :class:`InputError`.
    """
    if isinstance(name_or_path, (ModelConfig, AINetConfig)):
        return name_or_path.replace(**overrides) if overrides else name_or_path
    values, path = read_named_yaml(name_or_path, CONFIG_DIR, "network config")
    config = config_from_dict(values, source=str(path))
    return config.replace(**overrides) if overrides else config


def build_model(config: Union[str, Path, AnyConfig], pretrained: Optional[str] = None,
                allow_download: bool = False) -> "nn.Module":
    """Build the network of ``config``: an :class:`~.models.RGBTDiMPNet` or an :class:`~.ainet.AINet`.

    Args:
        config: a config, bundled config name or YAML path.
        pretrained: overrides ``config.pretrained`` (DiMP: ``imagenet``, ``none`` or a file path;
            AINet: ``none`` or a ViT / OSTrack checkpoint).
        allow_download: let torchvision download ImageNet weights that are not cached; without
            it an uncached ``imagenet`` request warns and keeps the random initialisation.
    """
    config = load_config(config)
    if pretrained is not None:
        config = config.replace(pretrained=str(pretrained))
    if isinstance(config, AINetConfig):
        from rgbt_tracker_ros.networks.ainet import AINet

        return AINet(config)
    from rgbt_tracker_ros.networks.models import RGBTDiMPNet

    return RGBTDiMPNet(config, allow_download=allow_download)
