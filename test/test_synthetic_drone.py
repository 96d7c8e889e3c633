"""Tests of the drone-view scenario family: specs and fixed sets, full-HD frames, determinism, target
size, look-alikes crossing the target, misregistration, night lighting, the per-frame flags, and the
difficulty factors (late panning, jerks, occluders, twins, stops, turns, zoom, glare)."""
from __future__ import annotations

import dataclasses

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
from rgbt_tracker_ros.data.synthetic_drone import (
    CANOPY_M,
    DRIFT_BOUND,
    DRIFT_PX,
    DRONE_FLAGS,
    GLARE,
    JERK_PX,
    LANE_WIDTH_M,
    LAG_S,
    OVERPASS_M,
    STOP_HOLD_S,
    STOP_RAMP_S,
    TURN_DEG,
    TURN_STEP,
    ZOOM_IN,
    ZOOM_OUT,
    DroneDifficulty,
    draw_difficulty,
    misregistration,
    plan_drone_sequence,
    target_size_range,
)
from rgbt_tracker_ros.errors import InputError

SMALL = dict(width=320, height=180)


def _spec(attributes=(), seed=11, frames=40, lookalikes=12, **kwargs) -> ScenarioSpec:
    return ScenarioSpec(
        "d", seed, frames=frames, attributes=attributes, family="drone", lookalikes=lookalikes, **{**SMALL, **kwargs}
    )


