"""DiMP localisation on synthetic score maps, the state it implies, and the sample memory."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rgbt_tracker_ros.tracking.base import TrackState
from rgbt_tracker_ros.tracking.localization import localize, state_for_flag
from rgbt_tracker_ros.tracking.memory import SampleMemory
from rgbt_tracker_ros.tracking.params import DiMPParams

PARAMS = DiMPParams()
SIZE = 19  # DiMP's 19x19 score map; centre cell (9, 9)


def _peaks(*peaks: tuple[int, int, float], background: float = 0.0) -> np.ndarray:
    """Score map with Gaussian-free single-cell peaks ``(x, y, value)``."""
    scores = np.full((SIZE, SIZE), background)
    for x, y, value in peaks:
        scores[y, x] = value
    return scores


def test_single_strong_peak_is_normal_tracking_with_offset_from_centre():
    loc = localize(_peaks((12, 7, 0.9)), (2.0, 2.0), (0.0, 0.0), PARAMS)
    assert loc.flag == "normal" and state_for_flag(loc.flag) is TrackState.TRACKING
    assert loc.offset == (3.0, -2.0)
    assert loc.max_score == pytest.approx(0.9)


def test_flat_low_map_is_not_found_and_lost():
    loc = localize(np.full((SIZE, SIZE), 0.1), (2.0, 2.0), (0.0, 0.0), PARAMS)
    assert loc.flag == "not_found" and state_for_flag(loc.flag) is TrackState.LOST
    # Just below / at the threshold of 0.25.
    assert localize(_peaks((9, 9, 0.249)), (2.0, 2.0), (0.0, 0.0), PARAMS).flag == "not_found"
    assert localize(_peaks((9, 9, 0.25)), (2.0, 2.0), (0.0, 0.0), PARAMS).flag == "normal"


def test_nan_scores_count_as_not_found():
    assert localize(np.full((SIZE, SIZE), np.nan), (2.0, 2.0), (0.0, 0.0), PARAMS).flag == "not_found"


def test_second_peak_inside_the_target_neighbourhood_is_ignored():
    # Neighbourhood = 2.2 x target size (4 cells) = 8.8 cells around the peak.
    loc = localize(_peaks((9, 9, 0.9), (12, 9, 0.85)), (4.0, 4.0), (0.0, 0.0), PARAMS)
    assert loc.flag == "normal"


def test_distractor_near_previous_position_makes_the_far_peak_a_hard_negative():
    # Peak 1 (0.9) is 8 cells from the previous position (more than 0.8 * 19 / 2 = 7.6), peak 2
    # (0.8 > 0.8 * 0.9) lies at it: DiMP switches to peak 2 and flags a hard negative.
    loc = localize(_peaks((17, 9, 0.9), (9, 9, 0.8)), (2.0, 2.0), (0.0, 0.0), PARAMS)
    assert loc.flag == "hard_negative" and state_for_flag(loc.flag) is TrackState.UNCERTAIN
    assert loc.offset == (0.0, 0.0)


def test_distractor_far_away_keeps_the_near_peak_as_hard_negative():
    loc = localize(_peaks((9, 9, 0.9), (1, 1, 0.8)), (2.0, 2.0), (0.0, 0.0), PARAMS)
    assert loc.flag == "hard_negative" and loc.offset == (0.0, 0.0)


def test_two_close_equal_peaks_are_uncertain():
    loc = localize(_peaks((9, 9, 0.9), (13, 9, 0.85)), (1.0, 1.0), (0.0, 0.0), PARAMS)
    assert loc.flag == "uncertain" and state_for_flag(loc.flag) is TrackState.UNCERTAIN
    assert loc.offset == (0.0, 0.0)


def test_moderate_second_peak_is_a_hard_negative():
    # 0.5 * 0.9 < 0.6 < 0.8 * 0.9 and above the not-found threshold.
    loc = localize(_peaks((9, 9, 0.9), (2, 2, 0.6)), (2.0, 2.0), (0.0, 0.0), PARAMS)
    assert loc.flag == "hard_negative" and loc.offset == (0.0, 0.0)


def test_sample_memory_weights_follow_dimp():
    init = torch.zeros(3, 2, 4, 4)
    memory = SampleMemory(init, torch.zeros(3, 4), capacity=5, init_min_weight=0.25)
    np.testing.assert_allclose(memory.weights.numpy(), [1 / 3] * 3)
    slot = memory.update(torch.ones(1, 2, 4, 4), torch.tensor([1.0, 2.0, 3.0, 4.0]), learning_rate=0.1)
    assert slot == 3 and memory.num_stored == 4
    # Old weights / (1 - lr), the new one lr, normalised: (1/0.9, 0.1) / (1/0.9 + 0.1).
    total = 1 / 0.9 + 0.1
    np.testing.assert_allclose(memory.weights.numpy(), [1 / 2.7 / total] * 3 + [0.1 / total], rtol=1e-6)
    assert torch.equal(memory.samples[3], torch.ones(2, 4, 4))
    assert torch.equal(memory.boxes[3], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    # Fill the memory; the lowest-weight non-initial sample is replaced and initial samples keep >= 25 %.
    for _ in range(10):
        memory.update(torch.full((1, 2, 4, 4), 2.0), torch.zeros(4), learning_rate=0.5)
        assert memory.weights.sum().item() == pytest.approx(1.0)
        assert memory.weights[:3].sum().item() >= 0.25 - 1e-6
    assert memory.num_stored == 5
    assert torch.equal(memory.samples[:3], init)  # first-frame samples are never replaced


def test_memory_needs_room_beyond_the_initial_samples():
    with pytest.raises(ValueError):
        SampleMemory(torch.zeros(5, 1, 2, 2), torch.zeros(5, 4), capacity=5, init_min_weight=0.25)
