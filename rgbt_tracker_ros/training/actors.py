"""Training objectives ("actors", after pytracking's ``ltr/actors``): batch in, loss and statistics out.

One training loop (:mod:`.loop`) serves every objective: it builds the model, asks an
:data:`ObjectiveFactory` for the actor, and from then on only calls ``actor(net, batch, autocast)``.
An actor owns

* ``model``: the network the run trains and its checkpoints save (the student);
* ``extra``: modules trained with it that checkpoints do not save (CMD's ABF modules), ``None``
  for plain DiMP training; they join the optimizer and the training state (exact ``--resume``);
* ``net``: the module the optimizer, ``train()``/``eval()`` and DDP see: ``model`` itself, or a
  container of ``model`` and ``extra`` (DDP must wrap everything that receives gradients).

:class:`DiMPActor` is L_original (base training); the CMD objective lives in
:mod:`rgbt_tracker_ros.distill.objective`.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, Mapping, Optional

import torch
from torch import nn

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.networks.models import RGBTDiMPNet
from rgbt_tracker_ros.training.losses import DiMPLoss, LossTerms
from rgbt_tracker_ros.training.run_log import LOG_COLUMNS
from rgbt_tracker_ros.training.settings import TrainSettings

#: A context manager factory for the forward passes (``torch.autocast`` as the run's AMP settings say).
Autocast = Callable[[], AbstractContextManager]


class Actor:
    """Base of the training objectives (see the module docstring)."""

    #: Columns of ``log.csv`` (:class:`~.run_log.RunLog`).
    log_columns: tuple[str, ...] = LOG_COLUMNS

    def __init__(self, model: RGBTDiMPNet, extra: Optional[nn.Module] = None, net: Optional[nn.Module] = None):
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

    def __init__(self, model: RGBTDiMPNet, settings: TrainSettings, device: torch.device):
        if settings.distill.terms:
            raise InputError(
                f"settings {settings.name!r} switch on distillation ({', '.join(settings.distill.terms)}); "
                "run them with `rgbt-tracker distill --teacher CKPT`"
            )
        super().__init__(model)
        self.loss = DiMPLoss(settings.loss_weights, settings.hinge_threshold)

    def __call__(self, net: nn.Module, batch: Mapping[str, torch.Tensor], autocast: Autocast) -> LossTerms:
        with autocast():
            output = net(batch["train_rgb"], batch["train_tir"], batch["test_rgb"], batch["test_tir"],
                         batch["train_bb"], batch["test_proposals"])
        return self.loss(output, batch)

    def identity(self) -> dict[str, Any]:
        return {"kind": "dimp"}


#: ``factory(model, settings, device) -> Actor``, called by the trainer once the model exists.
ObjectiveFactory = Callable[[RGBTDiMPNet, TrainSettings, torch.device], Actor]
