"""Drone-view scenes: the ``drone`` scenario family of the synthetic generator.

What a drone or a camera mast sees (our design, like the ``basic`` family in
:mod:`rgbt_tracker_ros.data.synthetic`, which holds the specs, the fixed sets and the attribute
vocabulary): full-HD frames looking straight down on a small target (the longer side of its box is
20-100 px at a 1080 px short side, scaled with the short side for other sizes, never below 10 px)
among many look-alikes moving the same way.

Scenes. ``vehicles`` (the default): a one-way road of 2-6 lanes of 3.5 m (lanes are added when the
look-alikes do not fit) at any angle, each lane at its own speed (5-8 m/s for the slowest, 1.5-2.5 m/s
more per lane), so cars in neighbouring lanes overtake the target; lane markings (dashed dividers,
edge lines, sometimes a zebra crossing), tyre tracks, kerbs, tiled sidewalks with street lamps,
grass strips with trees, and rows of buildings (gravel, tile, metal and dark roofs with a facade strip
on the side facing down the image, as a slightly oblique view shows it). ``pedestrians``: people
walking across a paved square in one general direction (heading spread about 9 degrees, 1.0-1.7 m/s),
with a fountain, planters with trees, benches and lamps kept clear of their paths. Look-alikes share
the target's class and size (+-10 %), a third of them its colour. One look-alike is placed to pass
the target (an overtaking car in a neighbouring lane, a walker 1.2-1.7 target sizes to the side)
between 30 and 70 % of the sequence; the others are placed at random where the camera sees them at
some time, without overlapping.

Platform. The camera follows the target late (a first-order lag), its offset from it wandering, is
jerked, and shakes (a slow wobble of about 2.5 px and a per-frame jitter of about 0.8 px at 1080 px):
flag ``camera_shake`` on every frame. The target's box is always kept inside the image. Motion is an
integer translation of the view, and a zoom about the image centre (bilinear resampling) when the
altitude changes; the image is not rotated.

Difficulty (:class:`DroneDifficulty`, drawn per sequence from its seed by :func:`draw_difficulty`;
ranges in the constants above): late panning (time constant 0.2-1.2 s), the offset's wander (0.6-3
px/frame within 18-32 % of the image), 0-3 platform jerks of 30-80 px, an occluder over the target's
path in 3 of 4 sequences (an overpass deck 8-16 m wide over the road, a tree canopy 2-3.5 m across
over a walker's path; drawn over everything in both cameras), in half of those a twin (the passing
look-alike with the target's colour) passing it while it is hidden, stops (half of the vehicles, a
third of the walkers: braking to a halt, 0.5-2 s standing, pulling away; cars in the target's lane
stay clear of it), walkers' turns (35-90 degrees over 1.5 s; stops and turns keep 1.5 s from the
crossing and the occlusion), a zoom in half of the sequences (to 0.6-0.85 or 1.2-1.6 over 2-5 s, the
target's longer side kept within 14-150 px), and headlight glare at night (halo reach and beam x1-2.5).
While the target is hidden its ground truth stays its true box, as in the ``basic`` family.

Light. By day: sunlight with shadows of buildings, trees, cars and people (which also darken the
objects in them; shaded ground is cooler in thermal). By night: a dark sky (5-10 % of daylight), pools
of street-lamp light (35-60 % of daylight at their centre; sodium or LED colour; at least one lamp
on a square), lamp heads and lit windows, and vehicles with headlights
(beams on the road ahead) and tail lights, all of which saturate the 8-bit RGB image, with more
sensor noise (sigma 6 instead of 2). Flags ``night`` and ``low_illumination`` on every frame.

Thermal (uint16 counts like ``basic``: ambient 7000-8000 plus per-material offsets): sun-heated
asphalt, paving and roofs by day, asphalt still warm and roofs cold at night; canopies, grass and
water cooler. Vehicles have a hot engine hood (+1000-1700 counts), a body warmer than ambient (by day
more so for dark paint) and cold glass; people a warm body and a warmer head, far above the ground at
night. The thermal image is blurred like a lower-resolution sensor upscaled (sigma 1.2 px at 1080 px)
and has the ``basic`` family's temporal and fixed-pattern noise.

``misalignment``: the thermal camera's view is shifted by 2-6 px at 1080 px (at least 2 px) in a
random direction, recorded in :attr:`DronePlan.misalignment`; each camera has its own ground truth
(``gt_thermal = gt_rgb - misalignment`` while the target is in view), as RGBT234 annotates it.

Flags per frame (``FramePair.attributes``): the ``basic`` flags (``distractor``: a look-alike in view
within 2 target sizes; ``fast_motion`` and ``scale_change`` by the ``basic`` thresholds in image
space; ``partial_occlusion`` and ``full_occlusion`` from the share of the target's mask under an
occluder, as in ``basic``; thermal crossover is never set), ``pedestrians`` and ``night``, and
``family_drone``.

Not modelled: camera rotation, perspective or lens distortion (a nadir view); look-alikes covering
the target (objects on the ground never overlap in a nadir view; no tall trucks seen obliquely);
occluders' shadows; parked or oncoming vehicles, lane changes, vehicles turning, traffic other than
the target stopping, walkers meeting; motion blur, rolling shutter, exposure control and bloom beyond
halos; a thermal sensor of lower resolution than the RGB one (it is blurred, not subsampled), thermal
reflections, people cooler than sun-heated pavement (no thermal crossover); weather.

Determinism and streams: everything follows from the spec; scene layout, objects, camera, difficulty,
night lighting and sensor draw from separate streams, so the same seed by day and by night, or registered
and misregistered, shows the same scene with the same traffic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from rgbt_tracker_ros.data.frames import FramePair
from rgbt_tracker_ros.data.synthetic import (
    ATTRIBUTES,
    DISTRACTOR_NEAR,
    FAST_MOTION_PX,
    PARTIAL_OCCLUSION_MIN,
    SCALE_CHANGE_RATIO,
    THERMAL_COLUMN_FPN,
    THERMAL_NOISE,
    THERMAL_ROW_FPN,
    ScenarioSpec,
    _quantize,
    _rng,
    _smooth_noise,
    _stamps,
    check_frame_index,
    family_flag,
    image_box,
)
from rgbt_tracker_ros.errors import InputError

#: Short side at which the sizes below are given; they scale with the short side of other sizes.
FULL_HD_SHORT = 1080
#: Longer side of the target's box in px (at a 1080 px short side), and its floor at small sizes.
TARGET_PX = (20.0, 100.0)
MIN_TARGET_PX = 10.0
#: RGB/thermal misregistration in px (at a 1080 px short side; at least 2 px).
MISREGISTRATION_PX = (2.0, 6.0)
#: Per-frame flags of drone scenes beyond the basic ones.
DRONE_FLAGS = ("pedestrians", "night")
LANE_WIDTH_M = 3.5
MAX_LANES = 6
#: Largest world canvas (pixels) a sequence may cover; longer sequences are refused.
MAX_CANVAS_PIXELS = 48_000_000
#: Share of look-alikes with the target's colour (the others draw from the common palette).
SAME_COLOUR_SHARE = 0.35
RGB_NOISE_DAY, RGB_NOISE_NIGHT = 2.0, 6.0

# Difficulty factors (per sequence, drawn by :func:`draw_difficulty`; px at a 1080 px short side).
#: Time constant (s) of the platform's late panning after the target, and its cap as a share of the
#: short side of the lag it may build at the target's top speed.
LAG_S, LAG_MAX_SHARE = (0.2, 1.2), 0.2
#: Top speed (px/frame) and bound (share of the image from the centre) of the camera offset's wander.
DRIFT_PX, DRIFT_BOUND = (0.6, 3.0), (0.18, 0.32)
#: Platform jerks: how many, their size (px, reached in 2 frames) and the time constant (s) of the
#: recovery.
JERKS, JERK_PX, JERK_RECOVERY_S = (0, 3), (30.0, 80.0), 0.6
#: Share of sequences with an occluder over the target's path; its size along the path (m): an
#: overpass deck over the road, a tree canopy over a walker's path.
OCCLUSION_SHARE, OVERPASS_M, CANOPY_M = 0.75, (8.0, 16.0), (2.0, 3.5)
#: Share of occluded sequences where the passing look-alike is the target's twin and passes it while
#: it is hidden.
TWIN_SHARE = 0.5
#: Stops (vehicles, walkers): share of sequences, time standing (s), braking and pulling away (s).
STOP_SHARE, WALKER_STOP_SHARE, STOP_HOLD_S, STOP_RAMP_S = 0.5, 0.35, (0.5, 2.0), 0.7
#: Walkers' turns: share of sequences, angle (degrees, either way), duration (s).
TURN_SHARE, TURN_DEG, TURN_S = 0.6, (35.0, 90.0), 1.5
#: Zoom (altitude change): share of sequences, final factor (out or in), duration of the change (s),
#: and the target's longer side (px) that it must keep.
ZOOM_SHARE, ZOOM_OUT, ZOOM_IN, ZOOM_S, ZOOM_TARGET_PX = 0.5, (0.6, 0.85), (1.2, 1.6), (2.0, 5.0), (14.0, 150.0)
#: Night: factor on the size and strength of headlight halos and beams.
GLARE = (1.0, 2.5)
#: Events (stops, turns) keep this far (s) from the crossing and from the middle of the occlusion.
EVENT_GUARD_S = 1.5

# Common car colours (albedo, 0..255) and how often they occur.
_CAR_COLOURS = np.array(
    [
        (225, 225, 222), (176, 178, 182), (110, 112, 116), (30, 30, 33), (35, 50, 92),
        (160, 30, 30), (52, 82, 150), (190, 176, 142), (42, 82, 56),
    ],
    dtype=np.float32,
)
_CAR_WEIGHTS = np.array([0.25, 0.18, 0.15, 0.17, 0.07, 0.07, 0.05, 0.03, 0.03])
_CLOTHING = np.array(
    [
        (40, 40, 46), (36, 46, 82), (122, 122, 126), (220, 220, 214), (170, 42, 40),
        (62, 92, 160), (62, 110, 72), (210, 182, 64), (112, 80, 56), (182, 166, 130),
    ],
    dtype=np.float32,
)
_HAIR = np.array([(28, 24, 22), (70, 48, 32), (120, 92, 60), (190, 168, 120), (150, 150, 150)], dtype=np.float32)

# Ground materials: albedo (RGB 0..255), smooth texture (relative), grain (levels), thermal offset
# from ambient by day and by night (counts).
_MATERIALS = {
    "grass": ((74, 100, 54), 0.18, 7.0, 350.0, -350.0),
    "soil": ((118, 98, 72), 0.15, 8.0, 550.0, -200.0),
    "asphalt": ((80, 81, 84), 0.10, 8.0, 950.0, 250.0),
    "marking": ((220, 218, 206), 0.04, 6.0, 750.0, 300.0),
    "paving": ((160, 156, 148), 0.08, 7.0, 750.0, 120.0),
    "joint": ((112, 108, 102), 0.05, 5.0, 700.0, 130.0),
    "curb": ((178, 176, 170), 0.05, 5.0, 700.0, 150.0),
    "roof_gravel": ((134, 130, 122), 0.12, 14.0, 1500.0, -450.0),
    "roof_tiles": ((152, 74, 54), 0.10, 8.0, 1350.0, -350.0),
    "roof_metal": ((170, 174, 178), 0.06, 4.0, 1700.0, -600.0),
    "roof_dark": ((64, 64, 68), 0.06, 6.0, 1800.0, -400.0),
    "facade": ((188, 178, 162), 0.06, 6.0, 600.0, 150.0),
    "window": ((52, 62, 76), 0.05, 4.0, 300.0, 350.0),
    "canopy": ((54, 90, 44), 0.30, 12.0, 150.0, -150.0),
    "water": ((58, 86, 98), 0.08, 5.0, -200.0, 50.0),
    "wood": ((124, 90, 60), 0.08, 6.0, 900.0, -100.0),
    "lamp": ((92, 94, 98), 0.02, 3.0, 600.0, 500.0),
    "stone": ((178, 170, 154), 0.06, 8.0, 800.0, 150.0),
}
_LABEL = {name: index for index, name in enumerate(_MATERIALS)}
_ROOFS = ("roof_gravel", "roof_tiles", "roof_metal", "roof_dark")


@dataclass(frozen=True)
class DroneDifficulty:
    """What makes a drone sequence hard (module doc); times are fractions of the sequence (0: first
    frame, 1: last), sizes px at a 1080 px short side. ``DroneDifficulty()`` is an easy sequence: the
    camera follows closely, nothing hides or stops the target, no jerks, no zoom.

    Attributes:
        lag_s: time constant of the platform's panning after the target (0: none).
        drift_px / drift_bound: top speed (px/frame) and bound (share of the image) of the camera
            offset's wander.
        jerks: ``(time, dx, dy)`` sudden platform moves, each reached in 2 frames and recovered with
            time constant :data:`JERK_RECOVERY_S`.
        crossing: when the passing look-alike is level with the target.
        occlusion: when the target is in the middle of the occluder (``None``: no occluder).
        occluder_m: the occluder's size along the target's path (m).
        twin: the passing look-alike has the target's colour (a car also its length within 3 %).
        stop: ``(time braking starts, seconds standing)``.
        turn: ``(time the turn starts, angle in radians)`` (walkers).
        zoom: ``(time the change starts, seconds it takes, final factor)``.
        glare: factor on headlight halos and beams at night.
    """

    lag_s: float = 0.0
    drift_px: float = DRIFT_PX[0]
    drift_bound: float = DRIFT_BOUND[0]
    jerks: tuple[tuple[float, float, float], ...] = ()
    crossing: float = 0.5
    occlusion: Optional[float] = None
    occluder_m: float = 0.0
    twin: bool = False
    stop: Optional[tuple[float, float]] = None
    turn: Optional[tuple[float, float]] = None
    zoom: Optional[tuple[float, float, float]] = None
    glare: float = 1.0


def _free_start(
    rng: np.random.Generator, length: float, busy: list[tuple[float, float]], guard: float
) -> Optional[float]:
    """A start time for an event of ``length`` (fractions) within 5-95 % of the sequence that stays
    ``guard`` away from every ``busy`` interval; ``None`` when there is none."""
    starts = np.linspace(0.05, 0.95 - length, 181)
    free = np.ones(len(starts), dtype=bool)
    for low, high in busy:
        free &= (starts + length < low - guard) | (starts > high + guard)
    return float(rng.choice(starts[free])) if length < 0.9 and free.any() else None


def draw_difficulty(spec: ScenarioSpec) -> DroneDifficulty:
    """The difficulty factors of a drone ``spec``, drawn from its seed alone (the constants above): the
    same for a seed by day and night, registered or not."""
    rng = _rng(spec.seed, "drone_difficulty")
    walkers = "pedestrians" in spec.attributes
    to_fraction = spec.fps * 1.0 / max(spec.frames - 1, 1)  # seconds -> fraction of the sequence
    occlusion = float(rng.uniform(0.35, 0.7)) if rng.random() < OCCLUSION_SHARE else None
    occluder_m = float(rng.uniform(*(CANOPY_M if walkers else OVERPASS_M)))
    twin = occlusion is not None and rng.random() < TWIN_SHARE
    crossing = occlusion if twin else float(rng.uniform(0.3, 0.7))
    busy = [(crossing, crossing)] + ([(occlusion, occlusion)] if occlusion is not None else [])
    guard = EVENT_GUARD_S * to_fraction
    stop = turn = None
    if rng.random() < (WALKER_STOP_SHARE if walkers else STOP_SHARE):
        hold = float(rng.uniform(*STOP_HOLD_S))
        length = (hold + 2 * STOP_RAMP_S) * to_fraction
        start = _free_start(rng, length, busy, guard)
        if start is not None:
            stop = (start, hold)
            busy.append((start, start + length))
    if walkers and rng.random() < TURN_SHARE:
        angle = math.radians(rng.uniform(*TURN_DEG)) * (1 if rng.random() < 0.5 else -1)
        start = _free_start(rng, TURN_S * to_fraction, busy, guard)
        turn = (start, angle) if start is not None else None
    jerks = tuple(
        (float(rng.uniform(0.1, 0.9)), *(rng.uniform(*JERK_PX) * np.array([math.cos(a), math.sin(a)])).tolist())
        for a in rng.uniform(0, 2 * np.pi, int(rng.integers(JERKS[0], JERKS[1] + 1)))
    )
    zoom = None
    if rng.random() < ZOOM_SHARE:
        seconds = float(rng.uniform(*ZOOM_S))
        factor = float(rng.uniform(*(ZOOM_OUT if rng.random() < 0.5 else ZOOM_IN)))
        zoom = (float(rng.uniform(0.1, max(0.1, 0.9 - seconds * to_fraction))), seconds, factor)
    return DroneDifficulty(
        lag_s=float(rng.uniform(*LAG_S)),
        drift_px=float(rng.uniform(*DRIFT_PX)),
        drift_bound=float(rng.uniform(*DRIFT_BOUND)),
        jerks=jerks,
        crossing=crossing,
        occlusion=occlusion,
        occluder_m=occluder_m,
        twin=twin,
        stop=stop,
        turn=turn,
        zoom=zoom,
        glare=float(rng.uniform(*GLARE)) if "night" in spec.attributes else 1.0,
    )


def target_size_range(width: int, height: int) -> tuple[float, float]:
    """Range of the longer side of the target's box (px) for an image size (:data:`TARGET_PX`)."""
    scale = min(width, height) / FULL_HD_SHORT
    low = max(MIN_TARGET_PX, TARGET_PX[0] * scale)
    return low, max(low, TARGET_PX[1] * scale)


