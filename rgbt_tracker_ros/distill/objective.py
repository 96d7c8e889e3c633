"""The CMD distillation objective (CMD, seed 000, Sec. 3.6, Eq. 14) as a training actor.

``L_distill = alpha (L_SCFD + L_MPSD) + beta L_HFRD + L_original`` (alpha 0.001, beta 100 in the
paper), each term switched on by ``settings.distill.terms``
(:class:`~rgbt_tracker_ros.training.settings.DistillSettings`), so an ablation row is a settings file:

* L_original: DiMP's loss (:class:`~rgbt_tracker_ros.training.losses.DiMPLoss`), always;
* L_SCFD (Eq. 1-3, :mod:`.scfd`), L_MPSD (Eq. 7-11, :mod:`.mpsd`), L_HFRD (Eq. 12-13, :mod:`.hfrd`).

The teacher (:mod:`.teachers`: a CMD teacher or an AINet, by the checkpoint's family) answers what each term
asks: features per SCFD level, fused features per MPSD level, the response map on the student's grid. It is
frozen: eval mode, ``requires_grad`` off, run under ``no_grad`` on the same batch as the student, never in the
optimizer, never wrapped by DDP. Each process of a DDP run holds its own copy. With no term switched on it is
not run.

The student and the modules that only distillation trains (SCFD's ABF chains, MPSD's width
adapters where the widths differ) form one :class:`DistillationNet`: the optimizer, ``train()``
and DDP see it whole; the tracking checkpoints save the student alone, the training state (for
``--resume``) the ABF modules as well.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Union

import torch
from torch import nn

from rgbt_tracker_ros.data.sampler import DiMPSampler
from rgbt_tracker_ros.distill.hfrd import hfrd_loss
from rgbt_tracker_ros.distill.mpsd import FusionAdapter, mpsd_loss
from rgbt_tracker_ros.distill.scfd import SCFDHead, scfd_loss, scfd_targets
from rgbt_tracker_ros.distill.teachers import DistillTeacher, TeacherTargets, both_frames, load_teacher
from rgbt_tracker_ros.networks.backbones import LEVELS
from rgbt_tracker_ros.networks.config import ModelConfig
from rgbt_tracker_ros.networks.models import FUSED_LEVELS, ModelOutput, RGBTDiMPNet
from rgbt_tracker_ros.training.actors import Actor, Autocast, ObjectiveFactory
from rgbt_tracker_ros.training.losses import DiMPLoss, LossTerms
from rgbt_tracker_ros.training.run_log import LOG_COLUMNS
from rgbt_tracker_ros.training.settings import TrainSettings

#: log.csv columns: L_original's, then the weighted terms of Eq. 14 (``original`` = L_original), the
#: unweighted losses and ``mpsd_agree`` (fraction of frames whose lambda equals nu, Eq. 8-9).
CMD_LOG_COLUMNS = (LOG_COLUMNS[:7] + ("original", "scfd", "mpsd", "hfrd") + LOG_COLUMNS[7:9]
                   + ("l_scfd", "l_fus", "l_p", "l_hfrd", "mpsd_agree") + LOG_COLUMNS[9:])


class DistillationNet(nn.Module):
    """The student with its distillation-only modules; ``forward`` returns the student's output and
    the feature losses (SCFD, MPSD) that need those modules.

    Args:
        student: the network being trained.
        teacher: the teacher (for the target widths).
        terms: the distillation terms that are on.
        abf_channels: the inner width of SCFD's ABF stages (``None``: ReviewKD's).
    """

    def __init__(self, student: RGBTDiMPNet, teacher: DistillTeacher, terms: tuple[str, ...],
                 abf_channels: Optional[int] = None):
        super().__init__()
        self.student = student
        s_channels = student.config.backbone_channels
        self.scfd = SCFDHead(s_channels, teacher.channels, abf_channels) if "scfd" in terms else None
        self.mpsd = FusionAdapter(s_channels, teacher.fused_channels) if "mpsd" in terms else None

    def forward(self, batch: Mapping[str, torch.Tensor],
                teacher: Optional[TeacherTargets]) -> tuple[ModelOutput, dict[str, torch.Tensor]]:
        output = self.student_output(batch)
        losses: dict[str, torch.Tensor] = {}
        if self.scfd is None and self.mpsd is None:
            return output, losses
        if teacher is None:
            raise ValueError("SCFD and MPSD need the teacher's output")
        student_frames = (output.train_features, output.test_features)
        if self.scfd is not None:
            losses["scfd"] = scfd_loss(*self.scfd_pairs(output, teacher))
        if self.mpsd is not None:
            sizes = {level: teacher.fused[level].shape[-2:] for level in FUSED_LEVELS}
            mpsd = mpsd_loss(
                teacher.fused,
                {level: self.mpsd(level, both_frames(student_frames, "fused", level), sizes[level])
                 for level in FUSED_LEVELS},
                {level: self.mpsd(level, both_frames(student_frames, "initial_fusions", level), sizes[level])
                 for level in FUSED_LEVELS},
                {level: both_frames(student_frames, "path_weights", level) for level in FUSED_LEVELS},
            )
            losses["fus"], losses["p"] = mpsd.fus, mpsd.penalty
            agree = [(mpsd.selected[level] == mpsd.predicted[level]).float().mean() for level in FUSED_LEVELS]
            losses["agree"] = torch.stack(agree).mean().detach()
        return output, losses

    def student_output(self, batch: Mapping[str, torch.Tensor]) -> ModelOutput:
        """The student's DiMP training pass on ``batch`` (target model from the train frames, scores and IoUs
        on the test frames)."""
        return self.student(batch["train_rgb"], batch["train_tir"], batch["test_rgb"], batch["test_tir"],
                            batch["train_bb"], batch["test_proposals"])

    def scfd_pairs(self, output: ModelOutput, teacher: TeacherTargets
                   ) -> tuple[dict[str, list[torch.Tensor]], dict[str, list[torch.Tensor]]]:
        """SCFD's two sides (Eq. 1-3): the ABF chains' outputs from the student's unimodal features of every
        frame, and the teacher's SEM/CEM targets, each ``{"rgb": [level 1..4], "tir": [...]}``."""
        frames = (output.train_features, output.test_features)
        targets = scfd_targets(teacher.rgb, teacher.tir)
        student = {modality: {level: both_frames(frames, modality, level) for level in LEVELS}
                   for modality in ("rgb", "tir")}
        return self.scfd(student, [tuple(t.shape[-2:]) for t in targets["rgb"]]), targets


