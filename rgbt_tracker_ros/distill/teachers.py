"""The distillation teacher: what each loss of CMD's objective (Eq. 1-14) asks of it, answered by a CMD teacher
or by an AINet.

The objective (:mod:`.objective`) asks the teacher for :class:`TeacherTargets` on a training batch: the unimodal
features of SCFD's levels 1-4 (Eq. 1-3), the fused features of MPSD's two fusion levels (Eq. 7-11) and the
response map ``R_t`` of HFRD (Eq. 12-13) on the student's score grid. Each teacher is a frozen module (eval mode,
no gradients, run under ``no_grad``) wrapping its network and knowing how to answer; :func:`load_teacher` picks
one by the checkpoint's family.

:class:`DiMPTeacher` (a CMD teacher, ``kind: teacher``): its whole DiMP forward pass on the student's very crops;
levels ``stem`` .. ``layer3`` of its two streams, its FRS outputs, the score map of its last steepest-descent
iterate (decisions in :mod:`.scfd`, :mod:`.mpsd`, :mod:`.hfrd`). Student and teacher share crop size, stride and
filter size.

:class:`AINetTeacher` (``kind: ainet``, seed 003); the CMD paper distils from its own teacher only, so every
choice below is ours (also in docs/training.md, "Decisions where the paper is silent"):

* **Inputs**: the teacher sees the student's search region, cut from the same frames with the student's very crop
  transform (same image region, DiMP's factor 5 around the jittered box, same photometric augmentation) at
  AINet's ``search_size`` (:class:`~rgbt_tracker_ros.data.ostrack_sampler.OSTrackViewSampler`); the template is
  OSTrack's: the base train frame at factor 2 around its box, ``template_size``. AINet was trained at factor 4,
  so the target appears at 4/5 of the size it was trained on (within DiMP's test-frame scale jitter,
  ``exp(N(0, 0.5))``, which varies it more). In exchange, teacher and student maps cover the same image region
  cell for cell: the response maps cover every student cell, and resizing the student's features to the token
  grid (ABF, MPSD's adapter) aligns them. Every train and test frame is a search frame (SCFD and MPSD read them
  all, as with a CMD teacher), all with the one template; with HFRD alone on, only the test frames are searched
  (the response needs nothing else).
* **SCFD** (Eq. 1-3): AINet keeps an RGB and a TIR token stream in every layer (the DFM-enhanced search tokens
  that the next block reads), so SEM and CEM apply to them as to a CMD teacher's two streams. The paper's levels
  1-4 are the layers at a quarter, a half, three quarters and all of the depth (:func:`ainet_levels`:
  3, 6, 9, 12 for ``ainet-vitb``; 1-4 for ``ainet-tiny``): SEM on the first three, CEM on the last, raw tokens
  (no LayerNorm; as for a CMD teacher, features are compared unnormalised) as ``C x H x W`` maps. The student's
  ``stem`` .. ``layer3`` reach them through the ABF chains (channels to the token width, sizes to the token
  grid: :func:`~.abf.resize_map`).
* **MPSD** (Eq. 7-11): ``ft_fus`` at the student's ``layer2`` is AINet's DFM fusion ``x^_rgb + x^_tir`` of the
  layer of level 3; at ``layer3`` it is the OFM output (``fused["ofm"]``, the head's input), as a CMD teacher's
  ``ft_fus`` is what its heads read.
* **HFRD** (Eq. 12-13): ``R_t`` is the center head's score map (sigmoid, without the tracker's Hanning window)
  of each test frame, resampled in image coordinates onto the student's score cells
  (:func:`response_on_student_grid`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_tracker_ros.data.ostrack_sampler import OSTrackViewSampler
from rgbt_tracker_ros.data.sampler import DiMPSampler
from rgbt_tracker_ros.errors import CheckpointError, InputError
from rgbt_tracker_ros.networks.ainet import AINet
from rgbt_tracker_ros.networks.backbones import LEVELS
from rgbt_tracker_ros.networks.config import ModelConfig
from rgbt_tracker_ros.networks.models import FUSED_LEVELS, RGBTDiMPNet


@dataclass
class TeacherTargets:
    """The teacher's answers on one batch. Frames: every train frame then every test frame of the batch, frame-major
    (the order of the student's ``train_features`` + ``test_features``).

    Attributes:
        rgb / tir: per SCFD level (:data:`~rgbt_tracker_ros.networks.backbones.LEVELS`) the unimodal features
            ``(N, C, H, W)``: SEM / CEM inputs (Eq. 1-2).
        fused: per MPSD level (:data:`~rgbt_tracker_ros.networks.models.FUSED_LEVELS`) ``ft_fus`` ``(N, C, H, W)``.
        response: ``R_t`` on the student's score grid, ``(num_test, batch, h, w)`` (Eq. 12).
    """

    rgb: dict[str, torch.Tensor]
    tir: dict[str, torch.Tensor]
    fused: dict[str, torch.Tensor]
    response: torch.Tensor


class DistillTeacher(nn.Module):
    """A frozen teacher network (``net``) and how it answers :class:`TeacherTargets`.

    Attributes:
        channels: per SCFD level, the width of its unimodal features (the ABF chains' output widths).
        fused_channels: per MPSD level, the width of ``ft_fus``.
        sampler_class: the training samples it reads (the student's DiMP samples, plus its own views if any).
    """

    channels: dict[str, int]
    fused_channels: dict[str, int]
    sampler_class: Callable[..., DiMPSampler] = DiMPSampler

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "DistillTeacher":
        """Always eval mode (BatchNorm running statistics, no dropout): a teacher is never trained."""
        return super().train(False)

    def targets(self, batch: Mapping[str, torch.Tensor], features: bool = True) -> TeacherTargets:
        """The answers on ``batch`` (``collate_samples`` layout); subclasses compute them. ``features=False``: only
        ``response`` is asked for (HFRD alone), so a teacher may skip work and leave the feature dicts empty."""
        raise NotImplementedError

    def forward(self, batch: Mapping[str, torch.Tensor], features: bool = True) -> TeacherTargets:
        """:meth:`targets` under ``no_grad``."""
        with torch.no_grad():
            return self.targets(batch, features)


def both_frames(features: tuple[Any, Any], group: str, level: str) -> torch.Tensor:
    """``group`` (rgb, tir, fused, initial_fusions, path_weights) at ``level`` of the train and test frames together
    (a DiMP network's ``train_features`` and ``test_features``), frame-major."""
    return torch.cat([getattr(f, group)[level] for f in features], dim=0)


class DiMPTeacher(DistillTeacher):
    """A CMD teacher (two streams, MDC + FRS, DiMP heads) on the student's very crops (see the module docstring)."""

    def __init__(self, net: RGBTDiMPNet, student: ModelConfig):
        teacher = net.config
        differences = [f"{key} ({getattr(student, key)} vs {getattr(teacher, key)})"
                       for key in ("input_size", "feature_stride", "filter_size")
                       if getattr(student, key) != getattr(teacher, key)]
        if differences:
            raise InputError(f"student {student.name!r} and teacher {teacher.name!r} must share the crop and score "
                             f"grid to be compared on the same samples; they differ in {', '.join(differences)}")
        super().__init__(net)
        self.channels = teacher.backbone_channels
        self.fused_channels = {level: self.channels[level] for level in FUSED_LEVELS}

    def targets(self, batch: Mapping[str, torch.Tensor], features: bool = True) -> TeacherTargets:
        # The response needs the whole pass (the filter learns on the train frames), so ``features`` saves nothing.
        out = self.net(batch["train_rgb"], batch["train_tir"], batch["test_rgb"], batch["test_tir"],
                       batch["train_bb"], batch["test_proposals"])
        frames = (out.train_features, out.test_features)
        return TeacherTargets(rgb={level: both_frames(frames, "rgb", level) for level in LEVELS},
                              tir={level: both_frames(frames, "tir", level) for level in LEVELS},
                              fused={level: both_frames(frames, "fused", level) for level in FUSED_LEVELS},
                              response=out.target_scores[-1])  # the last steepest-descent iterate (Eq. 12)


def ainet_levels(depth: int) -> tuple[str, ...]:
    """The AINet layers of SCFD's levels 1-4: at a quarter, half, three quarters and all of ``depth``."""
    if depth < len(LEVELS):
        raise InputError(f"an AINet teacher needs at least {len(LEVELS)} layers for SCFD's levels 1-4, got {depth}")
    return tuple(f"layer{math.ceil(depth * (index + 1) / len(LEVELS))}" for index in range(len(LEVELS)))


def response_on_student_grid(score: torch.Tensor, teacher_size: int, student_size: int, student_stride: int,
                             filter_size: int) -> torch.Tensor:
    """An OSTrack score map ``(N, 1, G, G)`` over a crop of ``teacher_size`` px, resampled onto the student's DiMP
    score cells over the same image region (a crop of ``student_size`` px): ``(N, h, h)``.

    Each student cell is a point of its crop: ``k * stride`` for an even filter, ``(k + 1/2) * stride`` for an odd
    one (where :func:`~rgbt_tracker_ros.data.sampler.gaussian_label` puts a box centred there), ``h = size /
    stride`` cells plus one for an even filter. The point is scaled to the teacher's crop
    (``* teacher_size / student_size``: same region) and read on the teacher's grid, whose cell ``i`` is the point
    ``i * teacher_size / G`` (where :func:`~rgbt_tracker_ros.data.ostrack_sampler.center_heatmap` peaks), by bilinear
    interpolation; points past the outermost cells (at most a cell from them) take the nearest one's score.
    """
    if score.dim() != 4 or score.shape[1] != 1 or score.shape[-1] != score.shape[-2] or score.shape[-1] < 2:
        raise ValueError(f"expected a square score map (N, 1, G, G) with G >= 2, got {tuple(score.shape)}")
    grid = score.shape[-1]
    even = filter_size % 2 == 0
    cells = student_size // student_stride + int(even)
    points = (torch.arange(cells, dtype=torch.float32, device=score.device) + (0.0 if even else 0.5)) * student_stride
    u = points * (teacher_size / student_size) / (teacher_size / grid)  # teacher cell coordinates
    normalised = 2.0 * u / (grid - 1) - 1.0  # align_corners=True: -1 and 1 are the centres of the outermost cells
    sample = torch.stack(torch.meshgrid(normalised, normalised, indexing="xy"), dim=-1)  # (h, h, [x, y])
    sample = sample.expand(score.shape[0], -1, -1, -1).to(score.dtype)
    return F.grid_sample(score, sample, mode="bilinear", padding_mode="border", align_corners=True)[:, 0]


class AINetTeacher(DistillTeacher):
    """An AINet teacher on its own views of the student's frames (see the module docstring for every decision)."""

    def __init__(self, net: AINet, student: ModelConfig):
        super().__init__(net)
        config = net.config
        self.levels = ainet_levels(config.depth)
        self.fused_levels = {FUSED_LEVELS[0]: self.levels[2], FUSED_LEVELS[1]: "ofm"}
        self.channels = {level: config.embed_dim for level in LEVELS}
        self.fused_channels = {level: config.embed_dim for level in FUSED_LEVELS}
        self.sampler_class = partial(OSTrackViewSampler, search_size=config.search_size,
                                     template_size=config.template_size)
        self.student_geometry = (student.input_size, student.feature_stride, student.filter_size)

    def targets(self, batch: Mapping[str, torch.Tensor], features: bool = True) -> TeacherTargets:
        if "teacher_search_rgb" not in batch:
            raise InputError("an AINet teacher reads its own crops of the frames (OSTrackViewSampler's teacher_*); "
                             "the batch has none")
        num_test, batch_size = batch["test_label"].shape[:2]
        search_rgb, search_tir = batch["teacher_search_rgb"], batch["teacher_search_tir"]
        if not features:  # the response alone: the test frames' searches (the last num_test frames)
            search_rgb, search_tir = search_rgb[-num_test:], search_tir[-num_test:]
        frames = search_rgb.shape[0]
        template_rgb = batch["teacher_template_rgb"][0].repeat(frames, 1, 1, 1)  # frame-major, like the searches
        template_tir = batch["teacher_template_tir"][0].repeat(frames, 1, 1, 1)
        out = self.net(template_rgb, template_tir, search_rgb.flatten(0, 1), search_tir.flatten(0, 1))
        scores = out.head.score[-num_test * batch_size:].float()
        response = response_on_student_grid(scores, search_rgb.shape[-1], *self.student_geometry)
        response = response.reshape(num_test, batch_size, *response.shape[-2:])
        if not features:
            return TeacherTargets(rgb={}, tir={}, fused={}, response=response)
        maps = out.features
        return TeacherTargets(rgb={level: maps.rgb[layer] for level, layer in zip(LEVELS, self.levels)},
                              tir={level: maps.tir[layer] for level, layer in zip(LEVELS, self.levels)},
                              fused={level: maps.fused[layer] for level, layer in self.fused_levels.items()},
                              response=response)


def load_teacher(path: Union[str, Path], student: ModelConfig) -> tuple[DistillTeacher, dict[str, Any]]:
    """The teacher of checkpoint ``path`` (on the CPU, frozen) and its identity for the training state.

    A CMD teacher (``kind: teacher``) becomes a :class:`DiMPTeacher`, an AINet (``kind: ainet``) an
    :class:`AINetTeacher`. Raises :class:`CheckpointError` for a missing, corrupt or foreign file and
    :class:`InputError` for a student config that is no student, a checkpoint of another kind, or a CMD teacher
    whose crops differ from the student's.
    """
    from rgbt_tracker_ros.data.bundle import file_sha256
    from rgbt_tracker_ros.networks.checkpoint import load_checkpoint

    if student.kind != "student":
        raise InputError(f"distillation trains a student; model config {student.name!r} is a {student.kind}")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"teacher checkpoint not found: {path}")
    net, meta = load_checkpoint(path)
    config = meta["config"]
    if config.family == "ainet":
        teacher: DistillTeacher = AINetTeacher(net, student)
    elif config.kind == "teacher":
        teacher = DiMPTeacher(net, student)
    else:
        raise InputError(f"the teacher checkpoint holds a {config.kind} ({config.name!r}); --teacher needs a teacher: "
                         "a CMD teacher (kind teacher, e.g. teacher-r50) or an AINet (kind ainet)")
    return teacher, {"teacher_config": config.name, "teacher_sha256": file_sha256(path)}
