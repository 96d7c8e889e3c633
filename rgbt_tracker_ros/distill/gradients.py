"""Where Eq. 14's summands push the student: each term's gradient on the student's weights (ours, a diagnostic).

The loss values in ``log.csv`` do not say how much a term moves the weights: a small term can still steer, a large
one can be parallel to L_original. For a distillation run's state (``last.pt``) this probe draws batches as the
run's next epoch would and, from one forward pass per batch, takes the gradient of each summand of Eq. 14
(``original`` = L_original, ``scfd`` = alpha L_SCFD, ``mpsd`` = alpha L_MPSD, ``hfrd`` = beta L_HFRD) on the
student's trainable parameters, per top-level module (``backbone``, ``fusion``, ``classifier``, ``bb_regressor``)
and over all of them (``all``). Reported as means over the batches: the gradient's norm, its ratio to
L_original's, and its cosine with L_original's (below zero: the term pulls against the tracking loss). The ABF
chains and width adapters, which only distillation trains, are not the student and are left out. Gradients are
before the optimizer: Adam rescales each weight's step, so a norm ratio is how loud a term is, not how far it
moves a weight.

Beside the gradients, the probe reports the student's MPSD path weights (Eq. 6) on the same batches' test
frames: each path's mean weight and the mean of each frame's largest one per fused level. A largest weight of
1.0 means the softmax selects one path for every frame: its gradient, and with it L_p's (Eq. 10) hold on the
selection, is then gone. Where SCFD is on, it also reports how well the ABF outputs meet SCFD's targets per
modality and level (:func:`~rgbt_tracker_ros.distill.scfd.scfd_fit`, means over the batches).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Mapping

import torch
from torch import nn

from rgbt_tracker_ros.distill.objective import CMDActor, WeightedTerms
from rgbt_tracker_ros.distill.scfd import explained, scfd_fit
from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.training.loop import Trainer, epoch_seed

#: The summand of Eq. 14 the others are compared with.
REFERENCE = "original"
#: The module name under which every module's gradients are taken together.
ALL_MODULES = "all"


def student_modules(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The trainable parameters of ``model`` by top-level module (frozen modules have none and do not appear)."""
    modules: dict[str, list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            modules.setdefault(name.split(".")[0], []).append(parameter)
    return modules


def term_gradients(terms: WeightedTerms, modules: Mapping[str, list[nn.Parameter]]
                   ) -> dict[str, dict[str, torch.Tensor]]:
    """Per summand of Eq. 14 that is on (``original`` first) and per module of ``modules``, the flattened float32
    gradient of that summand in ``terms`` (:meth:`CMDActor.weighted_terms` of one batch; zeros where it does not
    reach)."""
    parameters = [parameter for group in modules.values() for parameter in group]
    gradients: dict[str, dict[str, torch.Tensor]] = {}
    for term, loss in {REFERENCE: terms.original.total, **terms.weighted}.items():
        grads = torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
        flat = [torch.zeros(p.numel()) if g is None else g.detach().float().flatten().cpu()
                for p, g in zip(parameters, grads)]
        per_module, start = {}, 0
        for module, group in modules.items():
            per_module[module] = torch.cat(flat[start:start + len(group)])
            start += len(group)
        gradients[term] = per_module
    return gradients


def gradient_statistics(gradients: Mapping[str, Mapping[str, torch.Tensor]]
                        ) -> dict[str, dict[str, dict[str, float | None]]]:
    """``norm``, ``ratio`` and ``cosine`` (with :data:`REFERENCE`'s gradient) per term and module of one batch's
    :func:`term_gradients`, and over all modules together (:data:`ALL_MODULES`, from the modules' sums of squares
    and dot products); ``None`` where a ratio or cosine has a zero norm to divide by."""
    reference = {module: gradient.double() for module, gradient in gradients[REFERENCE].items()}
    reference_squares = {module: float(gradient @ gradient) for module, gradient in reference.items()}
    reference_squares[ALL_MODULES] = sum(reference_squares.values())
    statistics: dict[str, dict[str, dict[str, float | None]]] = {"norm": {}, "ratio": {}, "cosine": {}}
    for term, per_module in gradients.items():
        squares, dots = {}, {}
        for module, gradient in per_module.items():  # sums in float64: millions of float32 products
            gradient = gradient.double()
            squares[module], dots[module] = float(gradient @ gradient), float(gradient @ reference[module])
        squares[ALL_MODULES], dots[ALL_MODULES] = sum(squares.values()), sum(dots.values())
        for module, square in squares.items():
            norm, reference_norm = square ** 0.5, reference_squares[module] ** 0.5
            zero = norm == 0.0 or reference_norm == 0.0
            statistics["norm"].setdefault(term, {})[module] = norm
            statistics["ratio"].setdefault(term, {})[module] = None if zero else norm / reference_norm
            statistics["cosine"].setdefault(term, {})[module] = None if zero else dots[module] / (norm * reference_norm)
    return statistics


@dataclass
class GradientProbe:
    """Means over ``batches`` per term and module: ``norm`` (L2 norm of the gradient), ``ratio`` (norm over
    L_original's), ``cosine`` (with L_original's gradient); ``None`` where L_original's or the term's gradient is
    zero (a ratio or cosine it cannot have)."""

    batches: int
    epoch: int
    norm: dict[str, dict[str, float]] = field(default_factory=dict)
    ratio: dict[str, dict[str, float | None]] = field(default_factory=dict)
    cosine: dict[str, dict[str, float | None]] = field(default_factory=dict)
    #: per fused level: each MPSD path's mean weight (Eq. 6) and ``largest``, the mean of each frame's largest
    path_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    #: per modality and level, SCFD's ``mse``, its target's ``variance`` and ``explained`` (empty without SCFD)
    scfd_fit: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "after_epoch": self.epoch, "reference": REFERENCE,
                "norm": self.norm, "ratio": self.ratio, "cosine": self.cosine, "path_weights": self.path_weights,
                "scfd_fit": self.scfd_fit}

    def table(self) -> str:
        """A plain-text table: one row per term and module."""
        lines = [f"{'term':<9} {'module':<13} {'|gradient|':>11} {'/ original':>11} {'cos with original':>18}"]
        for term, modules in self.norm.items():
            for module, norm in modules.items():
                ratio, cosine = self.ratio[term][module], self.cosine[term][module]
                lines.append(f"{term:<9} {module:<13} {norm:>11.4g} "
                             f"{'-' if ratio is None else format(ratio, '.4g'):>11} "
                             f"{'-' if cosine is None else format(cosine, '+.3f'):>18}")
        lines.append("MPSD path weights (Eq. 6) on the test frames, mean per path and of each frame's largest:")
        for level, weights in self.path_weights.items():
            lines.append(f"  {level:<9} " + "  ".join(f"{name} {weight:.3f}" for name, weight in weights.items()))
        if self.scfd_fit:
            lines.append("SCFD fit (Eq. 3): MSE, target variance around its channel means, 1 - MSE/variance:")
        for modality, levels in self.scfd_fit.items():
            for level, fit in levels.items():
                share = "-" if fit["explained"] is None else format(fit["explained"], "+.3f")
                lines.append(f"  {modality:<4} {level:<7} mse {fit['mse']:.4g}  variance {fit['variance']:.4g}  "
                             f"explained {share}")
        return "\n".join(lines)