# ----------------------------------------------------------------------------------------------
# Objects: looks and sprites


@dataclass(frozen=True)
class _VehicleLook:
    length: float
    width: float
    colour: np.ndarray
    roof_tone: float
    glass: float
    body_heat_day: float
    body_heat_night: float
    engine_heat: float


@dataclass(frozen=True)
class _PersonLook:
    shoulders: float
    depth: float
    clothing: np.ndarray
    hair: np.ndarray
    backpack: Optional[np.ndarray]
    clothing_heat_day: float
    clothing_heat_night: float
    head_heat_day: float
    head_heat_night: float


def _vehicle_look(
    rng: np.random.Generator, like: Optional[_VehicleLook] = None, twin: bool = False
) -> _VehicleLook:
    """A car; a look-alike of ``like`` has its size +-10 % and, for a third, its colour; its ``twin``
    its colour and its length +-3 %."""
    palette = _CAR_COLOURS[rng.choice(len(_CAR_COLOURS), p=_CAR_WEIGHTS)]
    if like is None:
        length, width, colour = rng.uniform(4.2, 4.9), rng.uniform(1.75, 1.95), palette
    else:
        spread = 0.03 if twin else 0.1
        length, width = like.length * rng.uniform(1 - spread, 1 + spread), like.width * rng.uniform(0.95, 1.05)
        same = twin or rng.random() < SAME_COLOUR_SHARE
        colour = np.clip(like.colour + rng.uniform(-6, 6, 3), 0, 255) if same else palette
    darkness = 1.0 - float(np.mean(colour)) / 255.0
    return _VehicleLook(
        length=float(length),
        width=float(width),
        colour=np.asarray(colour, dtype=np.float32),
        roof_tone=float(rng.uniform(0.9, 1.08)),
        glass=float(rng.uniform(22, 48)),
        body_heat_day=float(450 + 650 * darkness + rng.uniform(-100, 100)),
        body_heat_night=float(rng.uniform(500, 800)),
        engine_heat=float(rng.uniform(1000, 1700)),
    )


def _person_look(
    rng: np.random.Generator, like: Optional[_PersonLook] = None, twin: bool = False
) -> _PersonLook:
    """A walker seen from above; a look-alike of ``like`` has, for a third (a ``twin`` always), its
    clothing colour."""
    palette = _CLOTHING[rng.integers(len(_CLOTHING))]
    if like is not None and (twin or rng.random() < SAME_COLOUR_SHARE):
        clothing = np.clip(like.clothing + rng.uniform(-8, 8, 3), 0, 255)
    else:
        clothing = palette
    backpack = _CLOTHING[rng.integers(len(_CLOTHING))] * 0.8 if rng.random() < 0.3 else None
    return _PersonLook(
        shoulders=float(rng.uniform(0.42, 0.52)),
        depth=float(rng.uniform(0.24, 0.30)),
        clothing=np.asarray(clothing, dtype=np.float32),
        hair=_HAIR[rng.integers(len(_HAIR))],
        backpack=backpack,
        clothing_heat_day=float(rng.uniform(900, 1200)),
        clothing_heat_night=float(rng.uniform(700, 900)),
        head_heat_day=float(rng.uniform(1300, 1600)),
        head_heat_night=float(rng.uniform(1400, 1700)),
    )


def _box_side_m(look, heading: float) -> float:
    """Longer side (metres) of the axis-aligned box of an object at ``heading``."""
    c, s = abs(math.cos(heading)), abs(math.sin(heading))
    if isinstance(look, _VehicleLook):
        radius = 0.22 * look.width
        half_a, half_b = look.length / 2 - radius, look.width / 2 - radius
        return 2 * max(half_a * c + half_b * s, half_a * s + half_b * c) + 2 * radius
    ra, rb = look.depth / 2, look.shoulders / 2
    return 2 * max(math.hypot(ra * c, rb * s), math.hypot(ra * s, rb * c))


@dataclass(frozen=True)
class DroneSprite:
    """An object's appearance at its heading, in a patch.

    ``rgb`` ``(h, w, 3)`` albedo 0..255 (lit at render time), ``alpha`` ``(h, w)``, ``thermal`` ``(h, w)``
    counts blended with ``thermal_alpha`` (the alpha blurred like the thermal optics); ``box``: the
    object's tight box ``[x, y, w, h]`` (alpha > 0.5) in the patch; ``centre``: the object's position
    in the patch (px). ``glow`` (night: head and tail lights, the beam ahead; added to RGB) and
    ``shadow`` (day: darkening strength) are ``(patch, offset)``, the offset of the patch's top-left
    from the sprite's.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    thermal: np.ndarray
    thermal_alpha: np.ndarray
    box: np.ndarray
    centre: np.ndarray
    glow: Optional[tuple[np.ndarray, np.ndarray]] = None
    shadow: Optional[tuple[np.ndarray, np.ndarray]] = None


def _grid(extent: tuple[float, float, float, float], heading: float, ppm: float):
    """Local coordinates of a patch covering ``extent = (a0, a1, b0, b1)`` metres (``a`` along the
    heading, ``b`` to its right in the image): ``(a, b, centre)`` with the object's origin at the
    integer patch position ``centre``."""
    a0, a1, b0, b1 = extent
    c, s = math.cos(heading), math.sin(heading)
    corners = np.array([[a, b] for a in (a0, a1) for b in (b0, b1)]) * ppm
    xs = corners[:, 0] * c - corners[:, 1] * s
    ys = corners[:, 0] * s + corners[:, 1] * c
    centre = np.array([math.ceil(-xs.min()) + 1, math.ceil(-ys.min()) + 1], dtype=np.int64)
    width, height = int(centre[0] + math.ceil(xs.max()) + 2), int(centre[1] + math.ceil(ys.max()) + 2)
    ox = (np.arange(width, dtype=np.float32) + 0.5 - centre[0])[None, :]
    oy = (np.arange(height, dtype=np.float32) + 0.5 - centre[1])[:, None]
    return (ox * c + oy * s) / ppm, (-ox * s + oy * c) / ppm, centre


def _coverage(distance_m: np.ndarray, ppm: float) -> np.ndarray:
    """Anti-aliased coverage of a shape from its signed distance (metres, negative inside)."""
    return np.clip(0.5 - distance_m * ppm, 0.0, 1.0).astype(np.float32)


def _rounded_rect(a: np.ndarray, b: np.ndarray, half_a: float, half_b: float, radius: float) -> np.ndarray:
    qa, qb = np.abs(a) - (half_a - radius), np.abs(b) - (half_b - radius)
    outside = np.hypot(np.maximum(qa, 0), np.maximum(qb, 0))
    return outside + np.minimum(np.maximum(qa, qb), 0) - radius


def _ellipse(a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> np.ndarray:
    return (np.hypot(a / ra, b / rb) - 1.0) * min(ra, rb)


def _blob(distance_px: np.ndarray, sigma_px: float) -> np.ndarray:
    return np.exp(-(distance_px**2) / (2 * sigma_px**2))


def _crop(sprite_arrays: dict, mask: np.ndarray, centre: np.ndarray):
    """Crop every array to the rows/columns where ``mask``; returns the arrays and the new centre."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    cropped = {key: value[y0:y1, x0:x1] for key, value in sprite_arrays.items()}
    return cropped, centre - np.array([x0, y0])


