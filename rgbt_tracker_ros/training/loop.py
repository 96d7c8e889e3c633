"""The training loop of every network and objective: L_original (DiMP's recipe, base training of the
CMD student or teacher), CMD's distillation (Eq. 14) or OSTrack's loss (AINet), each an actor
(:mod:`.actors`).

One call of :func:`train` runs a whole training: single process, or one of several under
``torchrun`` (DDP; see :mod:`.distributed`). Per epoch it draws ``samples_per_epoch`` samples of the
actor's kind (:class:`~rgbt_tracker_ros.data.sampler.DiMPSampler` or
:class:`~rgbt_tracker_ros.data.ostrack_sampler.OSTrackSampler`; from one pool of sequences or a weighted
mix of sources: :class:`~rgbt_tracker_ros.data.mixture.SourceMixture`), steps Adam or AdamW with
per-module learning rates (optionally clipping the gradient norm) and StepLR, and (rank 0 only) writes:

- ``RUN_DIR/checkpoints/epoch_XXX.pt``: the model (``networks.checkpoint.save_checkpoint``:
  config + training-data description + weights), loadable by the trackers; modules only the
  objective trains (CMD's ABF modules) are not in it;
- ``RUN_DIR/last.pt``: the full training state (model, the objective's extra modules, optimizer,
  scheduler, AMP scaler, epoch, settings, model config, objective) that ``--resume`` continues from;
- ``RUN_DIR/log.csv`` and TensorBoard events (:mod:`.run_log`).

Determinism: the model initialisation is seeded by ``settings.seed``, each sample by
``(seed, epoch, index)`` and torch's global generator by ``(seed, epoch)`` at the start of every
epoch, so a resumed run repeats an uninterrupted one exactly on the CPU (CUDA kernels such as
``roi_align``'s backward use atomics and are not bit-exact).
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from rgbt_tracker_ros.atomic_files import write_bytes_atomic
from rgbt_tracker_ros.data.mixture import SourceMixture
from rgbt_tracker_ros.data.sampler import TrainingSequence, collate_samples
from rgbt_tracker_ros.errors import CheckpointError, InputError, RgbtError
from rgbt_tracker_ros.networks.checkpoint import load_model, save_checkpoint
from rgbt_tracker_ros.networks.config import AnyConfig, build_model, config_from_dict, load_config
from rgbt_tracker_ros.training.distributed import (
    DistributedContext,
    average_across_processes,
    barrier,
    cleanup_distributed,
    setup_distributed,
)
from rgbt_tracker_ros.training.actors import ObjectiveFactory, default_objective
from rgbt_tracker_ros.training.run_log import RunLog
from rgbt_tracker_ros.training.settings import TrainSettings

#: Marks a ``last.pt`` training-state file.
STATE_FORMAT = "rgbt_tracker_ros.training_state/1"


class TrainingDivergedError(RgbtError):
    """The loss became NaN/Inf (without AMP, where the scaler would skip the step)."""


@dataclass
class EpochResult:
    """Mean loss terms of one epoch (over all processes) and its timing."""

    epoch: int
    terms: dict[str, float]
    lr: float
    iterations: int
    seconds: float

    def row(self) -> dict[str, float]:
        """The ``log.csv`` row."""
        return {"epoch": self.epoch, "lr": self.lr, **self.terms, "iterations": self.iterations,
                "seconds": self.seconds, "seconds_per_iteration": self.seconds / max(self.iterations, 1)}


@dataclass
class TrainResult:
    """What :func:`train` did: the epochs it ran (this call only), where it wrote, the trained model."""

    run_dir: Path
    model: torch.nn.Module
    epochs: list[EpochResult] = field(default_factory=list)
    start_epoch: int = 1
    is_main: bool = True  # False in DDP processes other than rank 0


def parameter_groups(model: torch.nn.Module, lr: float, module_lrs: dict[str, float]) -> list[dict[str, Any]]:
    """Adam parameter groups: one per ``module_lrs`` prefix (longest match wins) + the default.

    A prefix that matches no trainable parameter raises :class:`InputError` (a typo would
    otherwise silently train that module at the default rate).
    """
    prefixes = sorted(module_lrs, key=len, reverse=True)
    grouped: dict[str, list[torch.nn.Parameter]] = {prefix: [] for prefix in module_lrs}
    default: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        match = next((p for p in prefixes if name == p or name.startswith(p + ".")), None)
        (grouped[match] if match is not None else default).append(parameter)
    unused = [prefix for prefix, params in grouped.items() if not params]
    if unused:
        raise InputError(
            f"module_lrs prefix(es) {', '.join(unused)} match no parameter of the model "
            f"(top-level modules: {_top_level_names(model)})"
        )
    groups = [{"params": params, "lr": module_lrs[prefix], "name": prefix} for prefix, params in grouped.items()]
    if default:
        groups.append({"params": default, "lr": lr, "name": "default"})
    return groups


def freeze_modules(model: torch.nn.Module, prefixes: Sequence[str]) -> list[torch.nn.Module]:
    """Stop gradients into the submodules named by ``prefixes``; returns them (to keep in eval mode).

    A name that is no submodule, or freezing every parameter, raises :class:`InputError`.
    """
    modules = []
    for prefix in prefixes:
        try:
            module = model.get_submodule(prefix)
        except AttributeError:
            raise InputError(
                f"frozen module {prefix!r} is no submodule of the model (top-level modules: {_top_level_names(model)})"
            ) from None
        module.requires_grad_(False)
        modules.append(module)
    if prefixes and not any(parameter.requires_grad for parameter in model.parameters()):
        raise InputError(f"frozen_modules {list(prefixes)} leave nothing to train")
    return modules


def _top_level_names(model: torch.nn.Module) -> str:
    """The model's top-level parameter-holding modules, for error messages."""
    return ", ".join(sorted({name.split(".")[0] for name, _ in model.named_parameters()}))


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of torch's global generator for ``epoch`` (independent of what ran before)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


