"""Tracking quality of the bundled demo checkpoint on short generated sequences.

These tests need trained weights (random weights cannot follow anything): they run against
``default_model_path()`` and are skipped while that file is absent.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.data.sampler import box_iou
from rgbt_tracker_ros.data.synthetic import generate_sequence, make_specs
from rgbt_tracker_ros.tracking.base import TrackState
from rgbt_tracker_ros.tracking.factory import create_tracker, default_model_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not default_model_path().is_file(),
        reason=f"needs the trained demo checkpoint {default_model_path()} (missing from this checkout)",
    ),
]


def _track(attributes: list[str], seed: int, frames: int):
    torch.set_num_threads(1)
    spec = make_specs(1, seed=seed, frames=frames, attributes=[attributes])[0]
    pairs = list(generate_sequence(spec))
    tracker = create_tracker("dimp", device="cpu")
    results = [tracker.initialize(pairs[0], pairs[0].gt_rgb)]
    results += [tracker.track(pair) for pair in pairs[1:]]
    ious = np.array([np.nan if pair.gt_rgb is None else box_iou(pair.gt_rgb, result.box[None])[0]
                     for pair, result in zip(pairs, results)])  # NaN: target out of view
    return pairs, results, ious


def test_follows_the_target_on_a_clear_sequence():
    _, results, ious = _track([], seed=21, frames=40)
    assert np.nanmean(ious) > 0.5, f"mean IoU {np.nanmean(ious):.2f}"
    assert np.nanmin(ious[-10:]) > 0.3, f"IoU of the last frames {np.round(ious[-10:], 2)}"
    assert sum(r.state is TrackState.TRACKING for r in results) >= 0.8 * len(results)


def test_reports_lost_during_full_occlusion_and_recovers():
    pairs, results, ious = _track(["full_occlusion"], seed=22, frames=80)
    hidden = np.array([bool(pair.attributes.get("full_occlusion", False)) for pair in pairs])
    assert hidden.any(), "the generated sequence has no fully occluded frame"
    states = [r.state for r in results]
    assert any(states[i] is TrackState.LOST for i in np.flatnonzero(hidden)), "never LOST while fully occluded"
    after = np.arange(len(pairs)) > np.flatnonzero(hidden).max()
    recovered = [i for i in np.flatnonzero(after) if states[i] is TrackState.TRACKING and ious[i] > 0.3]
    assert recovered, f"no recovery after the occlusion (IoU after it: {np.round(ious[after], 2)})"
    assert np.nanmean(ious[-5:]) > 0.3
