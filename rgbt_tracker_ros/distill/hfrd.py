"""HFRD: hard-focused response distillation (CMD, seed 000, Sec. 3.5, Eq. 12-13).

* Eq. 12: the teacher response ``R_t`` corrected by the Gaussian label ``R_g``:
  ``R_c = R_t + R_g`` where ``R_t + R_g < 1``, else ``R_g``; high on the target and on the hard
  negatives the teacher responds to.
* Eq. 13: ``L_HFRD = r(R_s * R_c, R_g)``, ``r`` = the L2 loss, here the mean squared error over the
  score-map cells (as DiMP's classification loss, which beta = 100 in Eq. 14 matches in weight).

Which responses (our decision, also in docs/training.md): ``R_t`` is the teacher's score map after
its **last** steepest-descent iteration (``optim_iter``, 5 in training) of its own DiMP forward
pass on the very training crops of the batch (train frames -> filter -> test frames), computed
by the frozen teacher under ``no_grad``. It is the teacher's best response to these crops and
the filter iterate DiMP's loss weighs most (``test_clf``) and the tracker uses; the initial
filter's response (iteration 0) is a coarse estimate. The bundle's stored responses are not used:
they cover the crop the teacher tracked on, not the jittered training crops. ``R_s`` is likewise
the student's last iterate, and ``R_g`` the sampler's Gaussian label of the test frames (all
zero on frames where the target is hidden).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def corrected_response(teacher: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Eq. 12: ``R_c`` from the teacher response ``R_t`` and the Gaussian label ``R_g`` (same shape)."""
    summed = teacher + label
    return torch.where(summed < 1.0, summed, label)


def hfrd_loss(student: torch.Tensor, teacher: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Eq. 13: ``MSE(R_s * R_c, R_g)``; ``R_c`` carries no gradient (the teacher is fixed)."""
    if student.shape != teacher.shape or student.shape != label.shape:
        raise ValueError(f"HFRD needs equal response shapes, got student {tuple(student.shape)}, "
                         f"teacher {tuple(teacher.shape)}, label {tuple(label.shape)}")
    corrected = corrected_response(teacher.detach().float(), label.float())
    return F.mse_loss(student.float() * corrected, label.float())
