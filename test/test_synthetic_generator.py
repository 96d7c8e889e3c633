"""Tests of the synthetic RGB-T scenario generator: specs, determinism and every attribute's effect."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rgbt_tracker_ros.data import synthetic
from rgbt_tracker_ros.data.synthetic import (
    ATTRIBUTES,
    BENCHMARK_SEED_BASE,
    ScenarioSpec,
    VALIDATION_SEED_BASE,
    benchmark_specs,
    generate_sequence,
    make_specs,
    parse_attribute_sets,
    plan_sequence,
    validation_specs,
    render_frame,
)
from rgbt_tracker_ros.errors import InputError

SIZE = dict(width=160, height=128)


def _spec(attributes=(), seed=7, frames=40, **kwargs) -> ScenarioSpec:
    return ScenarioSpec("t", seed, frames=frames, attributes=attributes, **{**SIZE, **kwargs})


def _frames(spec):
    return list(generate_sequence(spec))


def _centres(boxes):
    boxes = np.asarray(boxes, dtype=np.float64)
    return boxes[:, :2] + boxes[:, 2:] / 2


@pytest.fixture(scope="module")
def clear():
    return _frames(_spec())


# ---------------------------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(frames=1), "at least 2 frames"),
        (dict(width=32), "out of range"),
        (dict(height=5000), "out of range"),
        (dict(attributes=("fog",)), "unknown attribute 'fog'"),
        (dict(seed=-1), "seed must be >= 0"),
        (dict(fps=0.0), "fps"),
        (dict(name="a/b"), "sequence name"),
    ],
)
def test_spec_rejects_bad_values(kwargs, message):
    values = dict(name="t", seed=1, **SIZE)
    values.update(kwargs)
    with pytest.raises(InputError, match=message):
        ScenarioSpec(**values)


def test_spec_normalises_attributes_and_round_trips_dict():
    spec = _spec(("misalignment", "distractor", "misalignment", "clear"))
    assert spec.attributes == ("distractor", "misalignment")
    assert ScenarioSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InputError, match="unknown scenario fields"):
        ScenarioSpec.from_dict({**spec.to_dict(), "colour": 3})


def test_parse_attribute_sets():
    assert parse_attribute_sets("clear, distractor+fast_motion") == [(), ("distractor", "fast_motion")]
    assert parse_attribute_sets([("scale_change",), "camera_shake"]) == [("scale_change",), ("camera_shake",)]
    with pytest.raises(InputError, match="unknown attribute 'smoke'"):
        parse_attribute_sets("distractor,smoke")
    with pytest.raises(InputError, match="empty entry"):
        parse_attribute_sets("distractor,,fast_motion")


def test_make_specs_cycles_all_attributes_then_pairs():
    specs = make_specs(12, seed=5, frames=10, size=(96, 80))
    assert [s.seed for s in specs] == list(range(5, 17))
    assert [s.attributes for s in specs[:9]] == [(name,) for name in ATTRIBUTES]
    assert all(len(s.attributes) == 2 and s.attributes[0] in ATTRIBUTES for s in specs[9:])
    assert len({s.name for s in specs}) == 12 and specs[0].name == "synth000005_low_illumination"
    assert (specs[0].frames, specs[0].width, specs[0].height) == (10, 96, 80)
    chosen = make_specs(3, attributes="clear,distractor+fast_motion")
    assert [s.attributes for s in chosen] == [(), ("distractor", "fast_motion"), ()]


def test_make_specs_keeps_clear_of_benchmark_seeds():
    with pytest.raises(InputError, match="reserved for the benchmark"):
        make_specs(10, seed=BENCHMARK_SEED_BASE - 5)
    with pytest.raises(InputError, match="positive integer"):
        make_specs(0)


def test_benchmark_specs_are_fixed_disjoint_and_cover_every_attribute():
    specs = benchmark_specs()
    assert len(specs) == 18 and specs == benchmark_specs()
    assert [s.seed for s in specs] == list(range(BENCHMARK_SEED_BASE, BENCHMARK_SEED_BASE + 18))
    singles = {s.attributes for s in specs if len(s.attributes) <= 1}
    assert singles == {()} | {(name,) for name in ATTRIBUTES}
    assert sum(len(s.attributes) > 1 for s in specs) == 8
    assert len({s.name for s in specs}) == 18
    assert all((s.frames, s.width, s.height) == (100, 320, 256) for s in specs)


def test_validation_specs_repeat_the_test_attributes_with_their_own_seeds():
    test, validation = benchmark_specs(), validation_specs()
    assert [s.attributes for s in validation] == [s.attributes for s in test]
    assert [s.seed for s in validation] == list(range(VALIDATION_SEED_BASE, VALIDATION_SEED_BASE + 18))
    assert not {s.name for s in validation} & {s.name for s in test}
    assert all(s.name.startswith("val") for s in validation)


def test_larger_validation_sets_start_with_the_one_repeat_set():
    one, four = validation_specs(), validation_specs(repeats=4)
    assert four[:18] == one and len(four) == 72
    assert [s.seed for s in four] == list(range(VALIDATION_SEED_BASE, VALIDATION_SEED_BASE + 72))
    assert [s.attributes for s in four[18:36]] == [s.attributes for s in one]
    assert len({s.name for s in four}) == 72 and max(s.seed for s in validation_specs(repeats=100)) < 300_000
    drone = validation_specs("drone", repeats=2)
    assert drone[:24] == validation_specs("drone") and len({s.seed for s in drone}) == 48
    for bad in (0, 101, 2.0, True):
        with pytest.raises(InputError, match="validation repeats must be an integer in 1..100"):
            validation_specs(repeats=bad)


# ------------------------------------------------------------------------------ frames in general


def test_frames_follow_the_frame_pair_conventions(clear):
    assert len(clear) == 40
    for index, pair in enumerate(clear):
        pair.validate()
        assert pair.index == index
        assert pair.rgb.shape == (128, 160, 3) and pair.rgb.dtype == np.uint8
        assert pair.thermal.shape == (128, 160) and pair.thermal.dtype == np.uint16
        flags = dict(pair.attributes)
        assert flags.pop("family_basic") is True and set(flags) == set(ATTRIBUTES) and not any(flags.values())
        assert pair.gt_rgb.dtype == np.float64 and np.array_equal(pair.gt_rgb, pair.gt_thermal)
        x, y, w, h = pair.gt_rgb
        assert x >= 0 and y >= 0 and x + w <= 160 and y + h <= 128 and w >= 4 and h >= 4
    thermal = np.stack([p.thermal for p in clear]).astype(np.float64)
    assert 6000 < np.median(thermal) < 9000  # radiometric-like ambient counts


def test_target_is_warm_in_thermal(clear):
    plan = plan_sequence(_spec())
    assert 1000 <= plan.target.heat <= 2500
    pair = clear[10]
    x, y, w, h = pair.gt_rgb.astype(int)
    inside = pair.thermal[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4].astype(float).mean()
    world = plan.target_boxes[10]
    background = plan.background_thermal[world[1] : world[1] + world[3], world[0] : world[0] + world[2]]
    assert inside - background.mean() > 0.5 * plan.target.heat


def test_same_seed_gives_identical_frames_and_other_seed_differs(clear):
    again = _frames(_spec())
    for a, b in zip(clear, again):
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.thermal, b.thermal)
        assert np.array_equal(a.gt_rgb, b.gt_rgb) and a.stamp_rgb == b.stamp_rgb and a.attributes == b.attributes
    other = render_frame(plan_sequence(_spec(seed=8)), 0)
    assert not np.array_equal(other.rgb, clear[0].rgb)


def test_render_frame_is_order_independent_and_checks_index(clear):
    plan = plan_sequence(_spec())
    assert np.array_equal(render_frame(plan, 17).thermal, clear[17].thermal)
    with pytest.raises(InputError, match="outside 0..39"):
        render_frame(plan, 40)


def test_stamps_are_jittered_offset_microseconds(clear):
    rgb = np.array([p.stamp_rgb for p in clear])
    thermal = np.array([p.stamp_thermal for p in clear])
    period = 1 / 30
    assert np.all(np.diff(rgb) > 0.5 * period) and np.all(np.diff(thermal) > 0.5 * period)
    assert np.std(np.diff(rgb)) > 1e-5  # jittered, not a perfect clock
    offset = thermal - rgb
    assert np.all(np.abs(offset) < period / 2) and abs(np.mean(offset)) > 1e-3
    assert abs(rgb[0] - 1_700_000_000.0) < period
    plan = plan_sequence(_spec())
    assert np.all(plan.stamps_rgb_ns % 1000 == 0)
    assert [round(s * 1e6) * 1000 for s in rgb] == plan.stamps_rgb_ns.tolist()


# ------------------------------------------------------------------------------------ attributes


def test_low_illumination_darkens_and_adds_noise_to_rgb_only(clear):
    dark = _frames(_spec(("low_illumination",)))
    clear_rgb = np.stack([p.rgb for p in clear]).astype(np.float64)
    dark_rgb = np.stack([p.rgb for p in dark]).astype(np.float64)
    assert dark_rgb.mean() < 0.3 * clear_rgb.mean()
    plan = plan_sequence(_spec(("low_illumination",)))
    residual = dark_rgb - clear_rgb * plan.rgb_gain  # noise and desaturation remain
    assert residual.std() > 3.0
    assert all(np.array_equal(a.thermal, b.thermal) for a, b in zip(clear, dark))
    assert all(p.attributes["low_illumination"] for p in dark)


def test_thermal_crossover_removes_the_target_contrast_for_a_stretch():
    spec = _spec(("thermal_crossover",))
    plan = plan_sequence(spec)
    frames = _frames(spec)
    contrast = []
    for t, pair in enumerate(frames):
        x, y, w, h = pair.gt_thermal.astype(int)
        world = plan.target_boxes[t]
        background = plan.background_thermal[world[1] : world[1] + world[3], world[0] : world[0] + world[2]]
        contrast.append(pair.thermal[y : y + h, x : x + w].astype(float).mean() - background.mean())
    contrast = np.array(contrast)
    flagged = np.array([p.attributes["thermal_crossover"] for p in frames])
    assert 4 <= flagged.sum() <= 20
    normal = np.median(contrast[~flagged])
    assert normal > 400
    assert np.all(contrast[flagged] < 0.5 * normal)
    assert np.min(np.abs(contrast)) < 0.1 * normal  # as warm as the background at the bottom
    # RGB is untouched by the crossover
    assert np.array_equal(frames[5].rgb, render_frame(plan_sequence(_spec()), 5).rgb)


def test_full_occlusion_hides_the_target_in_both_modalities():
    spec = _spec(("full_occlusion",))
    plan = plan_sequence(spec)
    frames = _frames(spec)
    full = [t for t, p in enumerate(frames) if p.attributes["full_occlusion"]]
    assert len(full) >= 3 and np.all(np.diff(full) == 1)  # one contiguous stretch
    assert any(p.attributes["partial_occlusion"] for p in frames)  # entering/leaving the block
    (block,) = plan.occluders
    for t in full:
        pair = frames[t]
        assert pair.gt_rgb is not None  # the hidden target keeps its true box
        x, y, w, h = pair.gt_rgb.astype(int)
        bx, by = plan.target_boxes[t, :2] - block.box[:2]  # box inside the occluder's patch
        rgb_error = np.abs(pair.rgb[y : y + h, x : x + w] - block.rgb[by : by + h, bx : bx + w]).mean()
        thermal_expected = block.thermal[by : by + h, bx : bx + w] + plan.fixed_pattern[y : y + h, x : x + w]
        thermal_error = np.abs(pair.thermal[y : y + h, x : x + w] - thermal_expected).mean()
        assert rgb_error < 3.0  # only sensor noise (sigma 1.5) left of the target
        assert thermal_error < 25.0  # thermal noise sigma 18 vs a target heat >= 1000


def test_partial_occlusion_covers_part_of_the_target_only():
    plan = plan_sequence(_spec(("partial_occlusion",)))
    flagged = plan.flags["partial_occlusion"]
    assert flagged.sum() >= 2
    assert np.all(plan.occluded_fraction[flagged] >= 0.1) and plan.occluded_fraction.max() <= 0.5
    assert not plan.flags["full_occlusion"].any()
    (pole,) = plan.occluders
    across = 2 if pole.box[2] < pole.box[3] else 3  # a vertical pole is thin across the target's width
    assert pole.box[across] <= 0.35 * plan.target_boxes[:, across].min()


def test_distractor_is_similar_and_crosses_near_the_target():
    spec = _spec(("distractor",))
    plan = plan_sequence(spec)
    distance = np.linalg.norm(_centres(plan.distractor_boxes) - _centres(plan.target_boxes), axis=1)
    size = plan.target_boxes[:, 2:].max(axis=1)
    closest = int(np.argmin(distance / size))
    assert distance[closest] < 1.5 * size[closest]
    assert plan.flags["distractor"].sum() >= 3
    assert abs(plan.distractor.heat / plan.target.heat - 1) <= 0.15
    colour = lambda sprite: sprite.rgba[..., :3][sprite.rgba[..., 3] > 0.5].mean(axis=0)  # noqa: E731
    assert np.abs(colour(plan.distractor) - colour(plan.target)).max() < 40
    pair = render_frame(plan, closest)
    dx, dy, dw, dh = plan.distractor_boxes[closest] - np.r_[plan.origin(closest, thermal=True), 0, 0]
    centre = pair.thermal[dy + dh // 2 - 1 : dy + dh // 2 + 2, dx + dw // 2 - 1 : dx + dw // 2 + 2]
    assert centre.mean() - np.median(pair.thermal) > 0.4 * plan.distractor.heat  # warm in thermal too


def test_scale_change_is_at_least_twofold():
    frames = _frames(_spec(("scale_change",)))
    scale = np.sqrt([p.gt_rgb[2] * p.gt_rgb[3] for p in frames])
    assert scale.max() / scale.min() >= 2.0
    assert any(p.attributes["scale_change"] for p in frames) and not frames[0].attributes["scale_change"]


def test_fast_motion_moves_more_than_20_px_per_frame(clear):
    frames = _frames(_spec(("fast_motion",)))
    step = np.linalg.norm(np.diff(_centres([p.gt_rgb for p in frames]), axis=0), axis=1)
    calm = np.linalg.norm(np.diff(_centres([p.gt_rgb for p in clear]), axis=0), axis=1)
    flagged = np.array([p.attributes["fast_motion"] for p in frames[1:]])
    assert flagged.sum() >= 3 and np.all(step[flagged] > 20) and np.all(step[~flagged] <= 20)
    assert calm.max() < 5


def test_camera_shake_moves_the_whole_image(clear):
    shaken = _frames(_spec(("camera_shake",)))
    plan = plan_sequence(_spec(("camera_shake",)))
    offsets = np.array([c.gt_rgb[:2] - s.gt_rgb[:2] for c, s in zip(clear, shaken)]).astype(int)
    assert np.array_equal(offsets, plan.shake) and offsets.std(axis=0).min() >= 1.0
    compared = 0
    for clear_pair, pair, (dx, dy) in zip(clear, shaken, offsets):
        # away from the target, the shaken camera sees the clear background moved by the jitter
        left = 95 if _centres([clear_pair.gt_rgb])[0, 0] < 80 else 5
        a = clear_pair.rgb[30:90, left : left + 60].astype(float)
        b = pair.rgb[30 - dy : 90 - dy, left - dx : left + 60 - dx].astype(float)
        assert np.abs(a - b).mean() < 3.0
        compared += 1
    assert compared == 40


def test_misalignment_shifts_thermal_and_its_ground_truth(clear):
    shifted = _frames(_spec(("misalignment",)))
    plan = plan_sequence(_spec(("misalignment",)))
    shift = plan.misalignment
    assert np.abs(shift).sum() >= 2
    for clear_pair, pair in zip(clear, shifted):
        assert np.array_equal(pair.rgb, clear_pair.rgb)  # the visible camera is unchanged
        assert np.array_equal(pair.gt_rgb, clear_pair.gt_rgb)
        assert np.array_equal(pair.gt_thermal[:2], pair.gt_rgb[:2] - shift)
    dx, dy = shift
    a = clear[0].thermal[20:100, 20:140].astype(float)
    b = shifted[0].thermal[20 - dy : 100 - dy, 20 - dx : 140 - dx].astype(float)
    assert np.abs(a - b).mean() < 40  # same scene, different noise and fixed pattern
    assert np.abs(a - shifted[0].thermal[20:100, 20:140]).mean() > np.abs(a - b).mean()


def test_attributes_combine():
    spec = _spec(ATTRIBUTES, frames=60)
    frames = _frames(spec)
    for name in ATTRIBUTES:
        assert any(p.attributes[name] for p in frames), name
    assert dataclasses.replace(spec, attributes=()).attributes == ()
    assert synthetic.sequence_name("synth", 3, ()) == "synth000003_clear"
