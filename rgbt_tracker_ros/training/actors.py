"""Training objectives ("actors", after pytracking's ``ltr/actors``): batch in, loss and statistics out.

One training loop (:mod:`.loop`) serves every objective: it builds the model, asks an
:data:`ObjectiveFactory` for the actor, and from then on only calls ``actor(net, batch, autocast)``.
An actor owns

* ``model``: the network the run trains and its checkpoints save (the student);
* ``extra``: modules trained with it that checkpoints do not save (CMD's ABF modules), ``None``
  for plain DiMP training; they join the optimizer and the training state (exact ``--resume``);
* ``net``: the module the optimizer, ``train()``/``eval()`` and DDP see: ``model`` itself, or a
  container of ``model`` and ``extra`` (DDP must wrap everything that receives gradients).

An actor also names what a batch holds: ``sampler_class`` (DiMP's samples, OSTrack's, or DiMP's with a distillation
teacher's own views of the frames), ``log_columns``
and ``progress_terms`` (the terms on the progress bar).

:class:`DiMPActor` is L_original (base training of the CMD networks), :class:`OSTrackActor` OSTrack's loss
(AINet); :func:`default_objective` picks one by the model family; the CMD objective lives in
:mod:`rgbt_tracker_ros.distill.objective`.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, Mapping, Optional

import torch
from torch import nn

from rgbt_tracker_ros.data.ostrack_sampler import OSTrackSampler
from rgbt_tracker_ros.data.sampler import DiMPSampler
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.config import AnyConfig
from rgbt_tracker_ros.training.losses import DiMPLoss, LossTerms, OSTrackLoss
from rgbt_tracker_ros.training.run_log import LOG_COLUMNS, OSTRACK_LOG_COLUMNS
from rgbt_tracker_ros.training.settings import DIMP_LOSS_WEIGHTS, OSTRACK_LOSS_WEIGHTS, TrainSettings

#: A context manager factory for the forward passes (``torch.autocast`` as the run's AMP settings say).
Autocast = Callable[[], AbstractContextManager]


class Actor:
    """Base of the training objectives (see the module docstring)."""

    #: Columns of ``log.csv`` (:class:`~.run_log.RunLog`).
    log_columns: tuple[str, ...] = LOG_COLUMNS
    #: Terms shown on the progress bar.
    progress_terms: tuple[str, ...] = ("loss", "iou", "clf_final")
    #: The training samples the objective reads: ``sampler_class(sequences, settings, samples_per_epoch, seed=)``
    #: builds a :class:`~rgbt_tracker_ros.data.sampler.DiMPSampler`-like dataset (a class or a ``partial`` of one).
    sampler_class: Callable[..., DiMPSampler] = DiMPSampler

    def __init__(self, model: nn.Module, extra: Optional[nn.Module] = None, net: Optional[nn.Module] = None):
        self.model = model
        self.extra = extra
        self.net = model if net is None else net

    def __call__(self, net: nn.Module, batch: Mapping[str, torch.Tensor], autocast: Autocast) -> LossTerms:
        """The loss of ``batch`` (``collate_samples`` layout, on the device); ``net`` is :attr:`net`
        or its DDP wrapper, which the forward pass must go through."""
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """What a resumed run must find unchanged (stored in the training state)."""
        raise NotImplementedError

    def description(self) -> str:
        """One line for the checkpoints' training-data record ("" when nothing to add)."""
        return ""


class DiMPActor(Actor):
    """L_original (DiMP's loss, :class:`~.losses.DiMPLoss`): base training of a student or a teacher."""

    def __init__(self, model: nn.Module, settings: TrainSettings, device: torch.device):
        if settings.distill.terms:
            raise InputError(
                f"settings {settings.name!r} switch on distillation ({', '.join(settings.distill.terms)}); "
                "run them with `rgbt-tracker distill --teacher CKPT`"
            )
        check_loss_terms(settings, DIMP_LOSS_WEIGHTS, "DiMP's L_original")
        super().__init__(model)
        self.loss = DiMPLoss(settings.loss_weights, settings.hinge_threshold)

    def __call__(self, net: nn.Module, batch: Mapping[str, torch.Tensor], autocast: Autocast) -> LossTerms:
        with autocast():
            output = net(batch["train_rgb"], batch["train_tir"], batch["test_rgb"], batch["test_tir"],
                         batch["train_bb"], batch["test_proposals"])
        return self.loss(output, batch)

    def identity(self) -> dict[str, Any]:
        return {"kind": "dimp"}


class OSTrackActor(Actor):
    """OSTrack's loss (:class:`~.losses.OSTrackLoss`: 2 GIoU + 5 L1 + 1 focal) on OSTrack samples
    (:class:`~rgbt_tracker_ros.data.ostrack_sampler.OSTrackSampler`): AINet's training (seed 003)."""

    log_columns = OSTRACK_LOG_COLUMNS
    progress_terms = ("loss", "iou", "focal")
    sampler_class = OSTrackSampler

    def __init__(self, model: nn.Module, settings: TrainSettings, device: torch.device):
        if model.config.family != "ainet":
            raise InputError(f"OSTrack's objective trains an AINet, not {model.config.name!r} ({model.config.kind})")
        if settings.distill.terms:
            raise InputError(f"settings {settings.name!r} switch on CMD distillation, which trains a CMD student")
        check_loss_terms(settings, OSTRACK_LOSS_WEIGHTS, "OSTrack's loss (AINet)")
        if (settings.sampler.num_train_frames, settings.sampler.num_test_frames) != (1, 1):
            raise InputError(f"settings {settings.name!r}: AINet trains on one template and one search frame per "
                             f"sample (sampler num_train_frames 1, num_test_frames 1)")
        super().__init__(model)
        self.loss = OSTrackLoss(settings.loss_weights)

    def __call__(self, net: nn.Module, batch: Mapping[str, torch.Tensor], autocast: Autocast) -> LossTerms:
        with autocast():
            output = net(batch["template_rgb"][0], batch["template_tir"][0], batch["search_rgb"][0],
                         batch["search_tir"][0])
        return self.loss(output, batch)

    def identity(self) -> dict[str, Any]:
        return {"kind": "ostrack"}


def check_loss_terms(settings: TrainSettings, known: Mapping[str, float], what: str) -> None:
    """:class:`InputError` unless ``settings.loss_weights`` weighs terms of ``known`` only (a term of the other
    objective would silently weigh nothing)."""
    foreign = sorted(set(settings.loss_weights) - set(known))
    if foreign:
        raise InputError(f"settings {settings.name!r} weigh loss term(s) {', '.join(foreign)}, which {what} does not "
                         f"have (its terms: {', '.join(known)}); use settings made for this model "
                         f"(dimp-*/synthetic-* for the CMD networks, ainet* for AINet)")


#: ``factory(model, settings, device) -> Actor``, called by the trainer once the model exists.
ObjectiveFactory = Callable[[nn.Module, TrainSettings, torch.device], Actor]


def default_objective(config: AnyConfig) -> ObjectiveFactory:
    """The base-training objective of a model family: DiMP's L_original or OSTrack's loss (AINet)."""
    return OSTrackActor if config.family == "ainet" else DiMPActor
