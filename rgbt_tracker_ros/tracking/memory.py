"""DiMP's training-sample memory (pytracking ``DiMP.init_memory`` / ``update_sample_weights``).

The memory holds up to ``capacity`` classification feature maps with their target boxes (crop
coordinates) and weights. New samples get weight ``learning_rate`` relative to the rest (the older
samples decay geometrically); once full, the lowest-weight non-initial sample is replaced. The
first-frame samples together keep at least ``init_min_weight`` of the total weight.

Deviation (ours): when that floor applies, the other samples are rescaled to ``1 - init_min_weight``
so that the weights sum to 1; pytracking divides them by ``init_min_weight + their sum``, which
leaves the total slightly above 1 (e.g. 1.012). Their relative weights are the same either way.
"""
from __future__ import annotations

from typing import Optional

import torch


class SampleMemory:
    """Fixed-capacity sample memory of the DiMP classifier.

    Args:
        init_samples: ``(N, C, H, W)`` first-frame classification features.
        init_boxes: ``(N, 4)`` their target boxes ``[x, y, w, h]`` in crop coordinates.
        capacity: maximum number of stored samples (``sample_memory_size``, 50).
        init_min_weight: minimum total weight of the first-frame samples (0 disables the floor).
    """

    def __init__(self, init_samples: torch.Tensor, init_boxes: torch.Tensor, capacity: int, init_min_weight: float):
        num_init = int(init_samples.shape[0])
        if num_init >= capacity:
            raise ValueError(f"memory capacity {capacity} must exceed the {num_init} initial samples")
        self.capacity = int(capacity)
        self.num_init = num_init
        self.init_min_weight = float(init_min_weight)
        self.num_stored = num_init
        self._previous_replace: Optional[int] = None
        self._samples = init_samples.new_zeros((capacity,) + tuple(init_samples.shape[1:]))
        self._samples[:num_init] = init_samples
        self._boxes = init_boxes.new_zeros(capacity, 4)
        self._boxes[:num_init] = init_boxes
        self._weights = init_samples.new_zeros(capacity)
        self._weights[:num_init] = 1.0 / num_init

    @property
    def samples(self) -> torch.Tensor:
        """The stored samples ``(num_stored, C, H, W)``."""
        return self._samples[: self.num_stored]

    @property
    def boxes(self) -> torch.Tensor:
        """Their target boxes ``(num_stored, 4)``."""
        return self._boxes[: self.num_stored]

    @property
    def weights(self) -> torch.Tensor:
        """Their weights ``(num_stored,)``, summing to 1."""
        return self._weights[: self.num_stored]

    def update(self, sample: torch.Tensor, box: torch.Tensor, learning_rate: float) -> int:
        """Store ``sample`` (``(1, C, H, W)`` or ``(C, H, W)``) with ``box``; returns the slot used."""
        slot = self._update_weights(learning_rate)
        self._samples[slot] = sample.reshape(self._samples.shape[1:])
        self._boxes[slot] = box.reshape(4)
        self.num_stored = min(self.num_stored + 1, self.capacity)
        return slot

    def _update_weights(self, learning_rate: float) -> int:
        weights = self._weights
        floor = self.init_min_weight if self.init_min_weight > 0 else None
        first_replaceable = self.num_init if floor is not None else 0
        if self.num_stored < self.capacity:
            slot = self.num_stored
        else:
            slot = int(torch.argmin(weights[first_replaceable:]).item()) + first_replaceable
        if self._previous_replace is None:
            weights /= 1.0 - learning_rate
            weights[slot] = learning_rate
        else:
            weights[slot] = weights[self._previous_replace] / (1.0 - learning_rate)
        weights /= weights.sum()
        if floor is not None and weights[: self.num_init].sum() < floor:
            weights[self.num_init:] *= (1.0 - floor) / weights[self.num_init:].sum()
            weights[: self.num_init] = floor / self.num_init
        self._previous_replace = slot
        return slot
