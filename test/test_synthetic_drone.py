"""Tests of the drone-view scenario family: specs and fixed sets, full-HD frames, determinism, target
size, look-alikes crossing the target, misregistration, night lighting and the per-frame flags."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracker_ros.data.synthetic import (
    ATTRIBUTES,
    BENCHMARK_SEED_BASE,
    DRONE_LOOKALIKES,
    MAX_LOOKALIKES,
    ScenarioSpec,
    benchmark_specs,
    drone_attribute_sets,
    generate_sequence,
    make_specs,
    plan_sequence,
    render_frame,
    validation_specs,
)
from rgbt_tracker_ros.data.synthetic_drone import DRONE_FLAGS, misregistration, target_size_range
from rgbt_tracker_ros.errors import InputError

SMALL = dict(width=320, height=180)


def _spec(attributes=(), seed=11, frames=40, lookalikes=12, **kwargs) -> ScenarioSpec:
    return ScenarioSpec(
        "d", seed, frames=frames, attributes=attributes, family="drone", lookalikes=lookalikes, **{**SMALL, **kwargs}
    )


def _centres(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return boxes[..., :2] + boxes[..., 2:] / 2


@pytest.fixture(scope="module")
def day():
    return list(generate_sequence(_spec()))


# ---------------------------------------------------------------------------------------- specs


def test_spec_has_a_family_vocabulary_and_a_lookalike_count():
    spec = _spec(("night", "pedestrians", "clear"))
    assert spec.attributes == ("pedestrians", "night") and spec.family == "drone"
    assert ScenarioSpec("d", 1, family="drone").lookalikes == DRONE_LOOKALIKES
    assert ScenarioSpec("b", 1).lookalikes == 0 and ScenarioSpec("b", 1).family == "basic"
    assert ScenarioSpec.from_dict(spec.to_dict()) == spec
    old = {key: value for key, value in ScenarioSpec("b", 1).to_dict().items() if key not in ("family", "lookalikes")}
    assert ScenarioSpec.from_dict(old) == ScenarioSpec("b", 1)  # sequence.json written before families
    cases = [
        (dict(family="aerial"), "unknown scenario family 'aerial'"),
        (dict(family="drone", attributes=("distractor",)), "unknown attribute 'distractor' of the drone family"),
        (dict(attributes=("night",)), "unknown attribute 'night'; choose from low_illumination"),
        (dict(lookalikes=3), "lookalikes is for drone scenes"),
        (dict(family="drone", lookalikes=0), "lookalikes must be an integer in 1..100"),
        (dict(family="drone", lookalikes=MAX_LOOKALIKES + 1), "lookalikes must be"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=message):
            ScenarioSpec("x", 1, **kwargs)


def test_make_specs_cycles_every_drone_combination_with_counts_from_the_seed():
    specs = make_specs(10, seed=3, family="drone")
    assert [s.attributes for s in specs] == drone_attribute_sets() + drone_attribute_sets()[:2]
    assert len(set(drone_attribute_sets())) == 8
    assert all((s.frames, s.width, s.height, s.family) == (300, 1920, 1080, "drone") for s in specs)
    for spec in specs:
        low, high = (10, 60) if "pedestrians" in spec.attributes else (8, 40)
        assert low <= spec.lookalikes <= high
        assert spec.name == f"drone{spec.seed:06d}_{'-'.join(spec.attributes) or 'clear'}_{spec.lookalikes}lookalikes"
    assert specs == make_specs(10, seed=3, family="drone")
    chosen = make_specs(2, frames=5, size=(320, 180), attributes="night+misalignment", family="drone")
    assert [s.attributes for s in chosen] == [("night", "misalignment")] * 2 and chosen[0].width == 320
    with pytest.raises(InputError, match="reserved for the benchmark"):
        make_specs(3, seed=BENCHMARK_SEED_BASE - 2, family="drone")
    with pytest.raises(InputError, match="unknown attribute 'fast_motion' of the drone family"):
        make_specs(1, attributes="fast_motion", family="drone")


def test_fixed_drone_sets_are_full_hd_cover_every_combination_and_use_their_own_seeds():
    test, validation = benchmark_specs("drone"), validation_specs("drone")
    assert test == benchmark_specs("drone") and benchmark_specs() == benchmark_specs("basic")
    assert [s.seed for s in test] == list(range(300_000, 300_008))
    assert [s.seed for s in validation] == list(range(400_000, 400_008))
    assert sorted(s.attributes for s in test) == sorted(drone_attribute_sets())
    assert [(s.attributes, s.lookalikes) for s in validation] == [(s.attributes, s.lookalikes) for s in test]
    assert all((s.family, s.frames, s.width, s.height) == ("drone", 300, 1920, 1080) for s in test + validation)
    assert all(15 <= s.lookalikes <= 50 for s in test)
    assert all(s.name.startswith("dronebench") for s in test) and all(s.name.startswith("droneval") for s in validation)
    seeds = [
        {s.seed for s in test},
        {s.seed for s in validation},
        {s.seed for s in benchmark_specs()},
        {s.seed for s in validation_specs()},
        set(range(BENCHMARK_SEED_BASE)),  # every training seed of every family
    ]
    assert sum(len(group) for group in seeds) == len(set().union(*seeds))  # pairwise disjoint
    names = [s.name for s in test + validation + benchmark_specs() + validation_specs()]
    assert len(set(names)) == len(names)


# ------------------------------------------------------------------------------------------ frames


@pytest.mark.parametrize("attributes, seed", [((), 1), (("pedestrians",), 2)])
def test_full_hd_frame_pair_has_the_right_shapes_types_and_target_size(attributes, seed):
    spec = ScenarioSpec("hd", seed, frames=2, family="drone", attributes=attributes, lookalikes=20,
                        width=1920, height=1080)
    pair = render_frame(plan_sequence(spec), 1)
    pair.validate()
    assert pair.rgb.shape == (1080, 1920, 3) and pair.rgb.dtype == np.uint8
    assert pair.thermal.shape == (1080, 1920) and pair.thermal.dtype == np.uint16
    assert 6000 < np.median(pair.thermal) < 10000
    assert target_size_range(1920, 1080) == (20.0, 100.0)
    x, y, w, h = pair.gt_rgb
    assert 20 <= max(w, h) <= 100 and min(w, h) >= 4
    assert x >= 0 and y >= 0 and x + w <= 1920 and y + h <= 1080


def test_target_size_scales_with_the_short_side_and_stays_in_range():
    assert target_size_range(3840, 2160) == (40.0, 200.0)
    low, high = target_size_range(320, 180)
    assert (low, round(high, 2)) == (10.0, 16.67)
    for seed in range(4):
        for attributes in ((), ("pedestrians",)):
            boxes = plan_sequence(_spec(attributes, seed=seed, frames=2, lookalikes=3)).target_boxes
            assert np.all((boxes[:, 2:].max(axis=1) >= low) & (boxes[:, 2:].max(axis=1) <= high))


def test_same_seed_gives_identical_frames_and_other_seed_differs(day):
    again = list(generate_sequence(_spec()))
    for a, b in zip(day, again):
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.thermal, b.thermal)
        assert np.array_equal(a.gt_rgb, b.gt_rgb) and np.array_equal(a.gt_thermal, b.gt_thermal)
        assert (a.stamp_rgb, a.stamp_thermal, a.attributes) == (b.stamp_rgb, b.stamp_thermal, b.attributes)
    assert np.array_equal(render_frame(plan_sequence(_spec()), 23).rgb, day[23].rgb)  # order-independent
    other = render_frame(plan_sequence(_spec(seed=12)), 0)
    assert not np.array_equal(other.rgb, day[0].rgb)
    with pytest.raises(InputError, match="outside 0..39"):
        render_frame(plan_sequence(_spec(frames=40)), 40)


def test_stamps_flags_and_family_flag(day):
    for pair in day:
        assert set(pair.attributes) == {*ATTRIBUTES, *DRONE_FLAGS, "family_drone"}
        assert pair.attributes["family_drone"] and pair.attributes["camera_shake"]
        for name in ("night", "pedestrians", "low_illumination", "misalignment", "full_occlusion",
                     "partial_occlusion", "thermal_crossover"):
            assert not pair.attributes[name]
    assert np.all(np.diff([p.stamp_rgb for p in day]) > 0.5 / 30)
    night = render_frame(plan_sequence(_spec(("pedestrians", "night", "misalignment"), frames=3)), 2)
    assert all(night.attributes[name] for name in ("night", "low_illumination", "misalignment", "pedestrians"))


# ------------------------------------------------------------------------------------ look-alikes


@pytest.mark.parametrize("attributes", [(), ("pedestrians",)])
def test_lookalikes_are_seen_similar_and_one_crosses_the_target(attributes):
    spec = _spec(attributes, seed=5, frames=60, lookalikes=15)
    plan = plan_sequence(spec)
    target, others = plan.target_boxes, plan.lookalike_boxes
    assert others.shape == (15, 60, 4)
    camera = plan.camera
    in_view = (
        (others[..., 0] + others[..., 2] > camera[:, 0]) & (others[..., 0] < camera[:, 0] + spec.width)
        & (others[..., 1] + others[..., 3] > camera[:, 1]) & (others[..., 1] < camera[:, 1] + spec.height)
    )
    assert in_view.any(axis=1).all()  # every look-alike is seen at some time
    size = target[0, 2:].max()
    assert np.all((others[..., 2:].max(axis=2) >= 0.7 * size) & (others[..., 2:].max(axis=2) <= 1.4 * size))
    offset = _centres(others) - _centres(target)
    normal = np.array([-plan.direction[1], plan.direction[0]])
    along, across = offset @ plan.direction, np.abs(offset @ normal)
    crossings = [
        k for k in range(len(others))
        for t in range(59)
        if along[k, t] * along[k, t + 1] <= 0 and across[k, t] < 2 * size and in_view[k, t]
    ]
    assert crossings  # some look-alike moving the same way passes the target, close beside it
    assert np.all(np.abs(np.diff(np.sign(along[crossings[0]]))) <= 2)
    assert plan.flags["distractor"].sum() >= 3
    directions = np.diff(_centres(others), axis=1).sum(axis=1) @ plan.direction
    assert np.all(directions > 0)  # all move the same general way


def test_too_many_lookalikes_or_frames_are_refused():
    with pytest.raises(InputError, match="do not fit on 6 lanes in a 96x64 view"):
        plan_sequence(_spec(width=96, height=64, frames=10, lookalikes=100))
    with pytest.raises(InputError, match="use fewer frames"):
        plan_sequence(ScenarioSpec("long", 1, frames=20_000, width=1920, height=1080, family="drone"))


# --------------------------------------------------------------------------------- misregistration


def test_misregistration_shifts_thermal_and_its_ground_truth_by_the_recorded_offset(day):
    spec = _spec(("misalignment",))
    plan = plan_sequence(spec)
    shift = plan.misalignment
    assert 1 <= np.abs(shift).max() and np.linalg.norm(shift) <= 6 * 320 / 1080 + 2.5
    assert np.array_equal(plan_sequence(_spec()).misalignment, [0, 0])
    shifted = list(generate_sequence(spec))
    dx, dy = shift
    for registered, pair in zip(day, shifted):
        assert np.array_equal(pair.rgb, registered.rgb) and np.array_equal(pair.gt_rgb, registered.gt_rgb)
        assert np.array_equal(pair.gt_thermal[:2], pair.gt_rgb[:2] - shift)
        a = registered.thermal[20:160, 20:300].astype(float)
        b = pair.thermal[20 - dy : 160 - dy, 20 - dx : 300 - dx].astype(float)
        assert np.abs(a - b).mean() < 40  # the same scene, up to noise
        assert np.abs(a - pair.thermal[20:160, 20:300]).mean() > np.abs(a - b).mean()


def test_full_hd_misregistration_is_a_few_pixels():
    fixed = benchmark_specs("drone") + validation_specs("drone")
    for spec in fixed + make_specs(40, family="drone", attributes="misalignment"):
        shift = misregistration(spec)
        if "misalignment" in spec.attributes:
            assert 1.4 <= np.linalg.norm(shift) <= 6.8  # 2-6 px, rounded to whole pixels
        else:
            assert not shift.any()
    assert sum("misalignment" in spec.attributes for spec in fixed) == 8


# ----------------------------------------------------------------------------------------- night


@pytest.mark.parametrize("scene", [(), ("pedestrians",)])
def test_night_saturates_rgb_while_targets_stay_warm_in_thermal(scene):
    day_plan = plan_sequence(_spec(scene, seed=8, frames=10))
    night_plan = plan_sequence(_spec((*scene, "night"), seed=8, frames=10))
    assert np.array_equal(day_plan.target_boxes, night_plan.target_boxes)  # the same scene and traffic
    contrast, saturated, day_saturated, near_target = [], 0, 0, 0
    for index in range(10):
        night, daylight = render_frame(night_plan, index), render_frame(day_plan, index)
        assert night.rgb.mean() < 0.5 * daylight.rgb.mean()
        full = (night.rgb == 255).all(axis=2)
        saturated += full.sum()
        day_saturated += (daylight.rgb == 255).all(axis=2).sum()
        x, y, w, h = night.gt_rgb.astype(int)
        reach = max(w, h)
        near_target += full[max(y - reach, 0) : y + h + reach, max(x - reach, 0) : x + w + reach].sum()
        world = night_plan.target_boxes[index]
        ground = night_plan.canvas_thermal[world[1] : world[1] + world[3], world[0] : world[0] + world[2]]
        tx, ty, tw, th = night.gt_thermal.astype(int)
        contrast.append(night.thermal[ty : ty + th, tx : tx + tw].astype(float).mean() - ground.mean())
    assert saturated > 20 * max(day_saturated, 1)  # lamps (and headlights) blow out the RGB image
    if not scene:
        assert near_target > 0  # the target's own and its neighbours' headlights
    assert min(contrast) > 300  # engines, bodies and people stay warm against the ground