def _tight_box(alpha: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero((alpha > 0.5).any(axis=1)), np.flatnonzero((alpha > 0.5).any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]], dtype=np.int64)


@dataclass(frozen=True)
class _Conditions:
    """What lights an object and how its thermal signature is blurred."""

    night: bool
    ppm: float
    ambient: float
    thermal_sigma: float
    sun: np.ndarray  # unit vector along which shadows fall (image px)
    shadow_per_m: float  # shadow length per metre of height
    glare: float = 1.0  # factor on headlight halos and beams


def _finish_sprite(
    rgb: np.ndarray, alpha: np.ndarray, heat: np.ndarray, centre: np.ndarray, conditions: _Conditions,
    glow: Optional[tuple] = None, shadow: Optional[tuple] = None,
) -> DroneSprite:
    """Blur the heat like the thermal optics (and the alpha that blends it), crop every patch to what
    it shows and find the object's tight box."""
    sigma = conditions.thermal_sigma
    reach = int(math.ceil(2 * sigma))  # room for the blurred edge

    def padded(image: np.ndarray, border: int) -> np.ndarray:
        return cv2.copyMakeBorder(image.astype(np.float32), reach, reach, reach, reach, border, value=0)

    alpha = padded(alpha, cv2.BORDER_CONSTANT)
    arrays = {
        "rgb": padded(rgb, cv2.BORDER_CONSTANT),
        "alpha": alpha,
        "thermal": conditions.ambient + cv2.GaussianBlur(padded(heat, cv2.BORDER_REPLICATE), (0, 0), sigma),
        "thermal_alpha": cv2.GaussianBlur(alpha, (0, 0), sigma),
    }
    arrays, centre = _crop(arrays, arrays["thermal_alpha"] > 1e-3, centre + reach)
    extras = {}
    for name, item in (("glow", glow), ("shadow", shadow)):
        if item is not None:
            patch, patch_centre = item
            mask = patch.max(axis=2) > 0.5 if patch.ndim == 3 else patch > 1e-3
            cropped, patch_centre = _crop({"patch": patch}, mask, patch_centre)
            extras[name] = (np.ascontiguousarray(cropped["patch"], dtype=np.float32), centre - patch_centre)
    return DroneSprite(
        **{key: np.ascontiguousarray(value) for key, value in arrays.items()},
        box=_tight_box(arrays["alpha"]),
        centre=centre,
        **extras,
    )


def _vehicle_sprite(
    look: _VehicleLook, heading: float, conditions: _Conditions, rng: np.random.Generator
) -> DroneSprite:
    """A car from above: body, windscreen and rear window, lamps; hot hood in thermal."""
    ppm, length, width = conditions.ppm, look.length, look.width
    a, b, centre = _grid((-length / 2, length / 2, -width / 2, width / 2), heading, ppm)
    alpha = _coverage(_rounded_rect(a, b, length / 2, width / 2, 0.22 * width), ppm)
    front, side = a / (length / 2), np.abs(b)
    inner = side < width / 2 - 0.14
    windscreen = inner & (front > 0.1) & (front < 0.42) & (side < width / 2 - 0.14 - 0.25 * (front - 0.1))
    rear = inner & (front > -0.8) & (front < -0.6)
    roof = inner & (front >= -0.6) & (front <= 0.1)
    shade = 0.8 + 0.2 * np.clip(1 - (side / (width / 2)) ** 2, 0, 1)
    rgb = look.colour * shade[..., None]
    rgb[roof] *= look.roof_tone
    glass = windscreen | rear
    rgb[glass] = look.glass * np.array([0.85, 0.92, 1.0], dtype=np.float32) + 25 * np.clip(front[glass], 0, 1)[:, None]
    lamp_row = np.abs(side - (width / 2 - 0.32)) < 0.2
    rgb[(front > 0.9) & lamp_row] = (205, 205, 195)
    rgb[(front < -0.92) & lamp_row] = (150, 25, 22)
    rgb = np.clip(rgb + rng.normal(0, 4, a.shape).astype(np.float32)[..., None], 0, 255)
    heat = np.full(a.shape, look.body_heat_night if conditions.night else look.body_heat_day, dtype=np.float32)
    heat += look.engine_heat * np.exp(-(((front - 0.68) / 0.22) ** 2) - (b / (0.35 * width)) ** 2)
    heat[glass] -= 250
    heat += 350 * np.exp(-(((front + 0.97) / 0.06) ** 2) - ((b - 0.3 * width) / (0.12 * width)) ** 2)
    glow = _vehicle_glow(look, heading, ppm, conditions.glare) if conditions.night else None
    shadow = None
    if not conditions.night:
        offset = conditions.sun * conditions.shadow_per_m * 1.4  # a car is about 1.4 m high
        shadow = _shadow_patch(heading, conditions, (-length / 2, length / 2, -width / 2, width / 2), offset,
                               lambda sa, sb: _rounded_rect(sa, sb, length / 2, width / 2, 0.22 * width))
    return _finish_sprite(rgb, alpha, heat, centre, conditions, glow, shadow)


def _vehicle_glow(look: _VehicleLook, heading: float, ppm: float, glare: float) -> tuple[np.ndarray, np.ndarray]:
    """Head and tail lights (saturating cores with halos) and the headlight beam on the road ahead;
    ``glare`` scales the headlight halo's reach and the beam's strength and length."""
    length, width, beam = look.length, look.width, 9.0 * glare
    reach = 2.0 * glare
    a, b, centre = _grid((-length / 2 - 1.2, length / 2 + beam, -width / 2 - reach, width / 2 + reach), heading, ppm)
    head, tail = np.array([1.0, 0.95, 0.8], np.float32), np.array([1.0, 0.12, 0.08], np.float32)
    glow = np.zeros(a.shape + (3,), dtype=np.float32)
    for lateral in (-(width / 2 - 0.32), width / 2 - 0.32):
        to_head = np.hypot(a - (length / 2 - 0.12), b - lateral) * ppm
        to_tail = np.hypot(a + (length / 2 - 0.1), b - lateral) * ppm
        headlight = 3500 * _blob(to_head, max(0.8, 0.14 * ppm)) + 220 * _blob(to_head, max(2.0, 0.6 * glare * ppm))
        taillight = 1400 * _blob(to_tail, max(0.8, 0.1 * ppm)) + 70 * _blob(to_tail, max(1.5, 0.4 * ppm))
        glow += headlight[..., None] * head + taillight[..., None] * tail
    ahead = np.maximum(a - length / 2, 0)
    beam_light = 100 * glare * np.exp(-ahead / (6.0 * glare)) * np.exp(-((b / (0.7 + 0.3 * ahead)) ** 2)) * (1 - np.exp(-ahead / 0.5))
    glow += beam_light[..., None] * head
    return glow, centre


def _shadow_patch(heading: float, conditions: _Conditions, extent, offset_px: np.ndarray, distance) -> tuple:
    """Shadow coverage (strength 0.5) of a shape ``distance(a, b)`` moved by ``offset_px`` (image px)."""
    ppm = conditions.ppm
    c, s = math.cos(heading), math.sin(heading)
    da, db = (offset_px[0] * c + offset_px[1] * s) / ppm, (-offset_px[0] * s + offset_px[1] * c) / ppm
    a0, a1, b0, b1 = extent
    grown = (min(a0, a0 + da), max(a1, a1 + da), min(b0, b0 + db), max(b1, b1 + db))
    a, b, centre = _grid(grown, heading, ppm)
    return 0.5 * _coverage(distance(a - da, b - db), ppm), centre


def _person_sprite(look: _PersonLook, heading: float, conditions: _Conditions, rng: np.random.Generator) -> DroneSprite:
    """A walker from above: shoulders (clothing, maybe a backpack) and head; warm, head warmest."""
    ppm, ra, rb = conditions.ppm, look.depth / 2, look.shoulders / 2
    a, b, centre = _grid((-ra, ra, -rb, rb), heading, ppm)
    body = _coverage(_ellipse(a, b, ra, rb), ppm)
    head = _coverage(np.hypot(a - 0.02, b) - 0.095, ppm)
    alpha = np.maximum(body, head)
    radial = np.clip(1 - (a / ra) ** 2 - (b / rb) ** 2, 0, 1)
    rgb = look.clothing * (0.78 + 0.22 * radial)[..., None]
    if look.backpack is not None:
        bag = (a < -ra + 0.13) & (np.abs(b) < 0.14)
        rgb[bag] = look.backpack
    highlight = np.clip(1 - np.hypot(a - 0.04, b + 0.02) / 0.09, 0, 1)
    rgb = rgb * (1 - head[..., None]) + (look.hair * (0.85 + 0.3 * highlight)[..., None]) * head[..., None]
    rgb = np.clip(rgb + rng.normal(0, 3, a.shape).astype(np.float32)[..., None], 0, 255)
    night = conditions.night
    heat = np.full(a.shape, look.clothing_heat_night if night else look.clothing_heat_day, dtype=np.float32)
    if look.backpack is not None:
        heat[(a < -ra + 0.13) & (np.abs(b) < 0.14)] *= 0.4
    head_heat = look.head_heat_night if night else look.head_heat_day
    heat = heat * (1 - head) + head_heat * head
    shadow = None
    if not night:
        offset = conditions.sun * conditions.shadow_per_m * 1.7  # a walker is about 1.7 m tall
        shadow = _shadow_patch(heading, conditions, (-ra, ra, -rb, rb), offset,
                               lambda sa, sb: _capsule(sa, sb, offset, heading, ppm))
    return _finish_sprite(rgb, alpha, heat, centre, conditions, None, shadow)


def _capsule(a: np.ndarray, b: np.ndarray, offset_px: np.ndarray, heading: float, ppm: float) -> np.ndarray:
    """Distance (m) to a thin upright body's shadow: a segment from the shadow's far end back to the feet."""
    c, s = math.cos(heading), math.sin(heading)
    da, db = (offset_px[0] * c + offset_px[1] * s) / ppm, (-offset_px[0] * s + offset_px[1] * c) / ppm
    # (a, b) are relative to the shadow's moved origin: the feet are at (-da, -db), the far end at (0, 0).
    length2 = da * da + db * db
    t = np.clip(((a + da) * da + (b + db) * db) / max(length2, 1e-9), 0, 1)
    return np.hypot(a + da - t * da, b + db - t * db) - 0.12


# ----------------------------------------------------------------------------------------------
# Paths, camera, placement