def _centres(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return boxes[..., :2] + boxes[..., 2:] / 2


def _plan(attributes=(), difficulty=None, seed=11, frames=40, lookalikes=12, **kwargs):
    """A drone plan with the given difficulty (an easy sequence when ``None``)."""
    spec = _spec(attributes, seed=seed, frames=frames, lookalikes=lookalikes, **kwargs)
    return plan_drone_sequence(spec, DroneDifficulty() if difficulty is None else difficulty)


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
    assert [s.seed for s in test] == list(range(300_000, 300_024))
    assert [s.seed for s in validation] == list(range(400_000, 400_024))
    assert sorted(s.attributes for s in test) == sorted(drone_attribute_sets() * 3)
    assert sorted(s.attributes for s in test[:8]) == sorted(drone_attribute_sets())  # each round has all eight
    assert [(s.attributes, s.lookalikes) for s in validation] == [(s.attributes, s.lookalikes) for s in test]
    assert all((s.family, s.frames, s.width, s.height) == ("drone", 300, 1920, 1080) for s in test + validation)
    assert all(15 <= s.lookalikes <= 50 for s in test)
    for attributes in drone_attribute_sets():  # three times each, with both few and many look-alikes
        counts = sorted(s.lookalikes for s in test if s.attributes == attributes)
        few, many = (20, 50) if "pedestrians" in attributes else (15, 35)
        assert len(counts) == 3 and counts[0] == few and counts[-1] == many
    assert [s.name for s in test[:8]] == [  # the set's first version, unchanged
        "dronebench300000_clear_15lookalikes",
        "dronebench300001_night_35lookalikes",
        "dronebench300002_misalignment_35lookalikes",
        "dronebench300003_night-misalignment_15lookalikes",
        "dronebench300004_pedestrians_20lookalikes",
        "dronebench300005_pedestrians-night_50lookalikes",
        "dronebench300006_pedestrians-misalignment_50lookalikes",
        "dronebench300007_pedestrians-night-misalignment_20lookalikes",
    ]
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
        for name in ("night", "pedestrians", "low_illumination", "misalignment", "thermal_crossover"):
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
    views = [plan.view(t) for t in range(60)]
    low = np.array([corner for corner, _ in views])
    high = low + np.array(spec.size) / np.array([zoom for _, zoom in views])[:, None]
    in_view = (
        (others[..., 0] + others[..., 2] > low[:, 0]) & (others[..., 0] < high[:, 0])
        & (others[..., 1] + others[..., 3] > low[:, 1]) & (others[..., 1] < high[:, 1])
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
        assert np.allclose(pair.gt_thermal[:2], pair.gt_rgb[:2] - shift)
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
    assert sum("misalignment" in spec.attributes for spec in fixed) == 24


# ----------------------------------------------------------------------------------------- night


@pytest.mark.parametrize("scene", [(), ("pedestrians",)])
def test_night_saturates_rgb_while_targets_stay_warm_in_thermal(scene):
    day_plan = _plan(scene, seed=8, frames=10)
    night_plan = _plan((*scene, "night"), seed=8, frames=10)
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


# ------------------------------------------------------------------------------------- difficulty


def test_difficulty_is_drawn_from_the_seed_within_its_ranges():
    specs = make_specs(80, family="drone") + benchmark_specs("drone") + validation_specs("drone")
    drawn = [draw_difficulty(spec) for spec in specs]
    assert drawn == [draw_difficulty(spec) for spec in specs]  # deterministic
    for spec, factors in zip(specs, drawn):
        walkers, frames = "pedestrians" in spec.attributes, spec.frames
        assert LAG_S[0] <= factors.lag_s <= LAG_S[1] and DRIFT_PX[0] <= factors.drift_px <= DRIFT_PX[1]
        assert DRIFT_BOUND[0] <= factors.drift_bound <= DRIFT_BOUND[1] and len(factors.jerks) <= 3
        assert all(JERK_PX[0] - 1e-9 <= np.hypot(dx, dy) <= JERK_PX[1] + 1e-9 for _, dx, dy in factors.jerks)
        size_range = CANOPY_M if walkers else OVERPASS_M
        assert size_range[0] <= factors.occluder_m <= size_range[1]
        assert not factors.twin or factors.crossing == factors.occlusion
        assert (factors.glare == 1.0) == ("night" not in spec.attributes) and factors.glare <= GLARE[1]
        busy = [factors.crossing] + ([factors.occlusion] if factors.occlusion is not None else [])
        guard = 1.5 * spec.fps / (frames - 1)
        if factors.stop is not None:
            start, hold = factors.stop
            assert STOP_HOLD_S[0] <= hold <= STOP_HOLD_S[1]
            end = start + (hold + 2 * STOP_RAMP_S) * spec.fps / (frames - 1)
            assert all(moment < start - guard or moment > end + guard for moment in busy)
        if factors.turn is not None:
            assert walkers and TURN_DEG[0] <= np.degrees(abs(factors.turn[1])) <= TURN_DEG[1]
            assert all(abs(moment - factors.turn[0]) > guard for moment in busy)
        if factors.zoom is not None:
            factor = factors.zoom[2]
            assert ZOOM_OUT[0] <= factor <= ZOOM_OUT[1] or ZOOM_IN[0] <= factor <= ZOOM_IN[1]
    for name in ("occlusion", "stop", "zoom"):  # each factor in some sequences, not in all
        assert 0.2 < np.mean([getattr(factors, name) is not None for factors in drawn]) < 0.9
    assert 0.2 < np.mean([factors.twin for factors in drawn]) < 0.6
    assert any(factors.turn is not None for factors in drawn) and any(not factors.jerks for factors in drawn)
    night = ScenarioSpec("n", 7, attributes=("night", "misalignment"), family="drone")
    day_factors, night_factors = draw_difficulty(ScenarioSpec("d", 7, family="drone")), draw_difficulty(night)
    assert night_factors.glare > 1.0 and day_factors == dataclasses.replace(night_factors, glare=1.0)


def test_plans_are_deterministic_and_keep_the_target_in_view():
    for seed in range(12):
        attributes = ("pedestrians",) if seed % 2 else ()
        plan = plan_sequence(_spec(attributes, seed=seed, frames=150, lookalikes=6))
        again = plan_sequence(_spec(attributes, seed=seed, frames=150, lookalikes=6))
        assert np.array_equal(plan.camera, again.camera) and np.array_equal(plan.zoom, again.zoom)
        assert np.array_equal(plan.lookalike_boxes, again.lookalike_boxes)
        boxes = np.array([plan.image_box(t) for t in range(150)])
        unclipped = np.array([
            np.r_[(plan.target_boxes[t, :2] - plan.view(t)[0]) * plan.zoom[t], plan.target_boxes[t, 2:] * plan.zoom[t]]
            for t in range(150)
        ])
        assert np.allclose(boxes, unclipped)  # never cut by the image border


def _image_centre(plan, index: int, thermal: bool = False) -> np.ndarray:
    box = plan.image_box(index, thermal)
    return box[:2] + box[2:] / 2


def test_a_jerk_moves_the_target_across_the_image_by_its_size_and_flags_fast_motion():
    jerk = DroneDifficulty(jerks=((0.5, 60.0, 0.0),))
    size = dict(width=1920, height=1080)
    calm, jerked = _plan(frames=60, lookalikes=4, **size), _plan(difficulty=jerk, frames=60, lookalikes=4, **size)
    at = round(0.5 * 59)
    moved = np.array([_image_centre(jerked, t) - _image_centre(calm, t) for t in range(60)])
    assert np.allclose(moved[: at - 1], 0, atol=1.0)  # the same before the jerk
    assert abs(moved[at + 1, 0] + 60) <= 1.0 and abs(moved[at + 1, 1]) <= 1.0  # the camera moved 60 px
    recovery = moved[at + 1 + 18, 0]  # 0.6 s later: down to 1/e
    assert abs(recovery + 60 / np.e) <= 1.5
    assert jerked.flags["fast_motion"][at : at + 2].all() and not calm.flags["fast_motion"].any()


def test_late_panning_lags_the_target_and_a_stop_moves_it_across_the_image():
    size = dict(width=1920, height=1080)
    cruising = _plan(frames=90, lookalikes=4, **size)
    lagging = _plan(difficulty=DroneDifficulty(lag_s=0.5), frames=90, lookalikes=4, **size)
    step = np.diff(cruising.target_boxes[:, :2].astype(float), axis=0).mean(axis=0)
    gain = 1 - np.exp(-1 / (0.5 * 30))
    lag = np.array([_image_centre(lagging, t) - _image_centre(cruising, t) for t in range(90)])
    assert np.allclose(lag, step * (1 - gain) / gain, atol=1.0)  # constant lag behind the camera centre
    stopping = _plan(difficulty=DroneDifficulty(lag_s=0.5, stop=(0.2, 1.0)), frames=150, lookalikes=4, **size)
    world = stopping.target_boxes[:, :2].astype(float)
    speed = np.linalg.norm(np.diff(world, axis=0), axis=1)
    begin = round(0.2 * 149)
    standing = slice(begin + round(STOP_RAMP_S * 30) + 2, begin + round((STOP_RAMP_S + 1.0) * 30) - 2)
    assert speed[standing].max() <= 1.0 and speed[:begin].min() >= 0.5 * np.linalg.norm(step)
    # while it stands, the late camera catches up: the target crosses the image by about its lag
    shift = _image_centre(stopping, standing.stop) - _image_centre(stopping, begin)
    assert 0.6 * np.linalg.norm(lag[0]) <= np.linalg.norm(shift) <= 1.6 * np.linalg.norm(lag[0]) + 4
    offset = _centres(stopping.lookalike_boxes) - _centres(stopping.target_boxes)
    normal = np.array([-stopping.direction[1], stopping.direction[0]])
    same_lane = np.abs(offset @ normal) < 0.5 * LANE_WIDTH_M * stopping.ppm
    assert same_lane.any()  # the target's lane has other cars, and none drives through it:
    assert np.abs(offset @ stopping.direction)[same_lane].min() >= 5.5 * stopping.ppm


def _without(plan, **fields):
    return dataclasses.replace(plan, **fields)


def _difference(a, b, box) -> tuple[float, float]:
    """Mean absolute RGB and thermal difference of two frame pairs inside ``box`` (image px)."""
    x, y, w, h = np.rint(box).astype(int)
    rgb = np.abs(a.rgb[y : y + h, x : x + w].astype(float) - b.rgb[y : y + h, x : x + w]).mean()
    thermal = np.abs(a.thermal[y : y + h, x : x + w].astype(float) - b.thermal[y : y + h, x : x + w]).mean()
    return rgb, thermal


@pytest.mark.parametrize("attributes, size_m", [((), 14.0), (("pedestrians", "night"), 3.0)])
def test_an_occluder_covers_the_target_in_both_images_while_flagged_hidden(attributes, size_m):
    hidden = DroneDifficulty(occlusion=0.5, occluder_m=size_m)
    plan = _plan(attributes, hidden, seed=3, frames=120, lookalikes=6)
    full, partial = plan.flags["full_occlusion"], plan.flags["partial_occlusion"]
    assert full.sum() >= 5 and partial.any() and not full[0] and round(0.5 * 119) in np.flatnonzero(full)
    assert np.array_equal(full, plan.occluded_fraction >= 1.0)
    no_target = _without(plan, objects=plan.objects[:-1])
    no_occluder = _without(plan, occluders=())
    for index in (np.flatnonzero(full)[[0, -1]].tolist() + [int(np.flatnonzero(~full & ~partial)[0])]):
        pair = render_frame(plan, index)
        assert pair.gt_rgb is not None  # a hidden target keeps its true box
        assert np.array_equal(pair.gt_rgb, plan.image_box(index))
        rgb, thermal = _difference(pair, render_frame(no_target, index), pair.gt_rgb)
        seen_rgb, seen_thermal = _difference(render_frame(no_occluder, index),
                                             render_frame(_without(no_occluder, objects=plan.objects[:-1]), index),
                                             pair.gt_rgb)
        assert seen_rgb > 8 and seen_thermal > 100  # without the occluder the target shows
        if full[index]:
            assert rgb < 0.05 * seen_rgb and thermal < 0.05 * seen_thermal  # the occluder hides it
        else:
            assert rgb > 0.5 * seen_rgb


def test_the_twin_looks_like_the_target_and_passes_it_while_it_is_hidden():
    twin = DroneDifficulty(occlusion=0.5, occluder_m=14.0, crossing=0.5, twin=True)
    plan = _plan((), twin, seed=4, frames=120, lookalikes=6)
    target, first = plan.objects[-1].sprites[0], plan.objects[0].sprites[0]
    assert np.abs(np.median(target.rgb[target.alpha > 0.9], axis=0)
                  - np.median(first.rgb[first.alpha > 0.9], axis=0)).max() < 12
    offset = _centres(plan.lookalike_boxes[0]) - _centres(plan.target_boxes)
    along = offset @ plan.direction
    slope, intercept = np.polyfit(np.arange(120), along, 1)  # both drive at constant speeds
    level = -intercept / slope
    assert abs(level - 0.5 * 119) <= 1 and plan.flags["full_occlusion"][round(level)]
    assert np.abs(offset[round(level)]).max() < 3 * plan.target_boxes[0, 2:].max()


def test_a_walker_turns_by_the_drawn_angle_and_its_sprite_turns_with_it():
    angle = np.radians(60.0)
    plan = _plan(("pedestrians",), DroneDifficulty(turn=(0.3, angle)), seed=2, frames=150, lookalikes=6)
    path = _centres(plan.target_boxes)
    before, after = path[40] - path[10], path[149] - path[120]
    turned = np.arctan2(after[1], after[0]) - np.arctan2(before[1], before[0])
    assert abs((turned + np.pi) % (2 * np.pi) - np.pi - angle) < np.radians(8)
    assert len(plan.target.sprites) == round(angle / TURN_STEP) + 1
    assert plan.target.poses[0] != plan.target.poses[-1]


@pytest.mark.parametrize("factor", [0.6, 1.6])
def test_zoom_scales_the_target_and_annotations_match_the_rendered_target(factor):
    zoom = DroneDifficulty(zoom=(0.2, 1.0, factor))
    plan = _plan(("pedestrians", "night", "misalignment"), zoom, seed=6, frames=80, lookalikes=4, width=640,
                 height=360)  # no shadows or lights around the target
    assert plan.zoom[0] == 1.0 and abs(plan.zoom[-1] - factor) < 1e-9
    first, last = plan.image_box(0), plan.image_box(79)
    assert np.allclose(last[2:] / first[2:], factor, rtol=0.05)
    assert plan.flags["scale_change"][-1] and not plan.flags["scale_change"][0]
    no_target = _without(plan, objects=plan.objects[:-1])
    for index in (0, 79):
        pair, empty = render_frame(plan, index), render_frame(no_target, index)
        for image, bare, box, level in ((pair.rgb, empty.rgb, pair.gt_rgb, 2), (pair.thermal, empty.thermal,
                                                                                pair.gt_thermal, 60)):
            changed = np.abs(image.astype(float) - bare).reshape(image.shape[0], image.shape[1], -1).max(axis=2) > level
            assert changed.sum() > 20  # same noise: only the target's pixels differ
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            seen = np.array([cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]], dtype=float)
            # the annotation is where the target is drawn (its edges blurred by resampling and optics)
            assert np.abs(_centres(seen) - _centres(box)).max() <= 1.5
            assert np.abs(seen[2:] - box[2:]).max() <= 2 + 2 * plan.zoom[index]
        assert np.allclose(pair.gt_thermal[:2], pair.gt_rgb[:2] - plan.misalignment)


def test_glare_widens_the_headlights_that_saturate_rgb_at_night():
    saturated = []
    for glare in (1.0, GLARE[1]):
        plan = _plan(("night",), DroneDifficulty(glare=glare), seed=8, frames=3, width=960, height=540)
        saturated.append(sum((render_frame(plan, t).rgb == 255).all(axis=2).sum() for t in range(3)))
    assert saturated[1] > 1.5 * saturated[0]
