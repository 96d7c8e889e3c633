"""Every protocol rule on tiny hand-computed cases (rgbt_tracker_ros.evaluation.protocols/sources)."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracker_ros.errors import InputError
from rgbt_tracker_ros.evaluation.protocols import (
    PROTOCOLS,
    aggregate,
    frame_errors,
    get_protocol,
    headline_scores,
    matlab_colon,
    overlaps,
    sequence_score,
)
from rgbt_tracker_ros.evaluation.sources import read_predictions

BOX = [10.0, 10.0, 10.0, 10.0]
FAR = [200.0, 200.0, 10.0, 10.0]
#: Success of a perfect frame: IoU 1 beats every threshold but the last (1 > 1 is false).
PERFECT_SUCCESS = 100.0 * 20 / 21


def one_sequence(protocol: str, predictions, gt, gt_infrared=None, predictions_infrared=None):
    """Frame errors and headline scores of one sequence (dual protocols: infrared GT = visible GT
    unless given)."""
    p = get_protocol(protocol)
    gt = np.asarray(gt, dtype=float)
    if p.dual_ground_truth and gt_infrared is None:
        gt_infrared = gt
    errors = frame_errors(
        p,
        np.asarray(predictions, dtype=float),
        gt,
        None if gt_infrared is None else np.asarray(gt_infrared, dtype=float),
        None if predictions_infrared is None else np.asarray(predictions_infrared, dtype=float),
    )
    return errors, headline_scores(p, aggregate(p, [sequence_score(p, "seq", errors)]))


def scores(protocol: str, predictions, gt, gt_infrared=None, predictions_infrared=None) -> dict[str, float]:
    """Headline scores of one sequence."""
    return one_sequence(protocol, predictions, gt, gt_infrared, predictions_infrared)[1]


def pooled_and_mean(protocol: str, sequences) -> dict[str, float]:
    p = get_protocol(protocol)
    results = []
    for name, (predictions, gt) in sequences.items():
        gt = np.asarray(gt, dtype=float)
        errors = frame_errors(p, np.asarray(predictions, dtype=float), gt, gt)
        results.append(sequence_score(p, name, errors))
    return headline_scores(p, aggregate(p, results))


def test_matlab_colon_matches_matlab_elements():
    grid = matlab_colon(0, 0.05, 1)
    assert len(grid) == 21 and grid[0] == 0.0 and grid[-1] == 1.0 and grid[10] == 0.5
    assert grid[6] == 6 * 0.05  # first half: start + k*step
    assert grid[13] == 1 - 7 * 0.05 and grid[13] != 13 * 0.05  # second half: end - k*step
    assert len(matlab_colon(0, 0.02, 1)) == 51 and len(matlab_colon(0, 0.5, 25)) == 51


def test_overlap_threshold_tie_falls_as_in_matlab():
    # IoU exactly 13/20 = 0.65 beats MATLAB's 0.6499999999999999 (numpy.linspace gives 0.65 -> miss).
    result = scores("rgbt234", [[0, 0, 20, 1]], [[0, 0, 13, 1]])
    assert result["MSR"] == pytest.approx(100.0 * 14 / 21)


def test_inclusive_iou_hand_values():
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    gt = np.array([[5, 0, 10, 10], [10, 0, 10, 10], [9, 9, 10, 10], [2.5, 2.5, 5, 5]], dtype=float)
    # Intersection sides min(x+w-1) - max(x) + 1; areas w*h.
    assert overlaps(pred, gt) == pytest.approx([50 / 150, 0.0, 1 / 199, 25 / 100])


def test_first_frame_replaced_by_ground_truth_only_where_the_toolkit_does():
    predictions = [FAR, BOX, BOX]
    gt = [BOX, BOX, BOX]
    assert scores("lasher", predictions, gt)["PR"] == pytest.approx(100.0)
    assert scores("otb", predictions, gt)["PR"] == pytest.approx(100.0)
    assert scores("rgbt234", predictions, gt)["MPR"] == pytest.approx(200.0 / 3)
    assert scores("gtot", predictions, gt)["MPR"] == pytest.approx(200.0 / 3)


def test_invalid_ground_truth_lasher_hit_for_precision_miss_for_success():
    gt = [BOX, [0, 0, 0, 0], BOX, BOX]
    predictions = [BOX, BOX, FAR, FAR]
    lasher = scores("lasher", predictions, gt)
    assert lasher["PR"] == pytest.approx(50.0)  # frames 0 (exact) and 1 (error -1)
    assert lasher["NPR"] == pytest.approx(50.0)
    assert lasher["SR"] == pytest.approx(PERFECT_SUCCESS / 4)  # overlap -1 never beats a threshold
    otb = scores("otb", predictions, gt)
    assert otb["PR"] == pytest.approx(25.0)  # error +Inf: a miss
    assert otb["NPR"] == pytest.approx(50.0)  # normalised error -1: a hit
    assert otb["SR"] == pytest.approx(PERFECT_SUCCESS / 4)


def test_invalid_ground_truth_definitions_differ():
    gt = [BOX, [0, 5, 10, 10]]  # x = 0: invalid for LasHeR (any value <= 0), valid for pytracking
    assert scores("lasher", gt, gt)["SR"] == pytest.approx(PERFECT_SUCCESS / 2)
    assert scores("otb", gt, gt)["SR"] == pytest.approx(PERFECT_SUCCESS)


def test_nan_zero_negative_predictions_take_previous_box():
    gt = [BOX] * 5
    predictions = [BOX, BOX, [np.nan] * 4, [50, 50, 0, 10], [50, 50, -5, 10]]
    assert scores("lasher", predictions, gt) == pytest.approx({"PR": 100.0, "NPR": 100.0, "SR": PERFECT_SUCCESS})
    assert scores("otb", predictions, gt)["PR"] == pytest.approx(100.0)
    # The RGBT toolkits repair nothing: NaN, zero and negative boxes are misses.
    rgbt = scores("rgbt234", predictions, gt)
    assert rgbt == pytest.approx({"MPR": 40.0, "MSR": 2 * PERFECT_SUCCESS / 5})


def test_repair_copies_the_raw_previous_box_before_first_frame_replacement():
    # LasHeR repairs frame 2 from frame 1's raw prediction, then puts the ground truth in frame 1.
    assert scores("lasher", [FAR, [np.nan] * 4, BOX], [BOX] * 3)["PR"] == pytest.approx(200.0 / 3)


def test_result_one_row_long_is_cut_to_the_ground_truth_by_every_protocol():
    gt = [BOX] * 4
    long = [BOX, BOX, FAR, BOX, FAR]  # row 5 has no frame; scoring rows 2-5 instead would give 50 %
    for protocol, name in (("lasher", "PR"), ("otb", "PR"), ("rgbt234", "MPR"), ("rgbt210", "MPR")):
        errors, result = one_sequence(protocol, long, gt)
        assert len(errors.overlap) == 4 and result[name] == pytest.approx(75.0), protocol  # 3 of frames 1-4
        assert errors.adjustment == "result has 1 row more than the ground truth (4 frames): row 5 ignored"
    errors, result = one_sequence("gtot", long + [FAR], gt)
    assert result["MPR"] == pytest.approx(75.0)
    assert errors.adjustment == "result has 2 rows more than the ground truth (4 frames): rows 5-6 ignored"


def test_result_one_row_short_scored_as_each_toolkit_scores_it():
    gt = [BOX] * 4
    short = [BOX, BOX, FAR]
    # RGBT234/RGBT210: the frame without a result is not scored: 2 hits of 3 frames (padding: 2 of 4).
    errors, result = one_sequence("rgbt234", short, gt)
    assert result == pytest.approx({"MPR": 200.0 / 3, "MSR": 2 / 3 * PERFECT_SUCCESS})
    assert len(errors.overlap) == 3
    assert errors.adjustment == "result has 1 row fewer than the ground truth (4 frames): frame 4 not scored"
    assert one_sequence("rgbt210", short, gt)[1]["MPR"] == pytest.approx(200.0 / 3)
    # pytracking appends a zero box for frame 4, a miss: 2 hits of 4 frames.
    errors, result = one_sequence("otb", short, gt)
    assert result["PR"] == pytest.approx(50.0) and len(errors.overlap) == 4
    assert errors.adjustment == "result has 1 row fewer than the ground truth (4 frames): zero boxes for frame 4"
    # The LasHeR toolkit cannot score it: refused, naming the file.
    with pytest.raises(InputError, match=r"^seq\.txt: result has 1 row fewer than the ground truth \(4 frames\); "
                                         r"the lasher toolkit cannot score"):
        frame_errors(get_protocol("lasher"), np.asarray(short, dtype=float), np.asarray(gt, dtype=float),
                     source="seq.txt")
    assert one_sequence("lasher", [BOX] * 4, gt)[0].adjustment is None


def test_gtot_pools_only_the_frames_a_short_result_covers():
    p = get_protocol("gtot")
    scores_ = []
    for name, predictions, frames in (("short", [BOX, BOX, FAR], 4), ("exact", [BOX, BOX], 2)):
        gt = np.asarray([BOX] * frames, dtype=float)
        scores_.append(sequence_score(p, name, frame_errors(p, np.asarray(predictions, dtype=float), gt, gt)))
    assert [s.frames for s in scores_] == [3, 2]
    assert scores_[0].adjustment.endswith("frame 4 not scored") and scores_[1].adjustment is None
    # 4 hits pooled over the 5 scored frames (over all 6 ground-truth frames it would be 66.7).
    assert headline_scores(p, aggregate(p, scores_))["MPR"] == pytest.approx(80.0)


def test_precision_thresholds_gtot_strict_5px_rgbt_inclusive_20px():
    gt = [BOX]
    assert scores("gtot", [[15, 10, 10, 10]], gt)["MPR"] == pytest.approx(0.0)  # exactly 5 px: not < 5
    assert scores("gtot", [[14.9, 10, 10, 10]], gt)["MPR"] == pytest.approx(100.0)
    assert scores("rgbt234", [[30, 10, 10, 10]], gt)["MPR"] == pytest.approx(100.0)  # exactly 20 px: <= 20
    assert scores("rgbt234", [[30.5, 10, 10, 10]], gt)["MPR"] == pytest.approx(0.0)
    assert scores("lasher", [BOX, [30, 10, 10, 10]], [BOX, BOX])["PR"] == pytest.approx(100.0)


def test_normalized_precision_divides_by_ground_truth_size():
    small = [[10, 10, 40, 40]] * 2  # 10 px off: a PR hit, but 10 / 40 = 0.25 > 0.20 is an NPR miss
    result = scores("lasher", [small[0], [20, 10, 40, 40]], small)
    assert result["PR"] == pytest.approx(100.0) and result["NPR"] == pytest.approx(50.0)
    large = [[10, 10, 200, 100]] * 2  # 30 px off: a PR miss, but 30 / 200 = 0.15 is an NPR hit
    result = scores("lasher", [large[0], [40, 10, 200, 100]], large)
    assert result["PR"] == pytest.approx(50.0) and result["NPR"] == pytest.approx(100.0)


def test_gtot_pools_frames_rgbt234_averages_sequences():
    sequences = {"short": ([BOX], [BOX]), "long": ([FAR] * 3, [BOX] * 3)}
    assert pooled_and_mean("gtot", sequences)["MPR"] == pytest.approx(25.0)
    assert pooled_and_mean("rgbt234", sequences)["MPR"] == pytest.approx(50.0)


def test_gtot_success_is_trapezoid_area_on_002_grid():
    assert scores("gtot", [BOX], [BOX])["MSR"] == pytest.approx(99.0)  # 0.02 * (49 + 0.5)
    assert scores("rgbt234", [BOX], [BOX])["MSR"] == pytest.approx(PERFECT_SUCCESS)


def test_dual_ground_truth_takes_best_modality():
    visible, infrared = [BOX], [[40, 10, 10, 10]]
    assert scores("rgbt234", [[40, 10, 10, 10]], visible, infrared) == pytest.approx(
        {"MPR": 100.0, "MSR": PERFECT_SUCCESS}
    )
    # Two boxes per frame: each against its own modality.
    assert scores("gtot", [[200, 200, 10, 10]], visible, infrared, [[40, 10, 10, 10]])["MPR"] == pytest.approx(100.0)
    # MATLAB min/max skip NaN: a NaN against one modality does not hide the other.
    assert scores("rgbt234", [[np.nan] * 4], visible, infrared, [[40, 10, 10, 10]])["MPR"] == pytest.approx(100.0)


def test_read_predictions_formats(tmp_path):
    four = tmp_path / "four.txt"
    four.write_text("1,2,3,4\n5\t6\t7\t8\n9 10 11 12\n")
    assert read_predictions(four).visible.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    corners = tmp_path / "corners.txt"
    corners.write_text("209 155 309.0 155 309.0 218.0 209 218.0\n2.5 3.5 12.4 3.5 12.4 9.5 2.5 9.5\n")
    parsed = read_predictions(corners)
    assert parsed.corners and parsed.infrared is None
    # corner2rect.m: round([x1, y1, x2 - x1, y3 - y1]) with MATLAB rounding (2.5 -> 3).
    assert parsed.visible.tolist() == [[209, 155, 100, 63], [3, 4, 10, 6]]
    two_boxes = tmp_path / "two.txt"
    two_boxes.write_text("10,10,10,10,40,10,10,10\n")
    parsed = read_predictions(two_boxes)
    assert parsed.visible.tolist() == [[10, 10, 10, 10]] and parsed.infrared.tolist() == [[40, 10, 10, 10]]
    five = tmp_path / "five.txt"
    five.write_text("1 2 3 4 5\n")
    with pytest.raises(InputError, match="4 \\(x y w h\\) or 8"):
        read_predictions(five)


def test_protocol_table_is_data():
    assert set(PROTOCOLS) == {"lasher", "otb", "rgbt234", "rgbt210", "gtot"}
    assert PROTOCOLS["lasher"].score_names == ("PR", "NPR", "SR")
    assert PROTOCOLS["gtot"].score_names == ("MPR", "MSR")
    with pytest.raises(InputError, match="unknown protocol 'vot'"):
        get_protocol("vot")
