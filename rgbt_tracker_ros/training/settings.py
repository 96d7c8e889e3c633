"""Training settings: one dataclass, filled from YAML files in ``training/configs/``.

Bundled settings (``--settings NAME``):

- ``dimp-student``: DiMP18's recipe (pytracking ``ltr/train_settings/dimp/dimp18.py``) for the CMD
  student (ResNet18): Adam, lr 2e-4 with per-module rates (filter initializer 5e-5, filter
  optimizer 5e-4, classification features 5e-5, IoU-Net 1e-3, backbone and fusion 2e-4), StepLR
  x0.2 every 15 of 50 epochs, 26,000 samples per epoch, batch 26, loss weights IoU 1,
  test_clf 100, test_init_clf 100, test_iter_clf 400.
- ``dimp-teacher``: DiMP50's recipe (``dimp50.py``) for the CMD teacher (ResNet50): as above but
  IoU-Net 2e-4, backbones 2e-5, batch 10.
- ``synthetic-cpu``: a small CPU recipe for synthetic sequences and tests (the CMD paper trains on
  the LasHeR training split with the DiMP recipe; this one only shows the pipeline works).
- ``synthetic-demo``, ``synthetic-long``, ``synthetic-finetune``: the three stages of the bundled
  demo checkpoint; ``synthetic-iounet``: an IoU-Net-only fine-tuning stage (docs/training.md).
- ``cmd-student`` (CMD's total loss, Eq. 14, on DiMP18's recipe) and its ablation rows
  ``cmd-student-origin`` (L_original alone), ``cmd-student-scfd``, ``cmd-student-scfd-mpsd``;
  ``cmd-synthetic-cpu``: Eq. 14 on the small CPU recipe (``rgbt-tracker distill``).
- ``ainet``: AINet's recipe (seed 003: AdamW, lr 1e-4, weight decay 1e-4, batch 16, 15 epochs x 60,000
  pairs) with OSTrack's losses (2 GIoU + 5 L1 + 1 focal) and sampler; ``ainet-synthetic-cpu``: the small
  CPU recipe for ``ainet-tiny`` on synthetic sequences.

Files state what differs from the recipe they ``extends`` (:func:`load_settings`).

The sampler's ``output_size``/``feature_stride``/``filter_size``/``template_size`` are not settings: the
trainer takes them from the model config so that crops and labels always fit the network.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from rgbt_tracker_ros.data.sampler import SamplerSettings
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.yaml_files import bundled_names, dataclass_from_mapping, read_named_yaml

SETTINGS_DIR = Path(__file__).resolve().parent / "configs"

#: Loss terms of L_original (DiMP) and their weights in DiMP's recipe.
DIMP_LOSS_WEIGHTS = {"iou": 1.0, "test_clf": 100.0, "test_init_clf": 100.0, "test_iter_clf": 400.0}
#: Loss terms of OSTrack (AINet's objective) and their weights (OSTrack: GIOU_WEIGHT 2, L1_WEIGHT 5, focal 1).
OSTRACK_LOSS_WEIGHTS = {"giou": 2.0, "l1": 5.0, "focal": 1.0}

#: Optimizers a recipe can name.
OPTIMIZERS = ("adam", "adamw")

#: Sampler fields that come from the model config, not from the settings file.
MODEL_SAMPLER_FIELDS = ("output_size", "feature_stride", "filter_size", "template_size")

#: Distillation terms of CMD's total loss (Eq. 14) that settings switch on.
DISTILL_TERMS = ("scfd", "mpsd", "hfrd")

#: Blocks that ``extends`` merges key by key instead of replacing them.
MERGED_BLOCKS = ("sampler", "distill")


@dataclass
class DistillSettings:
    """CMD distillation, Eq. 14: ``alpha (L_SCFD + L_MPSD) + beta L_HFRD + L_original``.

    Attributes:
        terms: the distillation terms that are on (of :data:`DISTILL_TERMS`); none is L_original
            alone (the paper's Student-Origin). An ablation row is a settings file, not code.
        alpha / beta: the weights of Eq. 14 (paper: 0.001 and 100).
        abf_channels: the inner width of SCFD's ABF stages; ``None`` (default): ReviewKD's, ``min(512, the
            student's deepest width)``. Ours: a narrower one makes SCFD affordable on a CPU.
    """

    terms: tuple[str, ...] = ()
    alpha: float = 0.001
    beta: float = 100.0
    abf_channels: Optional[int] = None

    def __post_init__(self) -> None:
        if isinstance(self.terms, str):
            raise InputError(f"distill terms must be a list of {', '.join(DISTILL_TERMS)}, got {self.terms!r}")
        self.terms = tuple(str(term) for term in self.terms)
        unknown = sorted(set(self.terms) - set(DISTILL_TERMS))
        if unknown:
            raise InputError(f"unknown distillation term(s) {', '.join(unknown)}; known: {', '.join(DISTILL_TERMS)}")
        if len(set(self.terms)) != len(self.terms):
            raise InputError(f"distillation terms are listed twice: {list(self.terms)}")
        if not (self.alpha >= 0 and self.beta >= 0):
            raise InputError(f"distillation weights must be >= 0, got alpha {self.alpha}, beta {self.beta}")
        if self.abf_channels is not None and (isinstance(self.abf_channels, bool)
                                              or not isinstance(self.abf_channels, int) or self.abf_channels < 1):
            raise InputError(f"distill abf_channels must be a positive integer or null, got {self.abf_channels!r}")


@dataclass
class TrainSettings:
    """Everything about a training run except the model config and the data.

    Attributes:
        name: settings name (file stem).
        description: one line for the run's records.
        epochs / samples_per_epoch / batch_size: DiMP: 50 / 26000 / 26 (batch per step, summed
            over DDP processes: each of N processes takes ``batch_size / N``).
        num_workers: DataLoader worker processes when training on CUDA; on the CPU the loader
            runs in the training process (0 workers: the cores are busy with the model) unless
            ``train(workers=...)`` / ``--workers`` says otherwise.
        optimizer: ``adam`` (DiMP) or ``adamw`` (OSTrack, AINet).
        lr: the optimizer's default learning rate (parameters not matched by ``module_lrs``).
        module_lrs: learning rate per parameter-name prefix (e.g. ``classifier.filter_optimizer``);
            the longest matching prefix wins.
        frozen_modules: submodules left as they are (e.g. ``backbone``, ``fusion``, ``classifier``
            to fine-tune IoU-Net alone from ``--init-weights``): no gradients, BatchNorm in eval mode.
        weight_decay: weight decay (DiMP: 0; AINet: 1e-4, decoupled as AdamW's).
        grad_clip_norm: clip the gradients' total norm to this before each step (OSTrack: 0.1); 0: off.
        lr_step_epochs / lr_gamma: StepLR schedule (DiMP: x0.2 every 15 epochs).
        loss_weights: weights of the objective's terms: L_original's (:data:`DIMP_LOSS_WEIGHTS`) or OSTrack's
            (:data:`OSTRACK_LOSS_WEIGHTS`).
        hinge_threshold: label value below which a score-map cell counts as background in the
            classification hinge loss (DiMP: 0.05).
        amp: mixed precision (``torch.autocast``; ``GradScaler`` for float16): on CUDA, and on the
            CPU when ``amp_dtype`` is ``bfloat16``.
        amp_dtype: ``float16`` or ``bfloat16``.
        seed: seeds the model initialisation, every sample and every epoch.
        sampler: DiMP sampling/augmentation settings.
        distill: CMD's distillation terms (:class:`DistillSettings`); only ``rgbt-tracker distill``
            runs settings that switch some on.
    """

    name: str = "custom"
    description: str = ""
    epochs: int = 50
    samples_per_epoch: int = 26000
    batch_size: int = 26
    num_workers: int = 0
    optimizer: str = "adam"
    lr: float = 2e-4
    module_lrs: dict[str, float] = field(default_factory=dict)
    frozen_modules: list[str] = field(default_factory=list)
    weight_decay: float = 0.0
    grad_clip_norm: float = 0.0
    lr_step_epochs: int = 15
    lr_gamma: float = 0.2
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(DIMP_LOSS_WEIGHTS))
    hinge_threshold: float = 0.05
    amp: bool = True
    amp_dtype: str = "float16"
    seed: int = 0
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    distill: DistillSettings = field(default_factory=DistillSettings)

    def __post_init__(self) -> None:
        if isinstance(self.sampler, dict):
            self.sampler = _sampler_from_dict(self.sampler, self.name)
        if isinstance(self.distill, dict):
            self.distill = dataclass_from_mapping(DistillSettings, self.distill, f"training settings {self.name!r}: "
                                                  "distill", "distillation setting")
        for key in ("epochs", "samples_per_epoch", "batch_size", "lr_step_epochs"):
            if int(getattr(self, key)) < 1:
                raise InputError(f"training settings {self.name!r}: {key} must be at least 1, got {getattr(self, key)}")
        if self.num_workers < 0:
            raise InputError(f"training settings {self.name!r}: num_workers must be >= 0, got {self.num_workers}")
        if self.samples_per_epoch < self.batch_size:
            raise InputError(
                f"training settings {self.name!r}: samples_per_epoch ({self.samples_per_epoch}) is smaller "
                f"than one batch ({self.batch_size})"
            )
        unknown = sorted(set(self.loss_weights) - set(DIMP_LOSS_WEIGHTS) - set(OSTRACK_LOSS_WEIGHTS))
        if unknown:
            raise InputError(
                f"training settings {self.name!r}: unknown loss term(s) {', '.join(unknown)}; "
                f"known: {', '.join(DIMP_LOSS_WEIGHTS)} (DiMP), {', '.join(OSTRACK_LOSS_WEIGHTS)} (OSTrack)"
            )
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"training settings {self.name!r}: optimizer must be one of {', '.join(OPTIMIZERS)}, "
                             f"got {self.optimizer!r}")
        if not self.grad_clip_norm >= 0:
            raise InputError(f"training settings {self.name!r}: grad_clip_norm must be >= 0 (0: off)")
        if self.amp_dtype not in ("float16", "bfloat16"):
            raise InputError(f"training settings {self.name!r}: amp_dtype must be float16 or bfloat16")
        if not self.lr > 0 or any(not v > 0 for v in self.module_lrs.values()):
            raise InputError(f"training settings {self.name!r}: learning rates must be positive")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML and ``torch.load(weights_only=True)`` friendly), without the sampler
        fields that come from the model config."""
        values = dataclasses.asdict(self)
        values["sampler"]["proposal_sigma_factors"] = list(self.sampler.proposal_sigma_factors)
        values["distill"]["terms"] = list(self.distill.terms)
        for key in MODEL_SAMPLER_FIELDS:
            del values["sampler"][key]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "settings") -> "TrainSettings":
        """Build from a dict; unknown keys raise :class:`InputError` naming ``source``."""
        return dataclass_from_mapping(cls, values, source, "training setting")

    def replace(self, **changes: Any) -> "TrainSettings":
        """A copy with some fields changed (CLI overrides such as ``epochs``)."""
        return dataclasses.replace(self, **changes)


def _sampler_from_dict(values: dict[str, Any], source: str) -> SamplerSettings:
    known = {f.name for f in dataclasses.fields(SamplerSettings)} - set(MODEL_SAMPLER_FIELDS)
    unknown = sorted(set(values) - known)
    if unknown:
        hint = " (taken from the model config)" if set(unknown) & set(MODEL_SAMPLER_FIELDS) else ""
        raise InputError(f"{source}: unknown sampler setting(s) {', '.join(unknown)}{hint}")
    try:
        return SamplerSettings(**values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: sampler: {exc}") from None


def available_settings() -> list[str]:
    """Names of the bundled settings files."""
    return bundled_names(SETTINGS_DIR)


def load_settings(name_or_path: Union[str, Path]) -> TrainSettings:
    """Load bundled settings by name (``dimp-student``) or a YAML file by path.

    A file may start from another one with ``extends: NAME`` (a bundled name, or a YAML path
    relative to the file): its keys replace the base's, except the blocks ``sampler`` and
    ``distill``, which are merged key by key. The name is always the file's own.
    """
    values, path = _read_settings(name_or_path, ())
    values.setdefault("name", path.stem)
    return TrainSettings.from_dict(values, source=str(path))


def _read_settings(name_or_path: Union[str, Path], chain: tuple[Path, ...]) -> tuple[dict[str, Any], Path]:
    """The mapping of one settings file with its ``extends`` chain resolved (see :func:`load_settings`)."""
    values, path = read_named_yaml(name_or_path, SETTINGS_DIR, "training settings")
    base_name = values.pop("extends", None)
    if base_name is None:
        return values, path
    resolved = path.resolve()
    if resolved in chain:
        loop = " -> ".join(p.stem for p in chain + (resolved,))
        raise InputError(f"{path}: 'extends' comes back to a file it started from ({loop})")
    reference = str(base_name)
    if reference.endswith((".yaml", ".yml")) and not Path(reference).is_absolute():
        reference = str(path.parent / reference)
    base, base_path = _read_settings(reference, chain + (resolved,))
    base.pop("name", None)
    merged = {**base, **values}
    for block in MERGED_BLOCKS:
        for source, mapping in ((base_path, base), (path, values)):
            if not isinstance(mapping.get(block, {}), dict):
                raise InputError(f"{source}: {block} must be a mapping of name: value")
        if block in base or block in values:
            merged[block] = {**base.get(block, {}), **values.get(block, {})}
    return merged, path