def _mean(values: list[float | None]) -> float | None:
    kept = [value for value in values if value is not None]
    return sum(kept) / len(kept) if kept else None


def probe_gradients(trainer: Trainer, batches: int) -> GradientProbe:
    """The :class:`GradientProbe` of a distillation ``trainer`` (e.g.
    :func:`~rgbt_tracker_ros.training.loop.trainer_of_run`) on the first ``batches`` batches of its next epoch, in
    training mode (frozen modules in eval mode, as in training). No parameter changes and no ``.grad`` is set;
    BatchNorm's running statistics move as in a training step (in memory: nothing is saved)."""
    if not isinstance(trainer.actor, CMDActor):
        raise InputError("the gradient probe compares the terms of CMD distillation (Eq. 14); this run's objective "
                         f"is {trainer.actor.identity().get('kind')!r}")
    if batches < 1:
        raise InputError(f"the gradient probe needs at least one batch, got {batches}")
    modules = student_modules(trainer.model)
    epoch = trainer.epoch + 1
    torch.manual_seed(epoch_seed(trainer.settings.seed, epoch))
    trainer.network.train()
    for module in trainer.frozen:
        module.eval()
    samples: dict[str, dict[str, list]] = {kind: {} for kind in ("norm", "ratio", "cosine")}
    path_weights: dict[str, list[torch.Tensor]] = {}
    fits: dict[tuple[str, str], list[tuple[float, float]]] = {}
    used = 0
    for batch in islice(trainer.loader(epoch), batches):
        batch = {key: value.to(trainer.device) for key, value in batch.items()}
        terms = trainer.actor.weighted_terms(trainer.network, batch, trainer.autocast)
        gradients = term_gradients(terms, modules)
        for level, weights in terms.output.test_features.path_weights.items():
            path_weights.setdefault(level, []).append(weights.detach().float().cpu())
        if "scfd" in trainer.actor.terms:  # the ABF chains again, on the pass's own features and targets
            with torch.no_grad(), trainer.autocast():
                fit = scfd_fit(*trainer.actor.net.scfd_pairs(terms.output, terms.teacher))
            for modality, levels in fit.items():
                for level, values in levels.items():
                    fits.setdefault((modality, level), []).append((values["mse"], values["variance"]))
        for kind, per_term in gradient_statistics(gradients).items():
            for term, per_module in per_term.items():
                for module, value in per_module.items():
                    samples[kind].setdefault(term, {}).setdefault(module, []).append(value)
        used += 1
    probe = GradientProbe(batches=used, epoch=trainer.epoch)
    for level, chunks in path_weights.items():
        weights = torch.cat(chunks)
        probe.path_weights[level] = {**dict(zip(trainer.model.fusion_path_names, map(float, weights.mean(dim=0)))),
                                     "largest": float(weights.max(dim=1).values.mean())}
    for (modality, level), values in fits.items():
        mse, variance = (sum(column) / len(values) for column in zip(*values))
        probe.scfd_fit.setdefault(modality, {})[level] = {"mse": mse, "variance": variance,
                                                          "explained": explained(mse, variance)}
    for kind, per_term in samples.items():
        setattr(probe, kind, {term: {module: _mean(values) for module, values in per_module.items()}
                              for term, per_module in per_term.items()})
    return probe