@dataclass(frozen=True)
class DroneObject:
    """An object: its sprite at each heading it takes, which one it shows per frame (``poses``,
    ``(frames,)`` int) and where that sprite's top-left is in the world per frame (``origins``, int)."""

    sprites: tuple[DroneSprite, ...]
    origins: np.ndarray
    poses: np.ndarray

    def sprite(self, index: int) -> DroneSprite:
        """The sprite shown at frame ``index``."""
        return self.sprites[int(self.poses[index])]

    @property
    def boxes(self) -> np.ndarray:
        """``(frames, 4)`` int world boxes ``[x, y, w, h]``."""
        table = np.stack([sprite.box for sprite in self.sprites])[self.poses]
        return np.concatenate([self.origins + table[:, :2], table[:, 2:]], axis=1)


def _place(sprites: list[DroneSprite], path: np.ndarray, poses: Optional[np.ndarray] = None) -> DroneObject:
    """An object whose position (its sprite's ``centre``) follows ``path`` ``(frames, 2)``."""
    poses = np.zeros(len(path), dtype=np.int64) if poses is None else poses
    centres = np.stack([sprite.centre for sprite in sprites])[poses]
    return DroneObject(sprites=tuple(sprites), origins=np.rint(path - centres).astype(np.int64), poses=poses)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _speed_factor(frames: int, fps: float, stop: Optional[tuple[float, float]]) -> np.ndarray:
    """Per frame, the target's speed as a share of its cruising speed: 1, or braking to a halt over
    :data:`STOP_RAMP_S`, standing, and pulling away (``stop = (start, seconds standing)``)."""
    if stop is None:
        return np.ones(frames)
    t = np.arange(frames) - stop[0] * (frames - 1)
    ramp, hold = STOP_RAMP_S * fps, stop[1] * fps
    return 1.0 - _smoothstep(t / ramp) + _smoothstep((t - ramp - hold) / ramp)


def _integrate(velocities: np.ndarray) -> np.ndarray:
    """Positions ``(frames, 2)`` from 0 at frame 0 moving by ``velocities[t]`` from frame ``t`` to ``t + 1``."""
    return np.concatenate([np.zeros((1, 2)), np.cumsum(velocities[:-1], axis=0)])


def _zoom(frames: int, fps: float, zoom: Optional[tuple[float, float, float]], side_px: float, scale: float):
    """Per-frame zoom factor: 1, or changing smoothly (geometrically) to the final factor, which is
    limited so that the target's longer side (``side_px`` at zoom 1) stays in :data:`ZOOM_TARGET_PX`."""
    if zoom is None:
        return np.ones(frames)
    start, seconds, factor = zoom
    low, high = max(MIN_TARGET_PX, ZOOM_TARGET_PX[0] * scale), ZOOM_TARGET_PX[1] * scale
    factor = float(np.clip(factor, low / side_px, high / side_px))
    progress = _smoothstep((np.arange(frames) - start * (frames - 1)) / max(seconds * fps, 1.0))
    return factor**progress


def _camera_offsets(
    rng: np.random.Generator, frames: int, width: int, height: int, top_speed: float, bound_share: float
) -> np.ndarray:
    """Offset of the image centre from the target, wandering within ``bound_share`` of the image from
    the centre at up to ``top_speed`` px/frame (at 1080 px)."""
    scale = min(width, height) / FULL_HD_SHORT
    bound = bound_share * np.array([width, height])
    offsets = np.empty((frames, 2))
    offsets[0] = rng.uniform(-0.1, 0.1, 2) * np.array([width, height])
    velocity = np.zeros(2)
    top = top_speed * scale
    steps = rng.normal(0.0, top / 15, (frames, 2))
    for t in range(1, frames):
        velocity = 0.97 * velocity + steps[t]
        speed = np.linalg.norm(velocity)
        if speed > top:
            velocity *= top / speed
        position = offsets[t - 1] + velocity
        beyond = np.abs(position) > bound
        velocity[beyond] *= -1
        offsets[t] = np.clip(position, -bound, bound)
    return offsets


def _jerks(jerks: tuple, frames: int, fps: float, scale: float) -> np.ndarray:
    """``(frames, 2)`` camera displacement of sudden platform moves: each reached in 2 frames, then
    recovered with time constant :data:`JERK_RECOVERY_S`."""
    t = np.arange(frames, dtype=np.float64)
    moved = np.zeros((frames, 2))
    for time, dx, dy in jerks:
        since = t - round(time * (frames - 1))
        shape = np.clip((since + 1) / 2, 0, 1) * np.exp(-np.maximum(since - 1, 0) / (JERK_RECOVERY_S * fps))
        moved += shape[:, None] * np.array([dx, dy]) * scale
    return moved


def _shake(rng: np.random.Generator, frames: int, fps: float, scale: float) -> np.ndarray:
    """Per-frame integer shake: a slow wobble (two sinusoids per axis) plus jitter."""
    amplitude, jitter = max(1.0, 2.5 * scale), max(0.4, 0.8 * scale)
    seconds = np.arange(frames)[:, None] / fps
    frequency = rng.uniform(0.2, 0.8, (2, 2))
    phase = rng.uniform(0, 2 * np.pi, (2, 2))
    wobble = sum(amplitude / 2 * np.sin(2 * np.pi * frequency[k] * seconds + phase[k]) for k in range(2))
    return np.rint(wobble + rng.normal(0.0, jitter, (frames, 2))).astype(np.int64)


def misregistration(spec: ScenarioSpec) -> np.ndarray:
    """The thermal view's offset (int px) from the RGB view of a drone ``spec``: zero unless it has
    ``misalignment``; else :data:`MISREGISTRATION_PX` scaled to the short side (at least 2 px) in a
    random direction, rounded."""
    if "misalignment" not in spec.attributes:
        return np.zeros(2, dtype=np.int64)
    rng = _rng(spec.seed, "misalignment")
    scale = min(spec.width, spec.height) / FULL_HD_SHORT
    magnitude = max(MISREGISTRATION_PX[0], rng.uniform(*MISREGISTRATION_PX) * scale)
    angle = rng.uniform(0, 2 * np.pi)
    return np.rint(magnitude * np.array([math.cos(angle), math.sin(angle)])).astype(np.int64)


def _follow(
    rng: np.random.Generator, difficulty: DroneDifficulty, target_path: np.ndarray, zoom: np.ndarray,
    shake: np.ndarray, spec: ScenarioSpec, side_px: float, pad: int,
) -> np.ndarray:
    """Integer RGB camera origins ``(frames, 2)`` (top-left of the view at zoom 1) following
    ``target_path``: panning late (``lag_s``, capped at :data:`LAG_MAX_SHARE` of the short side of lag),
    its offset from the target wandering, jerked and shaken; the target's box is kept inside the image.

    Raises :class:`InputError` when the views cover more ground than :data:`MAX_CANVAS_PIXELS`.
    """
    frames, fps = spec.frames, spec.fps
    size = np.array([spec.width, spec.height], dtype=np.float64)
    scale = min(spec.width, spec.height) / FULL_HD_SHORT
    step = np.diff(target_path, axis=0)
    top_speed = float(np.linalg.norm(step, axis=1).max()) * fps if frames > 1 else 0.0
    lag_s = min(difficulty.lag_s, LAG_MAX_SHARE * size.min() / max(top_speed, 1e-9))
    follow = target_path.copy()
    if lag_s > 0 and frames > 1:
        gain = 1.0 - math.exp(-1.0 / (lag_s * fps))
        follow[0] = target_path[0] - step[0] * (1 - gain) / gain  # already in its steady lag
        for t in range(1, frames):
            follow[t] = follow[t - 1] + gain * (target_path[t] - follow[t - 1])
    offsets = _camera_offsets(rng, frames, spec.width, spec.height, difficulty.drift_px, difficulty.drift_bound)
    centre = follow + offsets + _jerks(difficulty.jerks, frames, fps, scale)
    limit = np.maximum(size / 2 - (0.75 * side_px + 8 * scale) * zoom[:, None] - 2 * np.abs(shake), 0)
    in_image = np.clip((target_path - centre) * zoom[:, None], -limit, limit)
    camera = np.rint(target_path - in_image / zoom[:, None] - size / 2).astype(np.int64) + shake
    low, extent = _views(camera, zoom, size)
    covered = np.ceil((low + extent).max(axis=0) - low.min(axis=0)) + 2 * pad
    if int(covered[0]) * int(covered[1]) > MAX_CANVAS_PIXELS:
        raise InputError(
            f"a {spec.frames}-frame drone sequence at {spec.width}x{spec.height} covers "
            f"{int(covered[0])}x{int(covered[1])} px of ground (more than {MAX_CANVAS_PIXELS}); use fewer frames"
        )
    return camera


def _views(camera: np.ndarray, zoom: np.ndarray, size: np.ndarray, shift: Optional[np.ndarray] = None):
    """World top-left ``(frames, 2)`` and extent ``(frames, 2)`` of the views of a camera at origins
    ``camera`` (top-left at zoom 1) zoomed by ``zoom`` about the image centre; ``shift``: the image
    offset of the thermal camera (its misregistration, in image px)."""
    extent = size[None, :] / zoom[:, None]
    centre = camera + size / 2
    if shift is not None:
        centre = centre + shift[None, :] / zoom[:, None]
    return centre - extent / 2, extent