class WeightedTerms(NamedTuple):
    """One forward pass's summands of Eq. 14 (see :meth:`CMDActor.weighted_terms`) and what they came from."""

    original: LossTerms
    #: the weighted distillation terms that are on, each a tensor with its graph
    weighted: dict[str, torch.Tensor]
    #: their unweighted values for the log
    raw: dict[str, float]
    #: the student's output of that pass (its test features carry Eq. 6's path weights)
    output: ModelOutput
    #: the teacher's targets of that pass (``None`` without distillation terms)
    teacher: Optional[TeacherTargets]


class CMDActor(Actor):
    """Eq. 14 with the terms ``settings.distill`` switches on (see the module docstring)."""

    log_columns = CMD_LOG_COLUMNS

    def __init__(self, model: RGBTDiMPNet, settings: TrainSettings, teacher: DistillTeacher,
                 teacher_id: dict[str, Any]):
        self.terms = settings.distill.terms
        self.alpha, self.beta = settings.distill.alpha, settings.distill.beta
        net = DistillationNet(model, teacher, self.terms, settings.distill.abf_channels)
        extra = nn.ModuleDict({name: m for name, m in (("scfd", net.scfd), ("mpsd", net.mpsd)) if m is not None})
        super().__init__(model, extra=extra if any(True for _ in extra.parameters()) else None, net=net)
        self.teacher = teacher
        self.teacher_id = dict(teacher_id)
        #: The student's DiMP samples, with the teacher's own views of the frames where it needs them.
        self.sampler_class = teacher.sampler_class if self.terms else DiMPSampler
        self.original = DiMPLoss(settings.loss_weights, settings.hinge_threshold)

    def __call__(self, net: nn.Module, batch: Mapping[str, torch.Tensor], autocast: Autocast) -> LossTerms:
        original, weighted, raw, _, _ = self.weighted_terms(net, batch, autocast)
        total = original.total + sum(weighted.values())  # Eq. 14
        terms = {**original.terms, "original": original.terms["loss"],
                 **{name: float(value.detach()) for name, value in weighted.items()}, **raw,
                 "loss": float(total.detach())}
        return LossTerms(total=total, terms=terms)

    def weighted_terms(self, net: nn.Module, batch: Mapping[str, torch.Tensor], autocast: Autocast) -> WeightedTerms:
        """Eq. 14's summands on ``batch``, apart: L_original (DiMP's terms), the weighted distillation terms that
        are on (``scfd`` = alpha L_SCFD, ``mpsd`` = alpha L_MPSD, ``hfrd`` = beta L_HFRD, each a tensor with its
        graph) and their unweighted values for the log, with the pass's student output and teacher targets. One
        forward pass of the student and of the teacher."""
        teacher = None
        with autocast():
            if self.terms:
                teacher = self.teacher(batch, features=bool({"scfd", "mpsd"} & set(self.terms)))  # under no_grad
            output, feature_losses = net(batch, teacher)
        original = self.original(output, batch)
        weighted: dict[str, torch.Tensor] = {}
        raw: dict[str, float] = {}
        if "scfd" in self.terms:
            weighted["scfd"] = self.alpha * feature_losses["scfd"]
            raw["l_scfd"] = float(feature_losses["scfd"].detach())
        if "mpsd" in self.terms:
            weighted["mpsd"] = self.alpha * (feature_losses["fus"] + feature_losses["p"])  # Eq. 11
            raw.update(l_fus=float(feature_losses["fus"].detach()), l_p=float(feature_losses["p"].detach()),
                       mpsd_agree=float(feature_losses["agree"]))
        if "hfrd" in self.terms:
            l_hfrd = hfrd_loss(output.target_scores[-1], teacher.response, batch["test_label"])
            weighted["hfrd"] = self.beta * l_hfrd
            raw["l_hfrd"] = float(l_hfrd.detach())
        return WeightedTerms(original, weighted, raw, output, teacher)

    def identity(self) -> dict[str, Any]:
        return {"kind": "cmd", **self.teacher_id}

    def description(self) -> str:
        terms = ", ".join(self.terms) or "no distillation term (L_original only)"
        return (f"CMD distillation (Eq. 14: {terms}; alpha {self.alpha:g}, beta {self.beta:g}) from teacher "
                f"{self.teacher_id['teacher_config']!r} (sha256 {self.teacher_id['teacher_sha256'][:12]})")


def cmd_objective(teacher_path: Union[str, Path], student: ModelConfig) -> ObjectiveFactory:
    """The trainer's factory of :class:`CMDActor` with the teacher of ``teacher_path`` (a CMD teacher or an AINet,
    :func:`~.teachers.load_teacher`; loaded and checked now, so that a bad teacher fails before any training
    starts)."""
    teacher, teacher_id = load_teacher(teacher_path, student)

    def factory(model: RGBTDiMPNet, settings: TrainSettings, device: torch.device) -> CMDActor:
        return CMDActor(model, settings, teacher.to(device), teacher_id)

    return factory