class Trainer:
    """Model, objective, optimizer, schedule and data of one training run (one process of it under DDP).

    ``objective`` builds the actor from the model (default: the family's,
    :func:`~.actors.default_objective`: L_original or OSTrack's loss); ``sequences`` is a list of
    sequences (drawn uniformly) or a :class:`~rgbt_tracker_ros.data.mixture.SourceMixture` (sources drawn
    by weight).
    """

    def __init__(
        self,
        model_config: AnyConfig,
        sequences: Union[Sequence[TrainingSequence], SourceMixture],
        settings: TrainSettings,
        context: DistributedContext,
        pretrained: Optional[str] = None,
        allow_download: bool = False,
        workers: Optional[int] = None,
        init_weights: Optional[Union[str, Path]] = None,
        objective: Optional[ObjectiveFactory] = None,
    ):
        if settings.batch_size % context.world_size:
            raise InputError(
                f"batch size {settings.batch_size} is not divisible by the {context.world_size} processes"
            )
        self.config = model_config
        self.settings = settings
        self.context = context
        self.device = context.device
        if workers is not None and workers < 0:
            raise InputError(f"the number of loader workers must be >= 0, got {workers}")
        #: DataLoader workers: explicit, else the settings' on CUDA and 0 on the CPU.
        self.workers = workers if workers is not None else (settings.num_workers if self.device.type == "cuda" else 0)
        torch.manual_seed(settings.seed)
        if init_weights is not None:
            self.model: torch.nn.Module = load_model(init_weights, config=model_config)
            #: How the weights were initialised (for the run's start message).
            self.initialisation = f"weights of {init_weights}"
        else:
            self.model = build_model(model_config, pretrained=pretrained, allow_download=allow_download)
            self.initialisation = "backbone ImageNet/pretrained" if self.model.backbone_pretrained else "random"
        self.frozen = freeze_modules(self.model, settings.frozen_modules)
        self.actor = (objective or default_objective(model_config))(self.model, settings, self.device)
        self.actor.net.to(self.device)
        sampler_settings = replace(settings.sampler, **model_config.sampler_fields())
        sampler_class = self.actor.sampler_class
        if isinstance(sequences, SourceMixture):
            self.dataset = sequences.sampler(sampler_settings, settings.samples_per_epoch, seed=settings.seed,
                                             sampler_class=sampler_class)
        else:
            self.dataset = sampler_class(sequences, sampler_settings, settings.samples_per_epoch, seed=settings.seed)
        groups = parameter_groups(self.model, settings.lr, settings.module_lrs)
        if self.actor.extra is not None:  # first, so that the last group stays the model's default one
            groups.insert(0, {"params": list(self.actor.extra.parameters()), "lr": settings.lr, "name": "objective"})
        optimizer = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = optimizer(groups, lr=settings.lr, weight_decay=settings.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, settings.lr_step_epochs, settings.lr_gamma)
        self.amp_dtype = getattr(torch, settings.amp_dtype)
        #: Mixed precision: float16 or bfloat16 on CUDA; bfloat16 only on the CPU (no CPU float16 autocast).
        self.use_amp = settings.amp and (self.device.type == "cuda" or self.amp_dtype == torch.bfloat16)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.network: torch.nn.Module = self.actor.net
        if context.is_distributed:
            self.network = DistributedDataParallel(
                self.actor.net, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.epoch = 0  # last finished epoch
        self.step = 0  # optimizer steps so far (TensorBoard x axis)

    @property
    def iterations_per_epoch(self) -> int:
        return self.settings.samples_per_epoch // self.settings.batch_size

    def loader(self, epoch: int) -> DataLoader:
        """This process's share of ``epoch``'s samples, in batches of ``batch_size / world_size``."""
        self.dataset.set_epoch(epoch)
        shard = None
        if self.context.is_distributed:
            shard = DistributedSampler(self.dataset, num_replicas=self.context.world_size, rank=self.context.rank,
                                       shuffle=False, drop_last=True)
        return DataLoader(
            self.dataset,
            batch_size=self.settings.batch_size // self.context.world_size,
            sampler=shard,
            shuffle=False,
            num_workers=self.workers,
            collate_fn=collate_samples,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimizer step on ``batch`` (``collate_samples`` layout); returns the loss terms."""
        batch = {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}
        loss = self.actor(self.network, batch, self.autocast)
        if not math.isfinite(loss.terms["loss"]) and not self.scaler.is_enabled():
            raise TrainingDivergedError(
                f"the training loss became {loss.terms['loss']} at epoch {self.epoch + 1}, step {self.step + 1} "
                f"(terms {loss.terms}); lower the learning rates or check the data"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss.total).backward()
        if self.settings.grad_clip_norm > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.actor.net.parameters(), self.settings.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return loss.terms

    def autocast(self) -> torch.autocast:
        """The forward passes' mixed-precision context (disabled unless ``use_amp``)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def train_epoch(self, epoch: int, log: Optional[RunLog] = None, progress: bool = True) -> EpochResult:
        """Run ``epoch`` (1-based) and step the learning-rate schedule."""
        from tqdm import tqdm

        torch.manual_seed(epoch_seed(self.settings.seed, epoch))
        self.network.train()
        for module in self.frozen:
            module.eval()
        sums: dict[str, float] = defaultdict(float)
        finite = 0
        lr = float(self.optimizer.param_groups[-1]["lr"])
        bar = tqdm(total=self.iterations_per_epoch, desc=f"epoch {epoch}/{self.settings.epochs}", unit="it",
                   disable=not (progress and self.context.is_main), dynamic_ncols=True, leave=True)
        start = time.perf_counter()
        iterations = 0
        for batch in self.loader(epoch):
            terms = self.train_step(batch)
            iterations += 1
            if all(math.isfinite(v) for v in terms.values()):
                finite += 1
                for name, value in terms.items():
                    sums[name] += value
            if log is not None:
                log.iteration(self.step, terms)
            bar.update(1)
            bar.set_postfix({name: f"{terms[name]:.4g}" for name in self.actor.progress_terms if name in terms})
        bar.close()
        seconds = time.perf_counter() - start
        means = {name: value / max(finite, 1) for name, value in sums.items()}
        means = average_across_processes(means, self.context)
        self.scheduler.step()
        self.epoch = epoch
        return EpochResult(epoch=epoch, terms=means, lr=lr, iterations=iterations, seconds=seconds)

    # ------------------------------------------------------------------ state
    def state(self, description: str, data_source: str) -> dict[str, Any]:
        """Everything ``--resume`` needs (plain containers and tensors: ``weights_only`` loadable); ``description``
        is the checkpoint's training-data line, ``data_source`` the ``data_description`` the run was given."""
        state = {
            "format": STATE_FORMAT,
            "epoch": self.epoch,
            "step": self.step,
            "model_config": self.config.to_dict(),
            "settings": self.settings.to_dict(),
            "objective": self.actor.identity(),
            "data": description,
            "data_source": data_source,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }
        if self.actor.extra is not None:
            state["objective_modules"] = self.actor.extra.state_dict()
        return state

    def load_state(self, state: dict[str, Any], source: Union[str, Path]) -> None:
        """Restore a :meth:`state` (after checking it belongs to this model and objective)."""
        stored = state.get("objective", {"kind": "dimp"})  # states written before objectives were pluggable
        if stored != self.actor.identity():
            raise CheckpointError(f"{source} was trained with objective {stored}, not {self.actor.identity()}; "
                                  "resume it with the same objective (and teacher) or choose another --out")
        try:
            if self.actor.extra is not None:
                self.actor.extra.load_state_dict(state["objective_modules"])
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            self.epoch = int(state["epoch"])
            self.step = int(state["step"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{source}: cannot restore the training state ({str(exc).splitlines()[0]})") from None


def read_training_state(path: Union[str, Path]) -> dict[str, Any]:
    """Load a ``last.pt`` training state; raises :class:`CheckpointError` for anything else."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # truncated / not a torch file / unsafe pickle
        raise CheckpointError(f"{path}: not a readable training state ({str(exc).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a training state written by `rgbt-tracker train`")
    return state


def stored_recipe(state: dict[str, Any], path: Union[str, Path]) -> tuple[AnyConfig, TrainSettings]:
    """The model config and settings a training state (:func:`read_training_state` of ``path``) was trained with."""
    return (config_from_dict(state["model_config"], source=f"{path} model config"),
            TrainSettings.from_dict(state["settings"], source=f"{path} settings"))


def trainer_of_run(run_dir: Union[str, Path], sequences: Union[Sequence[TrainingSequence], SourceMixture], *,
                   device: Union[str, torch.device] = "cpu",
                   objective_of: Optional[Callable[[AnyConfig], ObjectiveFactory]] = None) -> Trainer:
    """The trainer of ``run_dir/last.pt`` as it stopped (model and objective modules, optimizer, epoch), in this one
    process, on ``sequences``: for analyses of a run (``rgbt-tracker distill --probe-gradients``), not to train on
    (:func:`train` with ``resume`` does that). ``objective_of`` makes the run's objective for its stored model config
    (``None``: the family's default). Raises :class:`InputError` when ``run_dir`` holds no run and
    :class:`CheckpointError` for an unreadable state or one trained with another objective."""
    from rgbt_tracker_ros.tracking.device import resolve_device

    state_path = Path(run_dir) / "last.pt"
    if not state_path.is_file():
        raise InputError(f"{run_dir} holds no training run (no last.pt)")
    state = read_training_state(state_path)
    config, settings = stored_recipe(state, state_path)
    trainer = Trainer(config, sequences, settings, DistributedContext(device=resolve_device(device)), pretrained="none",
                      objective=None if objective_of is None else objective_of(config))
    trainer.load_state(state, state_path)
    return trainer


def train(
    model_config: Union[str, Path, AnyConfig],
    sequences: Union[Sequence[TrainingSequence], SourceMixture],
    run_dir: Union[str, Path],
    settings: TrainSettings,
    *,
    device: Union[str, torch.device] = "auto",
    pretrained: Optional[str] = None,
    allow_download: bool = False,
    resume: bool = False,
    data_description: str = "",
    epochs: Optional[int] = None,
    workers: Optional[int] = None,
    progress: bool = True,
    init_weights: Optional[Union[str, Path]] = None,
    objective: Optional[ObjectiveFactory] = None,
) -> TrainResult:
    """Train ``model_config`` on ``sequences`` with L_original or ``objective``, writing to ``run_dir``.

    Args:
        sequences: training sequences (drawn uniformly) or a :class:`SourceMixture` (by weight).
        settings: the recipe (ignored on resume: the stored settings continue, except ``epochs``).
        device: ``auto``, ``cpu``, ``cuda`` (DDP on CUDA: ``cuda:LOCAL_RANK``).
        pretrained: backbone initialisation override (``imagenet``, ``none``, a file).
        resume: continue from ``run_dir/last.pt`` (start afresh, saying so, if there is none);
            without it a ``run_dir`` that already holds a run is refused.
        data_description: what the sequences are (e.g. ``"LasHeR train (979 videos)"``); every
            checkpoint stores it with the sequence count, settings and epochs.
        epochs: total epochs (overrides ``settings.epochs``; on resume, extends the run).
        workers: DataLoader workers (default: ``settings.num_workers`` on CUDA, 0 on the CPU).
        init_weights: start a new run from this checkpoint's weights (same architecture as
            ``model_config``), e.g. a fine-tuning stage with ``settings.frozen_modules``.
        objective: the actor factory (default: the model family's, :func:`~.actors.default_objective`:
            L_original or OSTrack's loss; CMD: :func:`rgbt_tracker_ros.distill.objective.cmd_objective`). A
            resumed run must use the objective it was started with.
    """
    from rgbt_tracker_ros.tracking.device import resolve_device

    if init_weights is not None and pretrained is not None:
        raise InputError("--init-weights replaces every weight, so it excludes --pretrained; give one")
    run_dir = Path(run_dir)
    state_path = run_dir / "last.pt"
    model_config = load_config(model_config)
    state = None
    if resume and state_path.is_file():
        state = read_training_state(state_path)
        stored, stored_settings = stored_recipe(state, state_path)
        differences = stored.architecture_differences(model_config)
        if differences:
            raise CheckpointError(
                f"{state_path} was trained with model config {stored.name!r}, which differs from "
                f"{model_config.name!r}: {', '.join(differences)}"
            )
        model_config = stored
        ignored = sorted(k for k, v in settings.to_dict().items()
                         if k not in ("epochs", "name", "description") and stored_settings.to_dict()[k] != v)
        if ignored and _env_rank() == 0:
            print(f"training: resuming with the settings stored in {state_path}; ignoring the new "
                  f"{', '.join(ignored)}", file=sys.stderr)
        settings = stored_settings
        stored_data = state.get("data_source")  # absent from states written before it was stored
        if stored_data is not None and stored_data != data_description and _env_rank() == 0:
            print(f"training: {state_path} was trained on {stored_data or 'unnamed data'}; the resumed epochs use "
                  f"{data_description or 'unnamed data'}", file=sys.stderr)
        pretrained = "none"  # the stored weights replace any initialisation
    elif state_path.is_file():
        raise InputError(f"{run_dir} already holds a training run (last.pt); pass --resume to continue it "
                         "or choose another --out")
    if epochs is not None:
        settings = settings.replace(epochs=int(epochs))

    context = setup_distributed(resolve_device(device))
    try:
        if resume and state is None and context.is_main:
            print(f"training: no {state_path} to resume from; starting a new run", file=sys.stderr)
        trainer = Trainer(model_config, sequences, settings, context, pretrained, allow_download, workers,
                          init_weights=init_weights if state is None else None, objective=objective)
        if state is not None:
            trainer.load_state(state, state_path)
        start_epoch = trainer.epoch + 1
        if context.is_main:
            (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
            _print_start(trainer, run_dir, start_epoch)
        log = RunLog(run_dir, enabled=context.is_main, first_epoch=start_epoch, first_step=trainer.step + 1,
                     columns=trainer.actor.log_columns)
        result = TrainResult(run_dir=run_dir, model=trainer.model, start_epoch=start_epoch, is_main=context.is_main)
        try:
            for epoch in range(start_epoch, settings.epochs + 1):
                epoch_result = trainer.train_epoch(epoch, log, progress)
                result.epochs.append(epoch_result)
                if context.is_main:
                    description = (
                        f"{data_description or 'training sequences'}: {len(trainer.dataset.sequences)} usable "
                        f"sequences; settings {settings.name!r}, {epoch} epoch(s) x {settings.samples_per_epoch} "
                        "samples"
                        + (f"; {trainer.actor.description()}" if trainer.actor.description() else "")
                    )
                    save_checkpoint(run_dir / "checkpoints" / f"epoch_{epoch:03d}.pt", trainer.model,
                                    training_data=description,
                                    extra={"epoch": epoch, "settings": settings.name, **epoch_result.row()})
                    run_state = trainer.state(description, data_description)
                    write_bytes_atomic(state_path, lambda file: torch.save(run_state, file))
                    log.epoch(epoch_result.row(), trainer.step)
                barrier(context)
        finally:
            log.close()
        return result
    finally:
        cleanup_distributed(context)


def _env_rank() -> int:
    """This process's rank before the process group exists (for messages printed once)."""
    return int(os.environ.get("RANK", "0") or 0)


def _print_start(trainer: Trainer, run_dir: Path, start_epoch: int) -> None:
    s, c = trainer.settings, trainer.context
    init = trainer.initialisation if start_epoch == 1 else "from last.pt"
    if trainer.frozen:
        init += f"; frozen: {', '.join(trainer.settings.frozen_modules)}"
    print(
        f"training {trainer.config.name} ({trainer.config.kind}) with settings {s.name!r} on "
        f"{len(trainer.dataset.sequences)} sequences -> {run_dir}\n"
        f"  epochs {start_epoch}..{s.epochs}, {s.samples_per_epoch} samples/epoch, batch {s.batch_size} "
        f"({c.world_size} process(es) on {c.device}), {trainer.iterations_per_epoch} it/epoch, "
        f"AMP {'on' if trainer.use_amp else 'off'}, init {init}"
        + (f"\n  objective: {trainer.actor.description()}" if trainer.actor.description() else ""),
        file=sys.stderr,
    )