def _in_view(centres: np.ndarray, views: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``centres (..., frames, 2)`` inside the views ``(top-left, extent)`` of :func:`_views`."""
    relative = centres - views[0]
    extent = views[1]
    return (
        (relative[..., 0] >= 0) & (relative[..., 0] < extent[:, 0])
        & (relative[..., 1] >= 0) & (relative[..., 1] < extent[:, 1])
    )


def _place_vehicles(
    rng: np.random.Generator, count: int, heading: float, lane_speeds: np.ndarray, target_lane: int,
    target_along: np.ndarray, crossing: float, spacing: float, lane_width: float,
    views: tuple[np.ndarray, np.ndarray],
) -> Optional[np.ndarray]:
    """Look-alike centre paths ``(count, frames, 2)`` in lanes (the target in lane ``target_lane`` at
    ``target_along`` px along the road per frame, 0 at frame 0), or ``None`` when they do not fit. Cars
    in one lane keep ``spacing`` (and clear of the target in its lane). The first one overtakes or is
    overtaken by the target in a neighbouring lane at frame ``crossing``."""
    lanes = len(lane_speeds)
    frames = len(target_along)
    direction = np.array([math.cos(heading), math.sin(heading)])
    normal = np.array([-direction[1], direction[0]])
    t = np.arange(frames, dtype=np.float64)
    reach = float(np.hypot(*views[1].max(axis=0)))

    def paths(lane: int, starts: np.ndarray) -> np.ndarray:
        along = np.asarray(starts, dtype=np.float64)[:, None] + lane_speeds[lane] * t
        return ((lane - target_lane) * lane_width) * normal + along[..., None] * direction

    def clear_of_target(start: float) -> bool:
        return bool(np.abs(start + lane_speeds[target_lane] * t - target_along).min() >= spacing)

    neighbours = [lane for lane in (target_lane - 1, target_lane + 1) if 0 <= lane < lanes]
    crossing_lane = neighbours[int(rng.integers(len(neighbours)))]
    placed: dict[int, list[float]] = {lane: [] for lane in range(lanes)}
    first = float(np.interp(crossing, t, target_along)) - float(lane_speeds[crossing_lane]) * crossing
    placed[crossing_lane].append(first)
    chosen = [(crossing_lane, first)]
    candidates = []
    for lane in range(lanes):
        relative = abs(lane_speeds[lane] - lane_speeds[target_lane]) * frames
        starts = np.arange(-reach - relative, reach + relative, spacing / 4)
        visible = _in_view(paths(lane, starts), views).any(axis=1)
        candidates += [(lane, float(start)) for start in starts[visible]]
    for index in rng.permutation(len(candidates)):
        if len(chosen) == count:
            break
        lane, start = candidates[index]
        if all(abs(start - other) >= spacing for other in placed[lane]) and (
            lane != target_lane or clear_of_target(start)
        ):
            placed[lane].append(start)
            chosen.append((lane, start))
    if len(chosen) < count:
        return None
    return np.concatenate([paths(lane, [start]) for lane, start in chosen[:count]])


def _place_walkers(
    rng: np.random.Generator, count: int, target_path: np.ndarray, velocities: np.ndarray, crossing: float,
    clearance: float, side: float, views: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Paths ``(count, frames, 2)`` of look-alike walkers with ``velocities`` (px/frame) beside a target
    on ``target_path``: each seen at some time and never closer than ``clearance`` to another or to the
    target. The first passes the target 1.2-1.7 target sizes (``side``) to its side at frame
    ``crossing`` (on the other side if the target's turn would bring them too close)."""
    frames = len(target_path)
    t = np.arange(frames, dtype=np.float64)[:, None]
    level = np.array([np.interp(crossing, t[:, 0], target_path[:, k]) for k in range(2)])
    at = min(int(crossing), frames - 2) if frames > 1 else 0
    target_velocity = target_path[at + 1] - target_path[at] if frames > 1 else np.zeros(2)
    relative = velocities[0] - target_velocity
    normal = np.array([-relative[1], relative[0]]) / max(np.linalg.norm(relative), 1e-9)
    lateral = max(rng.uniform(1.2, 1.7) * side, 1.05 * clearance) * (1 if rng.random() < 0.5 else -1)
    placed = np.empty((count + 1, frames, 2))
    placed[0] = target_path
    for sign in (1, -1):
        placed[1] = level + sign * lateral * normal + (t - crossing) * velocities[0]
        if np.linalg.norm(placed[1] - target_path, axis=1).min() >= clearance:
            break
    done = 2
    low, extent = views
    for _ in range(100 * count):
        if done == count + 1:
            return placed[1:]
        seen_at = int(rng.integers(frames))
        point = low[seen_at] + rng.uniform(0, 1, 2) * extent[seen_at]
        candidate = point + (t - seen_at) * velocities[done - 1]
        if np.linalg.norm(placed[:done] - candidate, axis=2).min() >= clearance:
            placed[done] = candidate
            done += 1
    if done == count + 1:
        return placed[1:]
    raise InputError(
        f"only {done - 1} of {count} look-alike walkers fit without overlap in a "
        f"{round(extent[0, 0])}x{round(extent[0, 1])} view; ask for fewer"
    )


def _overpass(rng: np.random.Generator, road_heading: float, width_m: float, span_m: float,
              conditions: _Conditions) -> DroneSprite:
    """An overpass deck ``width_m`` wide (along the road) and ``span_m`` long crossing the road at
    60-90 degrees: concrete with parapets and dashed lane markings; sun-heated by day."""
    ppm = conditions.ppm
    angle = road_heading + np.pi / 2 + rng.uniform(-0.5, 0.5)
    a, b, centre = _grid((-span_m / 2, span_m / 2, -width_m / 2, width_m / 2), angle, ppm)
    alpha = _coverage(np.maximum(np.abs(a) - span_m / 2, np.abs(b) - width_m / 2), ppm)
    texture = _smooth_noise(rng, a.shape[0], a.shape[1], max(2, int(0.8 * ppm)))
    rgb = np.array([150, 148, 142], dtype=np.float32) * (1 + 0.06 * texture)[..., None]
    parapet = np.abs(b) > width_m / 2 - 0.45
    rgb[parapet] = (196, 194, 188)
    lanes = int(max(1, (width_m - 1.0) // LANE_WIDTH_M))
    dashes = _phase(a, 9.0) < 0.35
    for divider in range(1, lanes):
        rgb[(np.abs(b - (divider - lanes / 2) * LANE_WIDTH_M) < 0.075) & dashes] = (220, 218, 206)
    rgb = np.clip(rgb + rng.normal(0, 3, a.shape).astype(np.float32)[..., None], 0, 255)
    heat = np.full(a.shape, 150.0 if conditions.night else 1100.0, dtype=np.float32)
    heat[parapet] -= 150
    return _finish_sprite(rgb, alpha, heat, centre, conditions)


def _canopy(rng: np.random.Generator, diameter_m: float, conditions: _Conditions) -> DroneSprite:
    """A tree canopy ``diameter_m`` across: a dense core disc and leafy lobes, cooler than the ground."""
    ppm, radius = conditions.ppm, diameter_m / 2
    a, b, centre = _grid((-radius, radius, -radius, radius), 0.0, ppm)
    distance = np.hypot(a, b) - 0.75 * radius
    for angle in rng.uniform(0, 2 * np.pi, int(rng.integers(4, 7))):
        lobe, reach = rng.uniform(0.35, 0.5) * radius, rng.uniform(0.2, 0.45) * radius
        distance = np.minimum(distance, np.hypot(a - reach * math.cos(angle), b - reach * math.sin(angle)) - lobe)
    alpha = _coverage(distance, ppm)
    texture = _smooth_noise(rng, a.shape[0], a.shape[1], max(2, int(0.35 * ppm)))
    shade = 0.75 + 0.25 * np.clip(-distance / (0.5 * radius), 0, 1)
    rgb = np.array(_MATERIALS["canopy"][0], dtype=np.float32) * (shade * (1 + 0.25 * texture))[..., None]
    rgb = np.clip(rgb, 0, 255)
    heat = np.full(a.shape, -150.0, dtype=np.float32) + 40 * texture
    return _finish_sprite(rgb, alpha, heat, centre, conditions)


def _occluded_fraction(target: DroneObject, occluders: tuple[DroneObject, ...]) -> np.ndarray:
    """Per frame, the share of the target's mask (alpha > 0.5) under occluders' masks (alpha > 0.5)."""
    frames = len(target.origins)
    fraction = np.zeros(frames)
    for index in range(frames):
        mask = target.sprite(index).alpha > 0.5
        covered = np.zeros_like(mask)
        for occluder in occluders:
            x, y = (int(v) for v in occluder.origins[index] - target.origins[index])
            region = _overlap(occluder.sprites[0].alpha.shape, x, y, mask.shape)
            if region is not None:
                covered[region[0]] |= occluder.sprites[0].alpha[region[1]] > 0.5
        fraction[index] = (mask & covered).sum() / max(mask.sum(), 1)
    return fraction


# ----------------------------------------------------------------------------------------------
# The ground: materials, light, thermal


@dataclass
class _Ground:
    """The ground before lighting: material labels, brightness tints, and what casts shadows or shines."""

    label: np.ndarray
    tint: np.ndarray
    casters: np.ndarray  # uint8: 0 ground, else height class of the caster
    lit_windows: np.ndarray  # uint8: 1 where a window is lit at night
    lamps: list  # (x, y) canvas px of lamp heads
    caster_heights: dict  # caster class -> height (m)


def _new_ground(shape: tuple[int, int], base: str) -> _Ground:
    return _Ground(
        label=np.full(shape, _LABEL[base], dtype=np.uint8),
        tint=np.ones(shape, dtype=np.float32),
        casters=np.zeros(shape, dtype=np.uint8),
        lit_windows=np.zeros(shape, dtype=np.uint8),
        lamps=[],
        caster_heights={},
    )


def _frame_fields(
    shape: tuple[int, int], origin: np.ndarray, angle: float, ppm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (metres) along and across ``angle`` from ``origin`` for every canvas pixel."""
    c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
    xs = ((np.arange(shape[1], dtype=np.float32) - np.float32(origin[0])) / np.float32(ppm))[None, :]
    ys = ((np.arange(shape[0], dtype=np.float32) - np.float32(origin[1])) / np.float32(ppm))[:, None]
    return xs * c + ys * s, ys * c - xs * s


def _phase(values: np.ndarray, period: float) -> np.ndarray:
    """``(values mod period) / period`` in [0, 1) (much faster than ``np.mod`` on float arrays)."""
    phase = values * np.float32(1.0 / period)
    phase -= np.floor(phase)
    return phase


def _by_material(label: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each pixel's entry of ``values`` (one row, or one value, per material) via ``cv2.LUT``: float32
    ``label.shape + (channels,)`` for rows of ``channels`` values, ``label.shape`` for scalars."""
    values = np.asarray(values, dtype=np.float32)
    channels = values.shape[1] if values.ndim == 2 else 1
    table = np.zeros((1, 256, channels), dtype=np.float32)
    table[0, : len(values)] = values.reshape(len(values), channels)
    if channels == 1:
        return cv2.LUT(label, table[..., 0])
    return cv2.LUT(cv2.merge([label] * channels), table)


def _polygon(origin: np.ndarray, angle: float, ppm: float, corners_m: np.ndarray) -> np.ndarray:
    """Canvas polygon (int32, 4 fractional bits for cv2 ``shift=4``) of corners given along/across ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    x = origin[0] + (corners_m[:, 0] * c - corners_m[:, 1] * s) * ppm
    y = origin[1] + (corners_m[:, 0] * s + corners_m[:, 1] * c) * ppm
    return np.rint(np.stack([x, y], axis=1) * 16).astype(np.int32)


def _rectangle_m(u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], dtype=np.float64)


def _fill(ground: _Ground, polygon: np.ndarray, material: str, tint: float = 1.0, caster: int = 0) -> None:
    cv2.fillConvexPoly(ground.label, polygon, _LABEL[material], lineType=cv2.LINE_8, shift=4)
    cv2.fillConvexPoly(ground.tint, polygon, float(tint), lineType=cv2.LINE_8, shift=4)
    if caster:
        cv2.fillConvexPoly(ground.casters, polygon, caster, lineType=cv2.LINE_8, shift=4)


def _tree(ground: _Ground, rng: np.random.Generator, centre: np.ndarray, radius_px: float) -> None:
    """A canopy: a few overlapping discs (caster class 1)."""
    for _ in range(int(rng.integers(3, 6))):
        offset = rng.normal(0, 0.3 * radius_px, 2)
        lobe = radius_px * rng.uniform(0.55, 0.8)
        point = tuple(int(v) for v in np.rint((centre + offset) * 16))
        cv2.circle(ground.label, point, int(lobe * 16), _LABEL["canopy"], -1, cv2.LINE_8, 4)
        cv2.circle(ground.tint, point, int(lobe * 16), float(rng.uniform(0.8, 1.2)), -1, cv2.LINE_8, 4)
        cv2.circle(ground.casters, point, int(lobe * 16), 1, -1, cv2.LINE_8, 4)


def _lamp(ground: _Ground, point: np.ndarray, ppm: float) -> None:
    cv2.circle(ground.label, tuple(int(v) for v in np.rint(point * 16)), int(max(1.0, 0.3 * ppm) * 16),
               _LABEL["lamp"], -1, cv2.LINE_8, 4)
    ground.lamps.append((float(point[0]), float(point[1])))


def _building(ground: _Ground, rng: np.random.Generator, origin, angle, ppm, u0, u1, v0, v1, facade: str) -> None:
    """A roof over ``[u0, u1] x [v0, v1]`` (metres along/across ``angle`` from ``origin``) with some
    roof equipment, and a facade strip with two rows of windows outside its ``facade`` side
    (``"u0"``, ``"u1"``, ``"v0"`` or ``"v1"``), as a slightly oblique view shows one wall."""
    roof = _ROOFS[int(rng.integers(len(_ROOFS)))]
    _fill(ground, _polygon(origin, angle, ppm, _rectangle_m(u0, u1, v0, v1)), roof, rng.uniform(0.8, 1.15), 2)
    for _ in range(int(rng.integers(0, 4))):
        cu, cv = rng.uniform(u0 + 1.5, max(u0 + 1.6, u1 - 1.5)), rng.uniform(v0 + 1.5, max(v0 + 1.6, v1 - 1.5))
        half = rng.uniform(0.5, 1.5, 2)
        box = _rectangle_m(cu - half[0], cu + half[0], cv - half[1], cv + half[1])
        _fill(ground, _polygon(origin, angle, ppm, box), "roof_metal", rng.uniform(0.7, 1.0))
    depth, spacing = rng.uniform(2.0, 3.0), rng.uniform(2.2, 3.2)
    along_v = facade[0] == "u"  # the wall runs along v
    low, high = (v0, v1) if along_v else (u0, u1)
    edge = {"u0": u0, "u1": u1, "v0": v0, "v1": v1}[facade]
    outward = 1 if facade[1] == "1" else -1

    def wall_rect(a0: float, a1: float, c0: float, c1: float) -> np.ndarray:
        """Rectangle from ``[a0, a1]`` along the wall and ``[c0, c1]`` away from it."""
        across = sorted((edge + outward * c0, edge + outward * c1))
        return _rectangle_m(*across, a0, a1) if along_v else _rectangle_m(a0, a1, *across)

    _fill(ground, _polygon(origin, angle, ppm, wall_rect(low, high, 0, depth)), "facade", rng.uniform(0.85, 1.1))
    for position in np.arange(low + 1.0, high - 1.0, spacing):
        for row in (0.3, 0.65):
            polygon = _polygon(origin, angle, ppm, wall_rect(position, position + 1.1, depth * (row - 0.12),
                                                                depth * (row + 0.12)))
            _fill(ground, polygon, "window", rng.uniform(0.85, 1.15))
            if rng.random() < 0.45:
                cv2.fillConvexPoly(ground.lit_windows, polygon, 1, cv2.LINE_8, 4)


def _road_ground(
    rng: np.random.Generator, shape: tuple[int, int], ppm: float, centre: np.ndarray, heading: float, lanes: int,
    target_along: tuple[float, float],
) -> _Ground:
    """A one-way road through ``centre`` (canvas px) along ``heading``: lanes, markings, kerbs,
    sidewalks with lamps, verges with trees and rows of buildings; ``target_along``: the stretch of
    road (metres from ``centre``) the target drives, where a zebra crossing may lie."""
    ground = _new_ground(shape, "grass")
    u, v = _frame_fields(shape, centre, heading, ppm)
    u_range = (float(u.min()), float(u.max()))
    v_reach = float(np.abs(v).max())
    half_road = lanes * LANE_WIDTH_M / 2
    sidewalk = rng.uniform(2.5, 4.0)
    side = np.abs(v)
    road = side <= half_road + 0.4
    ground.label[road] = _LABEL["asphalt"]
    for lane in range(lanes):  # tyre tracks
        track = (np.abs(np.abs(v - (lane - (lanes - 1) / 2) * LANE_WIDTH_M) - 0.8) < 0.3) & road
        ground.tint[track] = 0.88
    dashes = _phase(u, 12.0) < 0.25
    for divider in range(1, lanes):
        ground.label[(np.abs(v - (divider - lanes / 2) * LANE_WIDTH_M) < 0.075) & dashes] = _LABEL["marking"]
    ground.label[np.abs(side - half_road) < 0.08] = _LABEL["marking"]
    if rng.random() < 0.6:
        crossing_u = rng.uniform(*target_along)
        zebra = (np.abs(u - crossing_u) < 2.0) & (_phase(v, 1.2) < 0.5) & (side < half_road - 0.3)
        ground.label[zebra] = _LABEL["marking"]
    ground.label[(side > half_road + 0.4) & (side <= half_road + 0.65)] = _LABEL["curb"]
    walk = (side > half_road + 0.65) & (side <= half_road + 0.65 + sidewalk)
    tile = rng.uniform(0.4, 0.7)
    ground.label[walk] = _LABEL["paving"]
    ground.label[walk & ((_phase(u, tile) < 0.03 / tile) | (_phase(v, tile) < 0.03 / tile))] = _LABEL["joint"]
    del u, v, side, road, dashes, walk
    verge = half_road + 0.65 + sidewalk
    lamp_spacing = rng.uniform(25, 35)
    for sign in (-1, 1):
        for lamp_u in np.arange(u_range[0] - rng.uniform(0, lamp_spacing), u_range[1] + 1, lamp_spacing):
            _lamp(ground, centre + _rotate(np.array([lamp_u, sign * (half_road + 1.0)]), heading) * ppm, ppm)
        tree_u = u_range[0] - 5
        while tree_u < u_range[1] + 5:
            tree_u += rng.uniform(6, 18)
            point = centre + _rotate(np.array([tree_u, sign * (verge + rng.uniform(1.5, 3.5))]), heading) * ppm
            _tree(ground, rng, point, rng.uniform(2.0, 4.5) * ppm)
    # Rows of buildings (some lots are small parks) beyond the verges; facades on the side that
    # faces most down the image.
    down = {"v1": math.cos(heading), "v0": -math.cos(heading), "u1": math.sin(heading), "u0": -math.sin(heading)}
    facade = max(down, key=down.get)
    for sign in (-1, 1):
        row_start = verge + rng.uniform(5, 9)
        while row_start < v_reach:
            depth = rng.uniform(10, 22)
            v0, v1 = sorted((sign * row_start, sign * (row_start + depth)))
            building_u = u_range[0] - rng.uniform(0, 30)
            while building_u < u_range[1]:
                length = rng.uniform(12, 40)
                if rng.random() < 0.2:
                    for _ in range(int(rng.integers(2, 5))):
                        point = _rotate(np.array([rng.uniform(building_u, building_u + length), rng.uniform(v0, v1)]),
                                        heading)
                        _tree(ground, rng, centre + point * ppm, rng.uniform(2.5, 5.0) * ppm)
                else:
                    _building(ground, rng, centre, heading, ppm, building_u, building_u + length, v0, v1, facade)
                building_u += length + rng.uniform(3.5, 10)
            row_start += depth + rng.uniform(6, 10)
    ground.caster_heights = {1: 6.0, 2: rng.uniform(8, 18)}
    return ground


def _square_ground(
    rng: np.random.Generator, shape: tuple[int, int], ppm: float, keep_clear: np.ndarray
) -> _Ground:
    """A paved square (stone tiles with darker bands) with a fountain, planters with trees, benches
    and lamps placed at least 1 m from every path in ``keep_clear`` ``(n, 2)`` (canvas px)."""
    ground = _new_ground(shape, "stone")
    angle = rng.uniform(0, np.pi / 2)
    u, v = _frame_fields(shape, np.array([0.0, 0.0]), angle, ppm)
    tile = rng.uniform(0.5, 0.9)
    iu, iv = np.floor(u / tile).astype(np.int64), np.floor(v / tile).astype(np.int64)
    tints = rng.uniform(0.85, 1.12, 4096).astype(np.float32)
    ground.tint = tints[(iu * 73856093 ^ iv * 19349663) & 4095]
    joints = (_phase(u, tile) < 0.03 / tile) | (_phase(v, tile) < 0.03 / tile)
    ground.label[joints] = _LABEL["joint"]
    band = rng.uniform(8, 14)
    ground.label[(_phase(u, band) < 1.0 / band) & ~joints] = _LABEL["paving"]
    del u, v, iu, iv, joints
    height, width = shape

    def clear(point: np.ndarray, radius_px: float) -> bool:
        return bool(np.linalg.norm(keep_clear - point, axis=1).min() > radius_px + ppm)

    def spot(radius_px: float) -> Optional[np.ndarray]:
        for _ in range(30):
            point = rng.uniform(0, 1, 2) * np.array([width, height])
            if clear(point, radius_px):
                return point
        return None

    area_m2 = width * height / ppm**2
    if rng.random() < 0.7:
        radius = rng.uniform(3, 5) * ppm
        point = spot(radius)
        if point is not None:
            p = tuple(int(c) for c in np.rint(point * 16))
            cv2.circle(ground.label, p, int(radius * 16), _LABEL["stone"], -1, cv2.LINE_8, 4)
            cv2.circle(ground.label, p, int((radius - 0.5 * ppm) * 16), _LABEL["water"], -1, cv2.LINE_8, 4)
    for _ in range(int(min(40, area_m2 / 400)) + 2):
        radius = rng.uniform(1.5, 2.5) * ppm
        point = spot(radius + 1.5 * ppm)
        if point is not None:
            cv2.circle(ground.label, tuple(int(c) for c in np.rint(point * 16)), int(radius * 16), _LABEL["soil"],
                       -1, cv2.LINE_8, 4)
            _tree(ground, rng, point, rng.uniform(2.0, 3.5) * ppm)
    for _ in range(int(min(60, area_m2 / 250)) + 3):
        point = spot(1.0 * ppm)
        if point is not None:
            bench_angle = angle + (np.pi / 2 if rng.random() < 0.5 else 0.0)
            _fill(ground, _polygon(point, bench_angle, ppm, _rectangle_m(-0.9, 0.9, -0.25, 0.25)), "wood",
                  rng.uniform(0.8, 1.1))
    # Lamps on a grid, at least one on the canvas (their heads hang above the walkers).
    spacing = rng.uniform(8, 14)
    lamp_u, lamp_v = np.meshgrid(
        np.arange(0, (width + height) / ppm, spacing), np.arange(-width / ppm, height / ppm, spacing)
    )
    for point in np.stack([lamp_u.ravel(), lamp_v.ravel()], axis=1) + rng.uniform(0, spacing, 2):
        canvas_point = _rotate(point, angle) * ppm
        if 0 <= canvas_point[0] < width and 0 <= canvas_point[1] < height:
            _lamp(ground, canvas_point, ppm)
    if not ground.lamps:
        _lamp(ground, rng.uniform(0, 1, 2) * np.array([width, height]), ppm)
    ground.caster_heights = {1: 5.0, 2: 10.0}
    return ground


def _rotate(vector: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([vector[0] * c - vector[1] * s, vector[0] * s + vector[1] * c])


@dataclass(frozen=True)
class _Lighting:
    light: np.ndarray  # (H, W) illumination of objects
    tint: np.ndarray  # (3,) colour of that light
    rgb: np.ndarray  # (H, W, 3) the ground as the RGB camera sees it
    thermal: np.ndarray  # (H, W) counts


def _shade(
    ground: _Ground, rng: np.random.Generator, night_rng: np.random.Generator, conditions: _Conditions
) -> _Lighting:
    """Materials, texture, sunlight and shadows or night lights (drawn from ``night_rng`` alone);
    thermal from the same materials."""
    night, ppm = conditions.night, conditions.ppm
    shape = ground.label.shape
    height, width = shape
    table = list(_MATERIALS.values())
    texture = _by_material(ground.label, [entry[1] for entry in table])
    grain_amplitude = _by_material(ground.label, [entry[2] for entry in table])
    heat = _by_material(ground.label, [entry[4] if night else entry[3] for entry in table])
    mid = _smooth_noise(rng, height, width, max(4, int(1.5 * ppm)))
    large = _smooth_noise(rng, height, width, max(8, int(12 * ppm)))
    grain = cv2.GaussianBlur(rng.standard_normal(shape, dtype=np.float32), (0, 0), 0.7)
    factor = ground.tint * (1 + texture * (0.7 * mid + 0.5 * large))
    rgb = _by_material(ground.label, [entry[0] for entry in table]) * factor[..., None]
    rgb += (grain * grain_amplitude * 1.6)[..., None]
    thermal = conditions.ambient + heat + 40 * mid + 50 * large + 10 * grain
    del texture, grain_amplitude, heat, factor, grain
    if night:
        ambient_light = night_rng.uniform(0.05, 0.1)
        tint = np.array([1.0, 0.72, 0.42] if night_rng.random() < 0.5 else [1.0, 0.96, 0.88], dtype=np.float32)
        pools = np.zeros(shape, dtype=np.float32)
        emissive = np.zeros(shape, dtype=np.float32)
        for x, y in ground.lamps:
            sigma = night_rng.uniform(4, 7) * ppm
            _add_blob(pools, x, y, sigma, night_rng.uniform(0.35, 0.6))
            _add_blob(emissive, x, y, max(1.0, 0.15 * ppm), 3000.0)
            _add_blob(emissive, x, y, max(1.5, 0.8 * ppm), 180.0)
            _add_blob(thermal, x, y, max(1.0, 0.2 * ppm), 300.0)
        light = ambient_light + pools
        sky = np.array([0.75, 0.85, 1.0], dtype=np.float32) * ambient_light
        rgb = rgb * sky + (rgb * pools[..., None]) * tint + emissive[..., None] * tint
        lit = ground.lit_windows > 0
        rgb[lit] += np.array([200, 170, 105], dtype=np.float32)
        thermal[lit] += 150
        return _Lighting(light=light.astype(np.float32), tint=tint, rgb=rgb.astype(np.float32), thermal=thermal)
    shadow = np.zeros(shape, dtype=np.float32)
    for caster, caster_height in ground.caster_heights.items():
        mask = (ground.casters == caster).astype(np.float32)
        shift = conditions.sun * conditions.shadow_per_m * caster_height
        moved = cv2.warpAffine(mask, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), (width, height))
        np.maximum(shadow, moved, out=shadow)
    shadow[ground.casters > 0] = 0  # roofs and canopies are lit
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(0.8, 0.1 * ppm))
    light = 1.0 - 0.55 * shadow
    tint = np.array([1.0, 0.99, 0.96], dtype=np.float32)
    rgb *= (light[..., None] * tint)
    thermal -= 300 * shadow
    return _Lighting(light=light.astype(np.float32), tint=tint, rgb=rgb, thermal=thermal)


def _add_blob(image: np.ndarray, x: float, y: float, sigma: float, amplitude: float) -> None:
    """Add a Gaussian of ``sigma`` px at ``(x, y)`` to ``image`` in place (3 sigma, clipped)."""
    reach = int(math.ceil(3 * sigma))
    x0, y0 = max(int(x) - reach, 0), max(int(y) - reach, 0)
    x1, y1 = min(int(x) + reach + 1, image.shape[1]), min(int(y) + reach + 1, image.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - x)[None, :]
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - y)[:, None]
    image[y0:y1, x0:x1] += amplitude * np.exp(-(xs**2 + ys**2) / (2 * sigma**2))


# ----------------------------------------------------------------------------------------------
# The plan


@dataclass(frozen=True)
class DronePlan:
    """Everything about a drone sequence except per-frame sensor noise (see :func:`render_drone_frame`).

    World coordinates are canvas pixels. At frame ``t`` the RGB image shows the world around
    ``camera[t] + size / 2`` magnified by ``zoom[t]``: at zoom 1 image ``(0, 0)`` is world ``camera[t]``
    (shake included); the thermal image is that view moved by ``misalignment`` image px
    (:meth:`view`).

    Attributes:
        canvas_rgb / canvas_thermal: the lit ground as each camera sees it (RGB before saturation).
        light / light_tint: illumination of objects per canvas pixel and its colour.
        objects: look-alikes first (the first one passes the target), the target last (drawn on top
            of them).
        occluders: drawn over every object (an overpass or a canopy; may be empty).
        occluded_fraction: ``(frames,)`` share of the target's mask under occluders.
        direction: unit vector (image px) of the common direction of motion.
        lanes: number of lanes (0 for pedestrians).
        ppm: scale of the scene (pixels per metre at zoom 1), set by the target's drawn size.
        camera: ``(frames, 2)`` int RGB view origins at zoom 1; zoom: ``(frames,)`` magnification.
        shake: ``(frames, 2)`` int shake included in ``camera``.
        difficulty: the factors the sequence was planned with.
        fixed_pattern: ``(height, width)`` thermal fixed-pattern noise (counts).
        noise_rgb / noise_thermal: sensor noise (already scaled), a little larger than the image;
            each frame reads it at its own random offset.
        flags: per flag, ``(frames,)`` bool.
    """

    spec: ScenarioSpec
    canvas_rgb: np.ndarray
    canvas_thermal: np.ndarray
    light: np.ndarray
    light_tint: np.ndarray
    objects: tuple[DroneObject, ...]
    occluders: tuple[DroneObject, ...]
    occluded_fraction: np.ndarray
    direction: np.ndarray
    lanes: int
    ppm: float
    camera: np.ndarray
    zoom: np.ndarray
    shake: np.ndarray
    misalignment: np.ndarray
    difficulty: DroneDifficulty
    fixed_pattern: np.ndarray
    noise_rgb: np.ndarray
    noise_thermal: np.ndarray
    stamps_rgb_ns: np.ndarray
    stamps_thermal_ns: np.ndarray
    flags: dict

    @property
    def target(self) -> DroneObject:
        """The tracked object (the last object)."""
        return self.objects[-1]

    @property
    def target_boxes(self) -> np.ndarray:
        """``(frames, 4)`` int world boxes of the target."""
        return self.target.boxes

    @property
    def lookalike_boxes(self) -> np.ndarray:
        """``(lookalikes, frames, 4)`` int world boxes."""
        return np.stack([item.boxes for item in self.objects[:-1]])

    def view(self, index: int, thermal: bool = False) -> tuple[np.ndarray, float]:
        """World position of a camera's image corner ``(0, 0)`` at frame ``index`` (float64) and the
        magnification (image px per world px)."""
        zoom = float(self.zoom[index])
        size = np.array(self.spec.size, dtype=np.float64)
        centre = self.camera[index] + size / 2 + (self.misalignment / zoom if thermal else 0.0)
        return centre - size / (2 * zoom), zoom

    def image_box(self, index: int, thermal: bool = False) -> Optional[np.ndarray]:
        """Ground truth ``[x, y, w, h]`` (float64) in a camera's image, clipped; ``None`` out of view
        (the true box also while the target is hidden, as the ``basic`` family does)."""
        corner, zoom = self.view(index, thermal)
        return image_box(self.target_boxes[index] * zoom, corner * zoom, self.spec.size)


def plan_drone_sequence(spec: ScenarioSpec, difficulty: Optional[DroneDifficulty] = None) -> DronePlan:
    """Draw the scene, the traffic, the camera and the lighting of a drone ``spec`` (module doc), with
    the difficulty factors of :func:`draw_difficulty` unless ``difficulty`` is given."""
    width, height, frames, seed, fps = spec.width, spec.height, spec.frames, spec.seed, spec.fps
    difficulty = draw_difficulty(spec) if difficulty is None else difficulty
    wanted = set(spec.attributes)
    night, walkers = "night" in wanted, "pedestrians" in wanted
    scale = min(width, height) / FULL_HD_SHORT
    size = np.array([width, height], dtype=np.float64)
    layout, objects_rng = _rng(seed, "drone_layout"), _rng(seed, "drone_objects")
    camera_rng = _rng(seed, "drone_camera")
    heading = float(layout.uniform(0, 2 * np.pi))
    direction = np.array([math.cos(heading), math.sin(heading)])
    last = max(frames - 1, 1)
    crossing = difficulty.crossing * last
    speed_factor = _speed_factor(frames, fps, difficulty.stop)

    # The target sets the scale: its box's longer side is drawn in the size range.
    low, high = target_size_range(width, height)
    side_px = objects_rng.uniform(low + 1, max(low + 1, high - 1))
    target_look = _person_look(objects_rng) if walkers else _vehicle_look(objects_rng)
    if walkers:  # index 0: the target; 1: the look-alike that passes it
        headings = heading + np.clip(objects_rng.normal(0, 0.15, spec.lookalikes + 1), -0.4, 0.4)
        speeds = objects_rng.uniform(1.0, 1.7, spec.lookalikes + 1)
        # The one passing the target walks 0.35-0.6 m/s faster or slower than it.
        faster = 1.0 if objects_rng.random() < 0.5 else -1.0
        speeds[1] = np.clip(speeds[0] + faster * objects_rng.uniform(0.35, 0.6), 0.6, 2.2)
        headings[1] = headings[0] + objects_rng.uniform(-0.1, 0.1)
        target_heading = float(headings[0])
    else:
        target_heading = heading
    ppm = side_px / _box_side_m(target_look, target_heading)
    to_px = ppm / fps
    zoom = _zoom(frames, fps, difficulty.zoom, side_px, scale)

    shake = _shake(camera_rng, frames, fps, scale)
    # The canvas holds every view of either camera, whatever the misregistration, plus a margin.
    pad = math.ceil(max(MISREGISTRATION_PX[1] * scale, MISREGISTRATION_PX[0]) / min(float(zoom.min()), 1.0)) + 4
    t = np.arange(frames, dtype=np.float64)
    if walkers:
        turn_angle = np.zeros(frames)
        if difficulty.turn is not None:
            turn_angle = difficulty.turn[1] * _smoothstep((t - difficulty.turn[0] * last) / (TURN_S * fps))
        step = speeds[0] * to_px * speed_factor
        target_path = _integrate(np.stack([np.cos(target_heading + turn_angle),
                                           np.sin(target_heading + turn_angle)], axis=1) * step[:, None])
        camera = _follow(camera_rng, difficulty, target_path, zoom, shake, spec, side_px, pad)
        views = _views(camera, zoom, size)
        velocities = np.stack([np.cos(headings[1:]), np.sin(headings[1:])], axis=1) * speeds[1:, None] * to_px
        paths = _place_walkers(objects_rng, spec.lookalikes, target_path, velocities, crossing, 0.6 * ppm,
                               side_px, views)
        lookalike_headings = headings[1 : spec.lookalikes + 1]
        lanes = 0
    else:
        base, step = layout.uniform(5.0, 8.0), layout.uniform(1.5, 2.5)
        faster_left = layout.random() < 0.5
        lane_fraction = layout.uniform()
        spacing = (1.1 * target_look.length + 1.5) * ppm
        paths = None
        for lanes in range(int(layout.integers(2, 5)), MAX_LANES + 1):
            order = np.arange(lanes)[::-1] if faster_left else np.arange(lanes)
            lane_speeds = (base + step * order) * to_px
            target_lane = min(int(lane_fraction * lanes), lanes - 1)
            target_along = lane_speeds[target_lane] * np.r_[0.0, np.cumsum(speed_factor[:-1])]
            target_path = target_along[:, None] * direction
            camera = _follow(camera_rng, difficulty, target_path, zoom, shake, spec, side_px, pad)
            views = _views(camera, zoom, size)
            paths = _place_vehicles(objects_rng, spec.lookalikes, heading, lane_speeds, target_lane, target_along,
                                    crossing, spacing, LANE_WIDTH_M * ppm, views)
            if paths is not None:
                break
        if paths is None:
            raise InputError(
                f"{spec.lookalikes} look-alike vehicles do not fit on {MAX_LANES} lanes in a {width}x{height} view; "
                "ask for fewer"
            )
        lookalike_headings = np.full(spec.lookalikes, heading)

    view_low, view_extent = views
    corner = np.floor(view_low.min(axis=0)).astype(np.int64) - pad
    canvas_size = np.ceil((view_low + view_extent).max(axis=0)).astype(np.int64) + pad - corner
    shape = (int(canvas_size[1]), int(canvas_size[0]))
    camera = camera - corner
    target_path = target_path - corner
    paths = paths - corner

    sun_angle = layout.uniform(0, 2 * np.pi)
    conditions = _Conditions(
        night=night,
        ppm=ppm,
        ambient=float(layout.uniform(7000.0, 8000.0)),
        thermal_sigma=max(0.5, 1.2 * scale),
        sun=np.array([math.cos(sun_angle), math.sin(sun_angle)]),
        shadow_per_m=ppm / math.tan(layout.uniform(math.radians(35), math.radians(65))),
        glare=difficulty.glare,
    )
    if walkers:
        every = np.concatenate([target_path[::5], paths[:, ::5].reshape(-1, 2)])
        ground = _square_ground(layout, shape, ppm, every)
    else:
        normal = np.array([-direction[1], direction[0]])
        road_centre = target_path[0] - (target_lane - (lanes - 1) / 2) * LANE_WIDTH_M * ppm * normal
        target_along_m = (target_path[[0, -1]] - road_centre) @ direction / ppm
        ground = _road_ground(layout, shape, ppm, road_centre, heading, lanes,
                              (float(target_along_m.min()), float(target_along_m.max()) + 1e-3))
    lighting = _shade(ground, layout, _rng(seed, "drone_night"), conditions)
    del ground
    canvas_thermal = cv2.GaussianBlur(lighting.thermal.astype(np.float32), (0, 0), conditions.thermal_sigma)

    looks = [
        (_person_look if walkers else _vehicle_look)(objects_rng, target_look, twin=difficulty.twin and k == 0)
        for k in range(spec.lookalikes)
    ]
    make = _person_sprite if walkers else _vehicle_sprite
    items = [
        _place([make(look, float(object_heading), conditions, objects_rng)], path)
        for look, path, object_heading in zip(looks, paths, lookalike_headings)
    ]
    if walkers:  # one sprite per TURN_STEP of heading the target takes
        poses = np.rint(turn_angle / TURN_STEP).astype(np.int64)
        first = int(poses.min())
        sprites = [make(target_look, target_heading + k * TURN_STEP, conditions, objects_rng)
                   for k in range(first, int(poses.max()) + 1)]
        items.append(_place(sprites, target_path, poses - first))
    else:
        items.append(_place([make(target_look, target_heading, conditions, objects_rng)], target_path))
    objects = tuple(items)

    occluders: tuple[DroneObject, ...] = ()
    if difficulty.occlusion is not None:
        occluder_rng = _rng(seed, "drone_difficulty", 1)
        at = target_path[int(round(difficulty.occlusion * last))]
        if walkers:
            sprite = _canopy(occluder_rng, difficulty.occluder_m, conditions)
            at = at + occluder_rng.uniform(-0.1, 0.1, 2) * difficulty.occluder_m * ppm
        else:
            span = lanes * LANE_WIDTH_M + 2 * occluder_rng.uniform(6.0, 12.0)
            sprite = _overpass(occluder_rng, heading, difficulty.occluder_m, span, conditions)
            at = at + (target_lane - (lanes - 1) / 2) * LANE_WIDTH_M * ppm * np.array([direction[1], -direction[0]])
        occluders = (_place([sprite], np.broadcast_to(at, (frames, 2))),)
    occluded = _occluded_fraction(objects[-1], occluders)

    sensor = _rng(seed, "drone_sensor")
    fixed_pattern = (
        sensor.normal(0.0, THERMAL_COLUMN_FPN, (1, width)) + sensor.normal(0.0, THERMAL_ROW_FPN, (height, 1))
    ).astype(np.float32)
    noise_rgb = sensor.standard_normal((height + _NOISE_PAD, width + _NOISE_PAD, 3), dtype=np.float32)
    noise_rgb *= np.float32(RGB_NOISE_NIGHT if night else RGB_NOISE_DAY)
    noise_thermal = sensor.standard_normal((height + _NOISE_PAD, width + _NOISE_PAD), dtype=np.float32)
    noise_thermal *= np.float32(THERMAL_NOISE)
    stamps_rgb_ns, stamps_thermal_ns = _stamps(_rng(seed, "stamps"), spec)
    return DronePlan(
        spec=spec,
        canvas_rgb=lighting.rgb,
        canvas_thermal=canvas_thermal,
        light=lighting.light,
        light_tint=lighting.tint,
        objects=objects,
        occluders=occluders,
        occluded_fraction=occluded,
        direction=direction,
        lanes=lanes,
        ppm=float(ppm),
        camera=camera,
        zoom=zoom,
        shake=shake,
        misalignment=misregistration(spec),
        difficulty=difficulty,
        fixed_pattern=fixed_pattern,
        noise_rgb=noise_rgb,
        noise_thermal=noise_thermal,
        stamps_rgb_ns=stamps_rgb_ns,
        stamps_thermal_ns=stamps_thermal_ns,
        flags=_drone_flags(spec, objects, _views(camera, zoom, size), zoom, occluded),
    )


#: Extra rows/columns of the per-sequence noise fields; each frame reads them at its own offset.
_NOISE_PAD = 64
#: Heading step (radians) between the sprites of a turning walker.
TURN_STEP = math.radians(6.0)


def _drone_flags(
    spec: ScenarioSpec, objects: tuple[DroneObject, ...], views: tuple[np.ndarray, np.ndarray],
    zoom: np.ndarray, occluded: np.ndarray,
) -> dict:
    """Per-frame flags (see the module doc) from the planned boxes, the RGB views and the occlusion."""
    frames, wanted = spec.frames, set(spec.attributes)
    every, none = np.ones(frames, dtype=bool), np.zeros(frames, dtype=bool)
    target = objects[-1].boxes.astype(np.float64)
    centre = target[:, :2] + target[:, 2:] / 2
    in_image = (centre - views[0]) * zoom[:, None]
    displacement = np.r_[0.0, np.linalg.norm(np.diff(in_image, axis=0), axis=1)]
    area = target[:, 2] * target[:, 3] * zoom**2
    scale = np.sqrt(area / area[0])
    others = np.stack([item.boxes for item in objects[:-1]]).astype(np.float64)
    other_centres = others[..., :2] + others[..., 2:] / 2
    low, extent = views
    in_view = (
        (others[..., 0] + others[..., 2] > low[:, 0]) & (others[..., 0] < low[:, 0] + extent[:, 0])
        & (others[..., 1] + others[..., 3] > low[:, 1]) & (others[..., 1] < low[:, 1] + extent[:, 1])
    )
    near = in_view & (np.linalg.norm(other_centres - centre, axis=2) < DISTRACTOR_NEAR * target[:, 2:].max(axis=1))
    night = "night" in wanted
    flags = {name: none for name in ATTRIBUTES}
    flags.update(
        low_illumination=every if night else none,
        partial_occlusion=(occluded >= PARTIAL_OCCLUSION_MIN) & (occluded < 1.0),
        full_occlusion=occluded >= 1.0,
        distractor=near.any(axis=0),
        scale_change=(scale > SCALE_CHANGE_RATIO) | (scale < 1.0 / SCALE_CHANGE_RATIO),
        fast_motion=displacement > FAST_MOTION_PX,
        camera_shake=every,
        misalignment=every if "misalignment" in wanted else none,
        pedestrians=every if "pedestrians" in wanted else none,
        night=every if night else none,
    )
    return flags


# ----------------------------------------------------------------------------------------------
# Rendering


def _overlap(patch_shape: tuple[int, int], x: int, y: int, image_shape: tuple[int, int]):
    """``(image slices, patch slices)`` where a patch at ``(x, y)`` overlaps the image, or ``None``."""
    height, width = patch_shape
    x1, y1 = max(x, 0), max(y, 0)
    x2, y2 = min(x + width, image_shape[1]), min(y + height, image_shape[0])
    if x2 <= x1 or y2 <= y1:
        return None
    return (slice(y1, y2), slice(x1, x2)), (slice(y1 - y, y2 - y), slice(x1 - x, x2 - x))


def _draw_rgb(plan: DronePlan, image: np.ndarray, sprite: DroneSprite, origin: np.ndarray, corner: np.ndarray) -> None:
    """Blend a sprite at world ``origin``, lit by the light there, into ``image`` (world ``corner``)."""
    region = _overlap(sprite.alpha.shape, int(origin[0] - corner[0]), int(origin[1] - corner[1]), image.shape[:2])
    if region is None:
        return
    (rows, cols), patch = region
    light = plan.light[corner[1] + rows.start : corner[1] + rows.stop, corner[0] + cols.start : corner[0] + cols.stop]
    lit = sprite.rgb[patch] * (light[..., None] * plan.light_tint)
    target = image[region[0]]
    target += sprite.alpha[patch][..., None] * (lit - target)


def _compose(plan: DronePlan, index: int, corner: np.ndarray, shape: tuple[int, int], thermal: bool) -> np.ndarray:
    """The world ``shape`` region at integer ``corner`` as one camera sees it at frame ``index``: the
    ground, shadows (RGB), objects, lights (RGB) and occluders."""
    cx, cy = (int(v) for v in corner)
    rows, cols = slice(cy, cy + shape[0]), slice(cx, cx + shape[1])
    if thermal:
        image = plan.canvas_thermal[rows, cols].copy()
        for item in plan.objects + plan.occluders:
            sprite = item.sprite(index)
            region = _overlap(sprite.alpha.shape, int(item.origins[index, 0]) - cx, int(item.origins[index, 1]) - cy,
                              shape)
            if region is not None:
                target = image[region[0]]
                target += sprite.thermal_alpha[region[1]] * (sprite.thermal[region[1]] - target)
        return image
    image = plan.canvas_rgb[rows, cols].copy()
    for item in plan.objects:
        shadow = item.sprite(index).shadow
        if shadow is not None:
            x, y = (int(v) for v in item.origins[index] + shadow[1] - (cx, cy))
            region = _overlap(shadow[0].shape, x, y, shape)
            if region is not None:
                image[region[0]] *= (1.0 - shadow[0][region[1]])[..., None]
    for item in plan.objects:
        _draw_rgb(plan, image, item.sprite(index), item.origins[index], (cx, cy))
    for item in plan.objects:
        glow = item.sprite(index).glow
        if glow is not None:
            x, y = (int(v) for v in item.origins[index] + glow[1] - (cx, cy))
            region = _overlap(glow[0].shape[:2], x, y, shape)
            if region is not None:
                image[region[0]] += glow[0][region[1]]
    for item in plan.occluders:
        _draw_rgb(plan, image, item.sprite(index), item.origins[index], (cx, cy))
    return image


def _camera_image(plan: DronePlan, index: int, thermal: bool) -> np.ndarray:
    """One camera's float image at frame ``index`` before sensor noise: a crop of the world at zoom 1,
    else the world around the view resampled (bilinear) to the image size."""
    width, height = plan.spec.size
    corner, zoom = plan.view(index, thermal)
    if zoom == 1.0:
        return _compose(plan, index, corner.astype(np.int64), (height, width), thermal)
    start = np.floor(corner).astype(np.int64) - 1
    extent = np.ceil(np.array([width, height]) / zoom).astype(np.int64) + 3
    world = _compose(plan, index, start, (int(extent[1]), int(extent[0])), thermal)
    shift = corner - start + 0.5 / zoom - 0.5  # pixel centres
    matrix = np.array([[1 / zoom, 0, shift[0]], [0, 1 / zoom, shift[1]]], dtype=np.float64)
    return cv2.warpAffine(world, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def render_drone_frame(plan: DronePlan, index: int) -> FramePair:
    """Render frame ``index`` of a drone plan (order-independent: noise offsets are seeded per frame)."""
    spec = plan.spec
    check_frame_index(spec, index)
    width, height = spec.width, spec.height
    rgb = _camera_image(plan, index, thermal=False)
    thermal = _camera_image(plan, index, thermal=True)
    offsets = _rng(spec.seed, "sensor", index).integers(0, _NOISE_PAD + 1, 4)
    rgb += plan.noise_rgb[offsets[0] : offsets[0] + height, offsets[1] : offsets[1] + width]
    thermal += plan.fixed_pattern
    thermal += plan.noise_thermal[offsets[2] : offsets[2] + height, offsets[3] : offsets[3] + width]
    attributes = {name: bool(flags[index]) for name, flags in plan.flags.items()}
    attributes[family_flag("drone")] = True
    return FramePair(
        rgb=_quantize(rgb, np.uint8),
        thermal=_quantize(thermal, np.uint16),
        index=index,
        stamp_rgb=int(plan.stamps_rgb_ns[index] // 1000) / 1e6,
        stamp_thermal=int(plan.stamps_thermal_ns[index] // 1000) / 1e6,
        gt_rgb=plan.image_box(index),
        gt_thermal=plan.image_box(index, thermal=True),
        attributes=attributes,
    )
