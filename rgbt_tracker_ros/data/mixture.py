"""Training data from several roots, mixed by weight (pytracking's ``p_datasets``).

A root is a dataset folder (LasHeR / RGBT234 / RGBT210 / GTOT layout, e.g. ``rgbt-tracker synth``
output) or a teacher bundle (``rgbt-tracker label``, :mod:`.bundle`), whose completed sequences are
sequences with the teacher's boxes as ground truth (frames ``images``: the bundle's own
LasHeR-layout folders; frames ``reference`` to a sequence folder: the source frames). Sequences of a
bag-referenced bundle cannot be sampled at random and are refused.

Without weights the training draws uniformly over all sequences of all roots (as before there were
weights). With weights, :class:`SourceMixture` draws each sample's root first, with probability
``weight / sum(weights)``, then a sample from that root (:class:`~.sampler.DiMPSampler`, or the
objective's sampler, e.g. :class:`~.ostrack_sampler.OSTrackSampler`); the root choice draws from
``default_rng([seed, epoch, index, 1])``, so it depends only on the sample, as the sample itself.

A root may also carry a box-loss weight (ours; pytracking has none): where any root's weight is not 1, every
sample carries ``box_weight`` ``(1,)``, its root's weight, which scales that sample's box terms (DiMP's IoU-Net
loss, OSTrack's GIoU + L1) while its classification terms stay whole. Weight 0 keeps a root out of box training,
e.g. scenes whose axis-aligned ground truth is loose around a rotated target (``docs/training.md``, issue 14).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from rgbt_tracker_ros.data.sampler import DiMPSampler, SamplerSettings, TrainingSequence, UsableSequence
from rgbt_tracker_ros.errors import DatasetError, InputError


def open_training_root(root: Union[str, Path], layout: str = "auto") -> list[TrainingSequence]:
    """The sequences of a dataset root or of a teacher bundle (see the module docstring).

    A bundle's incomplete sequences (a labelling run still going or interrupted) are left out
    with a message.
    """
    from rgbt_tracker_ros.data import bundle as bundles
    from rgbt_tracker_ros.data.datasets import open_dataset

    root = Path(root)
    if not (root / bundles.MANIFEST).is_file():
        return open_dataset(root, layout=layout)
    manifest = bundles.read_manifest(root)
    sequences, incomplete = [], []
    for name, entry in sorted(manifest["sequences"].items()):
        if not entry.get("complete"):
            incomplete.append(name)
            continue
        if manifest["frames"] == "reference" and entry["source"].get("kind") != "sequence":
            raise DatasetError(f"bundle {root}: sequence {name} references a bag (frames=reference), which "
                               "training cannot sample at random; label it with --frames images")
        sequences.append(bundles.sequence_frames(root, name))
    if incomplete:
        print(f"training: bundle {root}: leaving out incomplete sequence(s) {', '.join(incomplete)}", file=sys.stderr)
    if not sequences:
        raise DatasetError(f"bundle {root} holds no completed sequence")
    return sequences


@dataclass
class TrainingSource:
    """One root's sequences, its sampling weight and the weight of its samples' box terms."""

    name: str
    sequences: list[TrainingSequence]
    weight: float
    box_weight: float = 1.0


class SourceMixture:
    """Roots drawn by weight (see the module docstring); give it to ``training.loop.train``."""

    def __init__(self, sources: Sequence[TrainingSource]):
        if not sources:
            raise InputError("a source mixture needs at least one source")
        weights = [float(source.weight) for source in sources]
        if not all(np.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
            raise InputError(f"source weights must be >= 0 and not all 0, got {weights}")
        box_weights = [float(source.box_weight) for source in sources]
        if not all(np.isfinite(w) and w >= 0 for w in box_weights):
            raise InputError(f"box-loss weights must be finite and >= 0, got {box_weights}")
        self.sources = list(sources)

    def sampler(self, settings: SamplerSettings, samples_per_epoch: int, seed: int = 0,
                sampler_class: Callable[..., DiMPSampler] = DiMPSampler) -> "MixedSampler":
        """The epoch's samples, as ``sampler_class`` (:class:`~.sampler.DiMPSampler` or
        :class:`~.ostrack_sampler.OSTrackSampler`) does for one root."""
        return MixedSampler(self.sources, settings, samples_per_epoch, seed, sampler_class)


class MixedSampler(Dataset):
    """Training samples from weighted sources (the items of ``sampler_class``, default DiMP's)."""

    def __init__(self, sources: Sequence[TrainingSource], settings: SamplerSettings, samples_per_epoch: int,
                 seed: int = 0, sampler_class: Callable[..., DiMPSampler] = DiMPSampler):
        self.seed = int(seed)
        self.epoch = 0
        self.samples_per_epoch = int(samples_per_epoch)
        self.samplers = []
        for number, source in enumerate(sources):
            try:  # each source its own random stream
                source_seed = int(np.random.SeedSequence([self.seed, number]).generate_state(1)[0])
                self.samplers.append(sampler_class(source.sequences, settings, samples_per_epoch, seed=source_seed))
            except DatasetError as exc:
                raise DatasetError(f"source {source.name}: {exc}") from None
        weights = np.array([source.weight for source in sources], dtype=np.float64)
        self.probabilities = weights / weights.sum()
        box_weights = [float(source.box_weight) for source in sources]
        self.box_weights = None if all(w == 1.0 for w in box_weights) else box_weights

    @property
    def sequences(self) -> list[UsableSequence]:
        """The usable sequences of all sources."""
        return [sequence for sampler in self.samplers for sequence in sampler.sequences]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for sampler in self.samplers:
            sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, int(index), 1])
        source = int(rng.choice(len(self.samplers), p=self.probabilities))
        sample = self.samplers[source][index]
        if self.box_weights is not None:
            sample["box_weight"] = torch.tensor([self.box_weights[source]], dtype=torch.float32)
        return sample
